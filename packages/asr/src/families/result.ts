/**
 * What the family decoders return: a `Transcript` (ctc.ts) built from timed pieces, and
 * beside it `sherpa`, the fields of sherpa-onnx's OfflineRecognitionResult as its Node
 * addon hands them over (JSON.parse of OfflineRecognitionResult::AsJsonString,
 * sherpa-onnx/csrc/offline-stream.cc), so a parity test can compare field by field.
 */
import { round3, transcriptOf, type Segment, type TokenTiming, type Transcript } from '../ctc.js';
import { decodeUtf8, sherpaText } from './symbols.js';

/** sherpa-onnx's result fields, before JSON rounding. */
export interface SherpaResult {
  /** exactly sherpa-onnx's `text`: invalid UTF-8 bytes and leading spaces removed, nothing else */
  text: string;
  /** `tokens` as the JSON carries them (a lone byte > 0x7F is written `<0xHH>`) */
  tokens: string[];
  /** `timestamps` in seconds as sherpa-onnx computes them (float32); its JSON prints "%.2f" */
  timestamps: number[];
  lang: string;
  emotion: string;
  event: string;
}

export interface FamilyTranscript extends Transcript {
  sherpa: SherpaResult;
}

/** Rows of scores: `frames` x `vocab` values, row-major from `offset` (a view into a batch). */
export interface CtcRows {
  data: ArrayLike<number>;
  offset?: number;
  /** rows to decode (the valid length of this batch row) */
  frames: number;
  vocab: number;
}

/** Throws RangeError unless `data` holds `rows` x `width` values from `offset`. */
export function checkRows(data: ArrayLike<number>, offset: number, rows: number, width: number): void {
  const ok = [offset, rows, width].every((x) => Number.isInteger(x) && x >= 0) && width > 0;
  if (!ok || offset + rows * width > data.length) {
    throw new RangeError(`scores hold ${data.length} values; ${rows} rows of ${width} from ${offset} do not fit`);
  }
}

/**
 * Seconds per output frame as sherpa-onnx's CTC result conversion holds it:
 * `float frame_shift_s = frame_shift_ms / 1000. * subsampling_factor` with 10 ms frames.
 */
export function sherpaFrameShift(subsampling: number): number {
  return Math.fround((10 / 1000) * subsampling);
}

/** A frame index in seconds as sherpa-onnx computes it: float(frame) * frame_shift_s, in float32. */
export function sherpaFrameTime(frame: number, frameShift: number): number {
  return Math.fround(Math.fround(frame) * frameShift);
}

export interface TranscriptOptions {
  /** seconds of audio the utterance covers */
  durationSec: number;
  /** seconds added to every time (a piece cut out of longer audio) */
  offsetSec?: number;
  /** a pause at least this long starts a new segment; default 0.6 */
  segmentGapSec?: number;
  /** a segment is closed once it is this long; default 10 */
  maxSegmentSec?: number;
}

/** One decoded token on its way into a Transcript. */
export interface TimedPiece {
  id: number;
  /** the bytes this token adds to the text, any space before it included */
  bytes: Uint8Array;
  /** TokenTiming.text */
  text: string;
  /** seconds from the start of the utterance */
  start: number;
  end: number;
  /** tags (`<|en|>`, `<unk>`, ...) stay out of the Transcript's tokens and text */
  tag: boolean;
}

/** printf("%.2f", x) as glibc rounds it (exact binary value, ties to even), read back as a number. */
export function sherpaFixed2(x: number): number {
  if (!Number.isFinite(x)) return x;
  if (x < 0) return -sherpaFixed2(-x);
  const scaled = x * 100; // exact for float32 inputs (24 + 7 bits)
  const n = Math.floor(scaled);
  const frac = scaled - n;
  const r = frac > 0.5 || (frac === 0.5 && n % 2 === 1) ? n + 1 : n;
  return r / 100;
}

/** The six compared fields as sherpa-onnx's Node addon returns them (timestamps rounded to 2 decimals). */
export function sherpaJsonView(r: SherpaResult): SherpaResult {
  return { ...r, tokens: [...r.tokens], timestamps: r.timestamps.map(sherpaFixed2) };
}

