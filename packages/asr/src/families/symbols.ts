/**
 * sherpa-onnx's `tokens.txt` symbol table, read the way sherpa-onnx reads it
 * (sherpa-onnx/csrc/symbol-table.cc, base64-decode.cc):
 *
 * - one entry per line; the line is trimmed of " \t\n\r\f\v" and split on that
 *   whitespace, so a symbol never contains a space: `symbol id`, or a lone `id`, which is
 *   the symbol " " (a space). Anything after the id is an error. Empty lines are skipped
 *   here (sherpa-onnx would re-use the previous line's symbol for them: an accident of
 *   its parser, not a format rule). Ids must be decimal integers (sherpa-onnx's atoi
 *   would read "abc" as 0).
 * - the first entry wins for a repeated id and for a repeated symbol (map insert).
 * - base64 tables (Fun-ASR-Nano CTC, Whisper): every symbol is base64 of its bytes, a
 *   lone-id line stands for the empty symbol; decoded after the flags below are taken
 *   from the undecoded text (SymbolTable::ApplyBase64Decode). A group of four that
 *   starts with '=' decodes the whole symbol to " ", as sherpa-onnx's decoder does.
 * - symbol -> text (SymbolTable::operator[]): a leading "▁" (U+2581) becomes a space
 *   unless the table is byte-level BPE; with byte fallback (both `<0x00>` and `<0xFF>`
 *   present, 255 ids apart) a `<0xHH>` symbol becomes the byte 0xHH, but only where
 *   id - id(<0x00>) printed in upper-case hex without padding equals HH, so 0x00-0x0F
 *   stay literal, as in sherpa-onnx.
 * - byte-level BPE (icefall's bbpe: every byte of every symbol, after leading "▁"s, is
 *   at most 0xC6 and some byte is 0xC6) is detected (`isByteBpe`); decoding its text is
 *   not implemented.
 *
 * Symbols are kept as bytes: byte-fallback pieces and base64 symbols need not be whole
 * UTF-8 characters, so text is assembled as bytes and turned into a string once
 * (`sherpaText`: invalid bytes dropped, as sherpa-onnx does). A single token's bytes are
 * decoded with U+FFFD for invalid sequences, which is what a JS string of sherpa-onnx's
 * token gets at the Node addon boundary.
 */
import { readFile } from 'node:fs/promises';

export class TokensFormatError extends Error {
  override readonly name = 'TokensFormatError';
}

/** A vocabulary a decoder cannot use (no blank or </s>, byte-level BPE). */
export class UnsupportedVocabularyError extends Error {
  override readonly name = 'UnsupportedVocabularyError';
}

export interface SymbolTableOptions {
  /** symbols are base64 of their bytes (Fun-ASR-Nano CTC, Whisper) */
  base64?: boolean;
}

const WORD_START = [0xe2, 0x96, 0x81]; // "▁" U+2581 in UTF-8
const SPACE = new Uint8Array([0x20]);
const utf8 = new TextDecoder('utf-8');
const latin = new TextDecoder('latin1');

function isSpaceByte(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d);
}

