/**
 * Fun-ASR-Nano (SenseVoice encoder + adaptor + Qwen3-0.6B) as sherpa-onnx runs its LLM
 * export (docs/model-contracts.md §4; sherpa-onnx offline-recognizer-funasr-nano-impl.cc,
 * offline-funasr-nano-model.cc, funasr-nano-tokenizer.cc): the pieces that need no
 * onnxruntime, so they can be tested on their own.
 *
 * - Front-end (InitFeatConfig, ApplyLFR): Kaldi fbank ×32768, hamming, snip_edges off,
 *   dither 0, features.h defaults otherwise (low 20 Hz, high −400 = 7600 Hz, pre-emphasis
 *   0.97, DC removal); LFR m/n from the encoder's metadata without padding; no CMVN.
 * - Prompt budget (GenerateText): prompt + audio rows + generated tokens ≤ max_total_len.
 *   A prompt that does not fit loses audio rows from the end (the scaffold is kept); when
 *   even the scaffold does not fit, the last max_total_len ids are kept and no audio is
 *   injected. Generation stops before a step once past + current would reach
 *   max_total_len, i.e. at most max_total_len − context tokens (none when the context
 *   fills the cache), and after max_new_tokens (512).
 * - Greedy: the first maximum of the finite logits (id 0 when none is finite); stop on
 *   `<|endoftext|>` or `<|im_end|>` (not emitted).
 * - Text: the byte-level BPE bytes of the generated ids, special tokens dropped, trimmed;
 *   tokens: each id's bytes as far as they complete UTF-8 (GetTokenStringStreaming);
 *   timestamps: spread evenly over injected rows × 60 ms (not an alignment).
 * - A repetition guard (VoxFleet's, not sherpa-onnx's): the known failure of Nano on
 *   long inputs is a loop; decoding stops once the tail repeats one block often enough,
 *   and the repeats after the first are dropped.
 */
import { FUNASR_FBANK, type FrontEndSpecInput } from '../frontend/spec.js';
import { ModelMetadataError, metaInt, type OnnxMetadata } from './meta.js';

export const NANO_MAX_NEW_TOKENS = 512;
/** what sherpa-onnx configures (features.h default high_freq −400: 7600 Hz at 16 kHz) */
export const NANO_HIGH_FREQ = -400;

/**
 * Where the generated tokens go. sherpa-onnx (GenerateText) counts the prefill's token twice: after
 * the prefill valid_len is context + 1, so the first decode step writes at row context + 1 and row
 * `context` stays empty and masked — every generated token sits one position later than in a plain
 * causal LM (RoPE sees a distance one larger between prompt and answer). 'sherpa' (default) does
 * the same, for sherpa-onnx's results; 'contiguous' writes them right after the prompt (FunASR's
 * own decoding). Position-blind graphs give the same either way; the budget is the same.
 */
export type NanoPositions = 'sherpa' | 'contiguous';

/** How many encoder rows go into the prompt: all (sherpa-onnx) or FunASR's use_low_frame_rate ≈ T/8. */
export type NanoAudioRows = 'all' | 'low-frame-rate';

export interface NanoModelInfo {
  lfrWindowSize: number;
  lfrWindowShift: number;
  /** encoder_out width = the LLM's hidden size */
  hiddenSize: number;
  vocabSize: number;
  numLayers: number;
  maxTotalLen: number;
  numKvHeads: number;
  headDim: number;
  /** the LLM's cache element type */
  cacheType: 'float32' | 'float16';
  quantization: string;
}

/** The three graphs' metadata → what decoding needs (ModelMetadataError naming the key). */
export function nanoModelInfo(
  encoder: OnnxMetadata,
  llm: OnnxMetadata,
  cache: { type: string; dims: readonly (number | string)[] },
): NanoModelInfo {
  const modelType = llm.model_type ?? '';
  if (!modelType.includes('kv_delta')) {
    throw new ModelMetadataError(`llm metadata model_type "${modelType}" does not contain "kv_delta": only the KV-delta export is served`);
  }
  const numLayers = metaInt(llm, 'num_layers');
  const maxTotalLen = metaInt(llm, 'max_total_len');
  const [, rows, heads, dim] = cache.dims;
  if (typeof heads !== 'number' || typeof dim !== 'number') throw new ModelMetadataError(`llm cache_key_0 must fix its heads and head_dim, got [${cache.dims.join(',')}]`);
  if (typeof rows === 'number' && rows !== maxTotalLen) throw new ModelMetadataError(`llm cache rows ${rows} differ from metadata max_total_len ${maxTotalLen}`);
  if (cache.type !== 'float32' && cache.type !== 'float16') throw new ModelMetadataError(`llm cache type ${cache.type} is neither float32 nor float16`);
  const info: NanoModelInfo = {
    lfrWindowSize: metaInt(encoder, 'lfr_window_size'),
    lfrWindowShift: metaInt(encoder, 'lfr_window_shift'),
    hiddenSize: metaInt(encoder, 'llm_dim', metaInt(llm, 'hidden_size', 0)),
    vocabSize: metaInt(llm, 'vocab_size'),
    numLayers,
    maxTotalLen,
    numKvHeads: heads,
    headDim: dim,
    cacheType: cache.type,
    quantization: llm.quantization_type ?? '',
  };
  if (info.hiddenSize <= 0 || numLayers <= 0 || maxTotalLen <= 0 || info.lfrWindowSize <= 0 || info.lfrWindowShift <= 0) {
    throw new ModelMetadataError('llm_dim, num_layers, max_total_len and the LFR window must be positive');
  }
  return info;
}