/** A token's text as sherpa-onnx's JSON writes it: a lone byte > 0x7F as `<0xHH>`. */
export function jsonToken(bytes: Uint8Array): string {
  if (bytes.length === 1 && bytes[0]! > 0x7f) return `<0x${bytes[0]!.toString(16).toUpperCase()}>`;
  return decodeUtf8(bytes);
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The code point that starts at bytes[i], or -1 where no whole UTF-8 character starts there. */
function codePointAt(bytes: Uint8Array, i: number): number {
  const b = bytes[i];
  if (b === undefined || (b >= 0x80 && b < 0xc0)) return -1;
  if (b < 0x80) return b;
  const len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
  if (i + len > bytes.length) return -1;
  let cp = b & (0x3f >> (len - 1));
  for (let k = 1; k < len; k++) {
    const c = bytes[i + k]!;
    if (c < 0x80 || c >= 0xc0) return -1;
    cp = (cp << 6) | (c & 0x3f);
  }
  return cp;
}

function lastCodePoint(bytes: Uint8Array): number {
  let i = bytes.length - 1;
  while (i > 0 && bytes[i]! >= 0x80 && bytes[i]! < 0xc0) i--;
  return i < 0 ? -1 : codePointAt(bytes, i);
}

/** CJK, kana, Hangul and the like: scripts written without spaces between words. */
function isWide(cp: number): boolean {
  return cp >= 0x2e80;
}

/** Whether a segment may start at `next` after `prev`: a space before it, or a wide character on either side. */
function canBreak(prev: Uint8Array | undefined, next: Uint8Array): boolean {
  if (!prev || next.length === 0) return prev === undefined;
  const first = codePointAt(next, 0);
  if (first === 0x20) return true;
  return (first >= 0 && isWide(first)) || isWide(lastCodePoint(prev));
}

const SENTENCE_END = /[.!?。！？]\s*$/u;

/**
 * Segments at pauses (>= segmentGapSec), at maxSegmentSec and after sentence-ending
 * punctuation, only where the text has a word boundary; each segment's text is its
 * pieces' bytes as sherpaText turns them into text, trimmed, and the transcript's text is the segments joined by
 * a space (as stitch() rebuilds it). With one segment and no tags, the text is
 * sherpa-onnx's text, trimmed.
 * `split = false` keeps one segment (pieces without real times).
 */
export function buildTranscript(
  pieces: readonly TimedPiece[],
  sherpa: SherpaResult,
  opts: TranscriptOptions,
  split = true,
): FamilyTranscript {
  const offset = opts.offsetSec ?? 0;
  const gap = opts.segmentGapSec ?? 0.6;
  const maxLen = opts.maxSegmentSec ?? 10;
  const tokens: TokenTiming[] = [];
  const segments: Segment[] = [];
  let cur: { start: number; end: number; parts: Uint8Array[] } | undefined;
  let prev: TimedPiece | undefined;
  let closeAfterPrev = false;
  const flush = (): void => {
    if (!cur) return;
    const text = sherpaText(concatBytes(cur.parts)).trim();
    if (text !== '') segments.push({ start: round3(offset + cur.start), end: round3(offset + cur.end), text });
  };
  for (const p of pieces) {
    if (p.tag) continue;
    tokens.push({ id: p.id, text: p.text, start: round3(offset + p.start), end: round3(offset + p.end) });
    const cut =
      split &&
      cur !== undefined &&
      canBreak(prev?.bytes, p.bytes) &&
      (closeAfterPrev || p.start - cur.end >= gap || p.end - cur.start > maxLen);
    if (!cur || cut) {
      flush();
      cur = { start: p.start, end: p.end, parts: [] };
    }
    cur.parts.push(p.bytes);
    cur.end = Math.max(cur.end, p.end);
    closeAfterPrev = SENTENCE_END.test(decodeUtf8(p.bytes));
    prev = p;
  }
  flush();
  return { ...transcriptOf(segments, tokens, opts.durationSec), sherpa };
}