function startsWithWordStart(s: Uint8Array): boolean {
  return s.length >= 3 && s[0] === WORD_START[0] && s[1] === WORD_START[1] && s[2] === WORD_START[2];
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** sherpa-onnx's IsByteBPE over the table's distinct symbols. */
function detectByteBpe(symbols: Iterable<Uint8Array>): boolean {
  let max = 0;
  for (const s of symbols) {
    let body = s;
    while (startsWithWordStart(body)) body = body.subarray(3);
    if (body.some((b) => b > 0xc6)) return false;
    // sherpa takes the max over s[3:] only for one leading "▁"; a bare "▁" counts 0
    const rest = startsWithWordStart(s) ? s.subarray(3) : s;
    for (const b of rest) if (b > max) max = b;
  }
  return max === 0xc6;
}

function base64Value(c: number, line: number): number {
  if (c >= 0x41 && c <= 0x5a) return c - 0x41;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 26;
  if (c >= 0x30 && c <= 0x39) return c - 0x30 + 52;
  if (c === 0x2b) return 62;
  if (c === 0x2f) return 63;
  throw new TokensFormatError(`tokens line ${line}: ${c === undefined ? 'truncated' : `invalid base64 character ${JSON.stringify(String.fromCharCode(c))}`}`);
}

/** Base64 as sherpa-onnx's Base64Decode reads it (unpadded tails allowed). */
export function decodeBase64Symbol(s: Uint8Array, line = 0): Uint8Array {
  const out: number[] = [];
  const v = (i: number): number => base64Value(s[i]!, line);
  for (let i = 0; i < s.length; i += 4) {
    if (s[i] === 0x3d) return SPACE.slice();
    out.push(((v(i) << 2) | ((v(i + 1) & 0x30) >> 4)) & 0xff);
    if (i + 2 < s.length && s[i + 2] !== 0x3d) {
      out.push((((v(i + 1) & 0x0f) << 4) | ((v(i + 2) & 0x3c) >> 2)) & 0xff);
      if (i + 3 < s.length && s[i + 3] !== 0x3d) out.push((((v(i + 2) & 0x03) << 6) | v(i + 3)) & 0xff);
    }
  }
  return Uint8Array.from(out);
}

function parseId(field: Uint8Array, line: number): number {
  const text = latin.decode(field);
  if (!/^[+-]?\d+$/.test(text)) throw new TokensFormatError(`tokens line ${line}: id ${JSON.stringify(text)} is not an integer`);
  const id = Number(text);
  if (!Number.isSafeInteger(id) || id < 0 || id > 0x7fffffff) throw new TokensFormatError(`tokens line ${line}: id ${text} is out of range`);
  return id;
}

/** Splits trimmed line bytes on runs of C-locale whitespace. */
function fields(bytes: Uint8Array, from: number, to: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = from;
  while (i < to) {
    while (i < to && isSpaceByte(bytes[i]!)) i++;
    const start = i;
    while (i < to && !isSpaceByte(bytes[i]!)) i++;
    if (i > start) out.push(bytes.subarray(start, i));
  }
  return out;
}

export class SymbolTable {
  /** icefall byte-level BPE (its text needs a byte decoding this module does not do) */
  readonly isByteBpe: boolean;
  /** `<0x00>` .. `<0xFF>` byte-fallback pieces present */
  readonly hasByteFallback: boolean;
  /** one more than the largest id */
  readonly size: number;
  private readonly byId = new Map<number, Uint8Array>();
  private readonly bySymbol = new Map<string, number>();
  private readonly textBytes = new Map<number, Uint8Array>();
  private readonly byteFallbackIds = new Set<number>();

  private constructor(entries: Array<[number, Uint8Array]>, base64: boolean) {
    const firstBySymbol = new Map<string, [number, Uint8Array]>();
    for (const [id, sym] of entries) {
      if (!this.byId.has(id)) this.byId.set(id, sym);
      const key = latin.decode(sym);
      if (!firstBySymbol.has(key)) firstBySymbol.set(key, [id, sym]);
    }
    // flags from the undecoded symbols, as sherpa-onnx computes them before base64 decoding
    this.isByteBpe = detectByteBpe([...firstBySymbol.values()].map(([, s]) => s));
    const id00 = firstBySymbol.get('<0x00>')?.[0];
    const idFF = firstBySymbol.get('<0xFF>')?.[0];
    this.hasByteFallback = id00 !== undefined && idFF !== undefined && idFF - id00 === 255;
    if (base64) {
      for (const [id, sym] of this.byId) {
        const decoded = sameBytes(sym, SPACE) ? new Uint8Array(0) : decodeBase64Symbol(sym, id);
        this.byId.set(id, decoded);
      }
      // sherpa-onnx rebuilds its symbol -> id map from the decoded symbols (which id wins
      // for a repeated symbol is unspecified there; here the smallest)
      const ids = [...this.byId.keys()].sort((a, b) => b - a);
      for (const id of ids) this.bySymbol.set(utf8.decode(this.byId.get(id)!), id);
    } else {
      for (const [id, sym] of firstBySymbol.values()) {
        const key = utf8.decode(sym);
        if (!this.bySymbol.has(key)) this.bySymbol.set(key, id);
      }
    }
    let max = -1;
    for (const [id, sym] of this.byId) {
      if (id > max) max = id;
      this.textBytes.set(id, this.render(id, sym, id00));
    }
    this.size = max + 1;
  }

  /** sherpa-onnx's SymbolTable::operator[](id) as bytes. */
  private render(id: number, sym: Uint8Array, id00: number | undefined): Uint8Array {
    if (!this.isByteBpe && startsWithWordStart(sym)) {
      const out = new Uint8Array(sym.length - 2);
      out[0] = 0x20;
      out.set(sym.subarray(3), 1);
      return out;
    }
    if (this.hasByteFallback && id00 !== undefined && sym.length === 6 && sym[0] === 0x3c && sym[1] === 0x30 && sym[2] === 0x78 && sym[5] === 0x3e) {
      const d = id - id00;
      if (d >= 0 && d <= 255 && d.toString(16).toUpperCase() === latin.decode(sym.subarray(3, 5))) {
        this.byteFallbackIds.add(id);
        return Uint8Array.of(d);
      }
    }
    return sym;
  }

  /** Parses tokens.txt content. */
  static parse(content: Uint8Array | string, options: SymbolTableOptions = {}): SymbolTable {
    const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
    const entries: Array<[number, Uint8Array]> = [];
    let line = 0;
    for (let start = 0; start <= bytes.length; ) {
      let end = bytes.indexOf(0x0a, start);
      if (end < 0) end = bytes.length;
      line++;
      const f = fields(bytes, start, end);
      start = end + 1;
      if (f.length === 0) continue;
      if (f.length > 2) throw new TokensFormatError(`tokens line ${line}: expected "symbol id", got ${f.length} fields`);
      entries.push(f.length === 1 ? [parseId(f[0]!, line), SPACE] : [parseId(f[1]!, line), f[0]!.slice()]);
    }
    if (entries.length === 0) throw new TokensFormatError('tokens file has no entries');
    return new SymbolTable(entries, options.base64 ?? false);
  }

  /** Reads a tokens.txt file. */
  static async read(path: string, options: SymbolTableOptions = {}): Promise<SymbolTable> {
    return SymbolTable.parse(await readFile(path), options);
  }

  has(id: number): boolean {
    return this.byId.has(id);
  }

  /** The id of a symbol as written in the file (after base64 decoding), if any. */
  idOf(symbol: string): number | undefined {
    return this.bySymbol.get(symbol);
  }

  /** The symbol's stored bytes (after base64 decoding); empty for an unknown id. */
  symbolBytes(id: number): Uint8Array {
    return this.byId.get(id) ?? new Uint8Array(0);
  }

  /** The symbol as text, undecorated ("▁the", "<0xE4>"). */
  symbol(id: number): string {
    return utf8.decode(this.symbolBytes(id));
  }

  /** What sherpa-onnx appends to the text for this id ("▁" -> " ", byte fallback -> the byte); empty for an unknown id. */
  textBytesOf(id: number): Uint8Array {
    return this.textBytes.get(id) ?? new Uint8Array(0);
  }

  /** True for a `<0xHH>` piece this table turns into a raw byte. */
  isByteFallback(id: number): boolean {
    return this.byteFallbackIds.has(id);
  }

  /** A tag such as `<|en|>`, `<unk>` or `</s>` (byte-fallback pieces are not tags). */
  isTag(id: number): boolean {
    const s = this.symbolBytes(id);
    return !this.isByteFallback(id) && s.length >= 2 && s[0] === 0x3c && s[s.length - 1] === 0x3e;
  }
}

/** UTF-8 decoding of assembled text bytes (invalid sequences become U+FFFD). */
export function decodeUtf8(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

/** Length of the well-formed UTF-8 sequence at bytes[i] (Unicode table 3-7), 0 if there is none. */
function wellFormedLength(bytes: Uint8Array, i: number): number {
  const b = bytes[i]!;
  if (b <= 0x7f) return 1;
  const len = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
  if (len === 0 || i + len > bytes.length) return 0;
  // the second byte's range depends on the lead byte; the others are 80..BF
  const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
  const hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
  if (bytes[i + 1]! < lo || bytes[i + 1]! > hi) return 0;
  for (let k = 2; k < len; k++) if (bytes[i + k]! < 0x80 || bytes[i + k]! > 0xbf) return 0;
  return len;
}

/** `bytes` without the bytes that start no well-formed UTF-8 sequence (sherpa-onnx's RemoveInvalidUtf8Sequences). */
export function removeInvalidUtf8(bytes: Uint8Array): Uint8Array {
  const kept: number[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = wellFormedLength(bytes, i);
    if (n === 0) {
      i++;
      continue;
    }
    for (let k = 0; k < n; k++) kept.push(bytes[i + k]!);
    i += n;
  }
  return kept.length === bytes.length ? bytes : Uint8Array.from(kept);
}

/**
 * The text sherpa-onnx returns for assembled bytes: bytes that start no well-formed UTF-8
 * sequence are dropped one at a time (RemoveInvalidUtf8Sequences, applied by
 * OfflineRecognizerImpl::ApplyInverseTextNormalization to every result), then leading
 * spaces are removed (RemoveLeadingSpaces in OfflineRecognizer::DecodeStreams).
 */
export function sherpaText(bytes: Uint8Array): string {
  const kept: number[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = wellFormedLength(bytes, i);
    if (n === 0) {
      i++;
      continue;
    }
    for (let k = 0; k < n; k++) kept.push(bytes[i + k]!);
    i += n;
  }
  let start = 0;
  while (kept[start] === 0x20) start++;
  return utf8.decode(Uint8Array.from(kept.slice(start)));
}