export function nanoFrontEndSpec(info: Pick<NanoModelInfo, 'lfrWindowSize' | 'lfrWindowShift'>): FrontEndSpecInput {
  return {
    kind: 'funasr',
    fbank: { ...FUNASR_FBANK, snipEdges: false, highFreq: NANO_HIGH_FREQ },
    lfr: { m: info.lfrWindowSize, n: info.lfrWindowShift, padding: 'none' },
    cmvn: null,
  };
}

/** Rows spliced into the prompt for `frames` encoder rows (FunASR model.py: o1, o2, n for use_low_frame_rate). */
export function nanoAudioRows(frames: number, mode: NanoAudioRows): number {
  if (mode === 'all' || frames <= 0) return Math.max(0, frames);
  const o1 = 1 + Math.floor((frames - 1) / 2);
  const o2 = 1 + Math.floor((o1 - 1) / 2);
  return Math.min(frames, Math.floor((o2 - 1) / 2) + 1);
}

/** A prompt fitted into the cache: its ids, where the injected audio rows start, how many. */
export interface FittedPrompt {
  ids: number[];
  /** -1: no audio injected (the prompt alone overflowed) */
  audioStart: number;
  audioRows: number;
  /** tokens that may still be generated: min(max_new_tokens, max_total_len − ids.length) */
  maxNewTokens: number;
  /** audio rows dropped to fit (a note for the result) */
  trimmedRows: number;
}

/** sherpa-onnx's trimming: before + audio (endOfText ids) + after, cut to maxTotalLen. */
export function fitPrompt(
  before: readonly number[],
  audioRows: number,
  after: readonly number[],
  padId: number,
  maxTotalLen: number,
  maxNewTokens = NANO_MAX_NEW_TOKENS,
): FittedPrompt {
  let keep = audioRows;
  let ids: number[];
  let audioStart = before.length;
  const total = before.length + audioRows + after.length;
  if (total > maxTotalLen) {
    keep = maxTotalLen - before.length - after.length;
    if (keep < 0) {
      ids = [...before, ...new Array<number>(audioRows).fill(padId), ...after].slice(total - maxTotalLen);
      return { ids, audioStart: -1, audioRows: 0, maxNewTokens: 0, trimmedRows: audioRows };
    }
    keep = Math.min(keep, audioRows);
  }
  ids = [...before, ...new Array<number>(keep).fill(padId), ...after];
  if (keep === 0) audioStart = before.length;
  return { ids, audioStart, audioRows: keep, maxNewTokens: Math.max(0, Math.min(maxNewTokens, maxTotalLen - ids.length)), trimmedRows: audioRows - keep };
}

/** sherpa-onnx's greedy pick: the first maximum among finite values, 0 when none is finite. */
export function argmaxFinite(data: ArrayLike<number>, offset: number, vocab: number): number {
  let best = 0;
  let bestVal = -1e30;
  for (let i = 0; i < vocab; i++) {
    const v = data[offset + i]!;
    if (Number.isFinite(v) && v > bestVal) {
      bestVal = v;
      best = i;
    }
  }
  return best;
}

export interface RepetitionGuard {
  /** longest repeated block looked for (tokens) */
  maxBlock: number;
  /** a block must repeat at least this often in a row ... */
  minRepeats: number;
  /** ... and the repeats cover at least this many tokens */
  minSpan: number;
}

/** Default guard: a block of 1-16 tokens repeated ≥ 4 times over ≥ 24 tokens (e.g. 24 × "ha", 6 × a 4-token phrase). */
export const NANO_REPETITION_GUARD: RepetitionGuard = { maxBlock: 16, minRepeats: 4, minSpan: 24 };

/**
 * Whether the tail of `ids` is one block repeated (guard's thresholds); returns the length to keep
 * (everything before the repeats plus one copy of the block), or -1 when it is not looping.
 */
export function repetitionCut(ids: readonly number[], guard: RepetitionGuard = NANO_REPETITION_GUARD): number {
  const n = ids.length;
  for (let b = 1; b <= guard.maxBlock && b * guard.minRepeats <= n; b++) {
    let reps = 1;
    while ((reps + 1) * b <= n) {
      let same = true;
      for (let k = 0; k < b && same; k++) same = ids[n - 1 - k] === ids[n - 1 - k - reps * b];
      if (!same) break;
      reps++;
    }
    if (reps >= guard.minRepeats && reps * b >= guard.minSpan) return n - (reps - 1) * b;
  }
  return -1;
}

// ------------------------------------------------------------------ byte-level BPE text

let unicodeToByte: Map<number, number> | undefined;

/** GPT-2's printable-character → byte table (byte-level BPE pieces are written with it). */
function byteTable(): Map<number, number> {
  if (unicodeToByte) return unicodeToByte;
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  unicodeToByte = new Map(cs.map((c, i) => [c, bs[i]!]));
  return unicodeToByte;
}

const encoder = new TextEncoder();

/** A vocabulary piece's bytes (characters outside the table pass through as their UTF-8). */
export function pieceBytes(piece: string): number[] {
  const table = byteTable();
  const out: number[] = [];
  for (const ch of piece) {
    const b = table.get(ch.codePointAt(0)!);
    if (b !== undefined) out.push(b);
    else out.push(...encoder.encode(ch));
  }
  return out;
}

/** Length of the well-formed UTF-8 sequence at s[i]: >0 valid, 0 incomplete (runs past the end), -1 invalid. */
function utf8At(s: readonly number[], i: number): number {
  const b = s[i]!;
  if (b < 0x80) return 1;
  const len = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : -1;
  if (len < 0) return -1;
  for (let k = 1; k < len; k++) {
    if (i + k >= s.length) return 0;
    const c = s[i + k]!;
    if ((c & 0xc0) !== 0x80) return -1;
  }
  return len;
}

const REPLACEMENT = '\uFFFD';
const utf8 = new TextDecoder('utf-8');

export interface NanoTextResult {
  text: string;
  /** per generated id, as sherpa-onnx's result.tokens */
  tokens: string[];
}

/**
 * Text and tokens of generated ids as sherpa-onnx's tokenizer builds them. `piece(id)` is the
 * vocabulary string of an id (undefined: none); `special(id)`: the ids sherpa-onnx drops.
 */
export function nanoText(ids: readonly number[], piece: (id: number) => string | undefined, special: (id: number) => boolean): NanoTextResult {
  const all: number[] = [];
  const tokens: string[] = [];
  let pending: number[] = [];
  for (const id of ids) {
    const p = special(id) ? undefined : piece(id);
    if (p === undefined || p === '') {
      tokens.push('');
      continue;
    }
    const bytes = pieceBytes(p);
    all.push(...bytes);
    pending.push(...bytes);
    let out = '';
    // the valid prefix; an invalid byte becomes U+FFFD; an incomplete tail waits for the next token
    let i = 0;
    let start = 0;
    while (i < pending.length) {
      const n = utf8At(pending, i);
      if (n > 0) {
        i += n;
        continue;
      }
      out += utf8.decode(Uint8Array.from(pending.slice(start, i)));
      if (n === 0) break;
      out += REPLACEMENT;
      i += 1;
      start = i;
    }
    if (i >= pending.length) {
      out += utf8.decode(Uint8Array.from(pending.slice(start)));
      pending = [];
    } else {
      pending = pending.slice(i);
    }
    tokens.push(out);
  }
  if (pending.length > 0 && tokens.length > 0) tokens[tokens.length - 1] += REPLACEMENT.repeat(pending.length);
  let text = utf8.decode(Uint8Array.from(all));
  for (const sp of ['<|im_end|>', '<|im_start|>', '<|endoftext|>']) text = text.split(sp).join('');
  return { text: text.trim(), tokens };
}

/** sherpa-onnx's timestamps: `n` tokens spread over `rows` × 60 ms (float32 as it computes them). */
export function nanoTimestamps(n: number, rows: number, lfrShift: number): number[] {
  if (n === 0 || rows <= 0) return [];
  const tokenTime = Math.fround(Math.fround(10 * lfrShift) / 1000);
  const duration = Math.fround(rows * tokenTime);
  if (n === 1) return [Math.fround(duration / 2)];
  const per = Math.fround(duration / (n - 1));
  return Array.from({ length: n }, (_, i) => Math.fround(i * per));
}
