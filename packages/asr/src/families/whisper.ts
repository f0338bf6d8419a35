/**
 * Whisper (sherpa-onnx's export, contract §5a): the model's metadata, the SOT prompt,
 * the greedy choice with sherpa-onnx's timestamp rules, timestamp tokens → segments and
 * the result as sherpa-onnx converts it (offline-whisper-model.cc,
 * offline-whisper-greedy-search-decoder.cc, offline-whisper-timestamp-rules.cc,
 * offline-recognizer-whisper-impl.h). The decoder runs are the backend's
 * (../backends/whisper.ts); everything here is plain data.
 *
 * Segment timestamps follow the implementation that runs each export layout: sherpa-onnx's rules and
 * segments for its export, transformers.js's (4.3: WhisperTimeStampLogitsProcessor, the seek step of
 * WhisperForConditionalGeneration._generate_with_seek, WhisperTokenizer._decode_asr) for the
 * transformers.js / optimum folders. The two differ; see applyTransformersTimestampRules.
 */
import { round3, transcriptOf, type Segment, type TokenTiming, type Transcript } from '../ctc.js';
import { ModelMetadataError, metaInt, type OnnxMetadata } from './meta.js';
import { concatBytes, jsonToken } from './result.js';
import { removeInvalidUtf8, sherpaText, type SymbolTable } from './symbols.js';

/** What the result needs of a vocabulary: which ids are text, and their bytes (sherpa-onnx's tokens file, or tokenizer.json). */
export type WhisperVocabulary = Pick<SymbolTable, 'has' | 'textBytesOf'>;

export interface WhisperModelInfo {
  modelType: string;
  nMels: number;
  nVocab: number;
  nTextCtx: number;
  nTextState: number;
  nTextLayer: number;
  sot: number;
  eot: number;
  /** [sot, en, transcribe] (multilingual) or [sot] (.en) */
  sotSequence: number[];
  multilingual: boolean;
  /** language code → token id, in the metadata's order */
  languages: Map<string, number>;
  transcribe: number;
  translate: number;
  noTimestamps: number;
  /** the first timestamp token (<|0.00|>): no_timestamps + 1; one per 20 ms */
  timestampBegin: number;
}

function ints(m: OnnxMetadata, key: string): number[] {
  const v = m[key];
  if (v === undefined || v.trim() === '') throw new ModelMetadataError(`missing ${key}`);
  const out = v.split(',').map((s) => Number(s.trim()));
  if (out.some((x) => !Number.isInteger(x))) throw new ModelMetadataError(`${key} is not a list of integers: ${v.slice(0, 80)}`);
  return out;
}

/** What the encoder's metadata says (offline-whisper-model.cc InitEncoder reads the same keys). */
export function whisperModelInfo(m: OnnxMetadata): WhisperModelInfo {
  const info: WhisperModelInfo = {
    modelType: m.model_type ?? '',
    nMels: metaInt(m, 'n_mels'),
    nVocab: metaInt(m, 'n_vocab'),
    nTextCtx: metaInt(m, 'n_text_ctx'),
    nTextState: metaInt(m, 'n_text_state'),
    nTextLayer: metaInt(m, 'n_text_layer'),
    sot: metaInt(m, 'sot'),
    eot: metaInt(m, 'eot'),
    sotSequence: ints(m, 'sot_sequence'),
    multilingual: metaInt(m, 'is_multilingual') === 1,
    languages: new Map(),
    transcribe: metaInt(m, 'transcribe'),
    translate: metaInt(m, 'translate'),
    noTimestamps: metaInt(m, 'no_timestamps'),
    timestampBegin: metaInt(m, 'no_timestamps') + 1,
  };
  if (info.multilingual) {
    const ids = ints(m, 'all_language_tokens');
    const codes = (m.all_language_codes ?? '').split(',').map((s) => s.trim());
    if (ids.length !== codes.length) throw new ModelMetadataError(`all_language_tokens has ${ids.length} ids, all_language_codes ${codes.length} codes`);
    ids.forEach((id, i) => info.languages.set(codes[i]!, id));
    if (info.sotSequence.length < 3) throw new ModelMetadataError(`a multilingual model's sot_sequence has sot, language and task; got ${m.sot_sequence}`);
  }
  if (info.timestampBegin >= info.nVocab || info.eot >= info.timestampBegin) throw new ModelMetadataError(`no_timestamps ${info.noTimestamps} / eot ${info.eot} do not fit n_vocab ${info.nVocab}`);
  return info;
}

export interface WhisperDecodeOptions {
  /** a language code, or null to detect it (multilingual models) */
  language: string | null;
  task: 'transcribe' | 'translate';
  /** segment timestamps: no <|notimestamps|> in the prompt, timestamp rules on, segments from the timestamp tokens */
  timestamps: boolean;
}

/** The prompt with `language` (a token id, multilingual models) in place: sherpa-onnx's initial_tokens. */
export function whisperPrompt(info: WhisperModelInfo, languageToken: number | null, opts: Pick<WhisperDecodeOptions, 'task' | 'timestamps'>): number[] {
  const p = [...info.sotSequence];
  if (info.multilingual) {
    if (languageToken !== null) p[1] = languageToken;
    if (opts.task === 'translate') p[2] = info.translate;
  }
  if (!opts.timestamps) p.push(info.noTimestamps);
  return p;
}

/** Largest number of tokens sherpa-onnx lets an utterance of `featureFrames` frames decode (int(frames / 100 * 6), at most n_text_ctx / 2). */
export function whisperMaxTokens(info: WhisperModelInfo, featureFrames: number): number {
  return Math.min(Math.trunc((featureFrames / 100) * 6), Math.trunc(info.nTextCtx / 2));
}

/** The language token with the largest logit (the first on a tie), as DetectLanguage picks it. */
export function detectLanguage(info: WhisperModelInfo, logits: ArrayLike<number>, offset: number): number {
  let best = -1;
  let bestLogit = -Infinity;
  for (const id of info.languages.values()) {
    const v = logits[offset + id]!;
    if (best < 0 || v > bestLogit) {
      best = id;
      bestLogit = v;
    }
  }
  return best;
}

function argmax(x: ArrayLike<number>, offset: number, n: number): number {
  let best = 0;
  let v = x[offset]!;
  for (let i = 1; i < n; i++) {
    if (x[offset + i]! > v) {
      v = x[offset + i]!;
      best = i;
    }
  }
  return best;
}

/**
 * sherpa-onnx's ApplyTimestampRules on a copy of one row of logits: no_timestamps suppressed;
 * the first token a timestamp <= maxInitial; after an opening (or double) timestamp text;
 * after a closing one a timestamp or eot; timestamps never decrease; in text, a timestamp
 * whenever their log-sum-exp beats every text logit.
 */
export function applyTimestampRules(logits: Float32Array, tokens: readonly number[], sampleBegin: number, info: WhisperModelInfo, maxInitial: number): void {
  const V = logits.length;
  const tb = info.timestampBegin;
  const eot = info.eot;
  logits[info.noTimestamps] = -Infinity;
  const sampled = tokens.length - sampleBegin;
  const last = sampled >= 1 && tokens[tokens.length - 1]! >= tb;
  const penult = sampled < 2 || tokens[tokens.length - 2]! >= tb;
  let lastTs = -1;
  for (let i = sampleBegin; i < tokens.length; i++) if (tokens[i]! >= tb) lastTs = tokens[i]!;
  const state = sampled === 0 ? 'start' : last && penult ? 'after-opening' : last ? 'closing' : 'text';
  let minTs = -1;
  if (lastTs >= 0) minTs = state === 'closing' ? lastTs : lastTs + 1;
  const suppressText = state === 'start' || state === 'closing';
  const suppressEot = state === 'start';
  const suppressTs = state === 'after-opening';
  const maxTs = state === 'start' && maxInitial >= 0 ? tb + maxInitial : -1;
  if (suppressText) {
    if (suppressEot) logits.fill(-Infinity, 0, tb);
    else {
      logits.fill(-Infinity, 0, eot);
      logits.fill(-Infinity, eot + 1, tb);
    }
  }
  if (suppressTs) logits.fill(-Infinity, tb, V);
  if (minTs >= 0) logits.fill(-Infinity, tb, minTs);
  if (maxTs >= 0) {
    const safe = Math.min(maxTs, V - 1);
    if (safe + 1 < V) logits.fill(-Infinity, safe + 1, V);
  }
  if (state === 'text') {
    let maxTsLogit = -Infinity;
    for (let i = tb; i < V; i++) if (logits[i]! > maxTsLogit) maxTsLogit = logits[i]!;
    if (maxTsLogit === -Infinity) return;
    let sum = 0;
    for (let i = tb; i < V; i++) if (logits[i]! > -Infinity) sum += Math.exp(logits[i]! - maxTsLogit);
    const lse = maxTsLogit + Math.log(sum);
    let maxText = -Infinity;
    for (let i = 0; i < tb; i++) if (logits[i]! > maxText) maxText = logits[i]!;
    if (lse > maxText) logits.fill(-Infinity, 0, tb);
  }
}

/**
 * transformers.js's WhisperTimeStampLogitsProcessor._call on one row (the optimum layout's rules), which differ
 * from sherpa-onnx's applyTimestampRules above:
 * - the first step (tokens.length === beginIndex) suppresses every id below the first timestamp (eot
 *   included) and nothing else: transformers.js's max_initial_timestamp check comes after that step's
 *   `continue`, so no max initial timestamp applies, and neither does the probability rule there;
 * - timestamps never have to increase (no monotonic rule): a closing timestamp may repeat the opening one;
 * - after a closing timestamp (last a timestamp, the one before text) only ids below eot are suppressed:
 *   eot and the other special ids stay allowed;
 * - the probability rule (the timestamps' total probability above every other id's: text suppressed) runs
 *   after every step but the first, not only inside text, on a float32 log_softmax as transformers.js
 *   computes it (each exp rounded to float32, summed in order).
 * beginIndex: the prompt's length (transformers.js: init_tokens.length, one less when the prompt ends with
 * <|notimestamps|>, which a timestamp prompt never does).
 */
export function applyTransformersTimestampRules(row: Float32Array, tokens: readonly number[], beginIndex: number, info: WhisperModelInfo): void {
  const tb = info.timestampBegin;
  row[info.noTimestamps] = -Infinity;
  if (tokens.length === beginIndex) {
    row.fill(-Infinity, 0, tb);
    return;
  }
  const sampled = tokens.length - beginIndex;
  const last = sampled >= 1 && tokens[tokens.length - 1]! >= tb;
  const penult = sampled < 2 || tokens[tokens.length - 2]! >= tb;
  if (last) {
    if (penult) row.fill(-Infinity, tb);
    else row.fill(-Infinity, 0, info.eot);
  }
  // log_softmax in float32 (transformers.js's utils/maths.js log_softmax on a Float32Array)
  let maxVal = row[0]!;
  for (let i = 1; i < row.length; i++) if (row[i]! > maxVal) maxVal = row[i]!;
  let sumExps = 0;
  for (let i = 0; i < row.length; i++) sumExps += Math.exp(row[i]! - maxVal);
  const logSum = Math.log(sumExps);
  const logprobs = new Float32Array(row.length);
  for (let i = 0; i < row.length; i++) logprobs[i] = row[i]! - maxVal - logSum;
  let tsSum = Math.fround(Math.exp(logprobs[tb]!));
  for (let i = tb + 1; i < row.length; i++) tsSum += Math.fround(Math.exp(logprobs[i]!));
  const tsLogprob = Math.log(tsSum);
  let maxText = logprobs[0]!;
  for (let i = 1; i < tb; i++) if (logprobs[i]! > maxText) maxText = logprobs[i]!;
  if (tsLogprob > maxText) row.fill(-Infinity, 0, tb);
}

/** Which implementation a search's timestamp rules and segments follow (see the file's header). */
export type WhisperTimestampStyle = 'sherpa-onnx' | 'transformers.js';

export interface WhisperSuppress {
  always: number[];
  begin: number[];
}

/** Max initial timestamp index: 50 = 1.0 s (sherpa-onnx's kMaxInitialTimestampIndex). */
const MAX_INITIAL_TIMESTAMP = 50;

/** One sequence's greedy search (OfflineWhisperGreedySearchDecoder::Decode, one stream of a batch). */
export class WhisperSearch {
  readonly all: number[];
  readonly predicted: number[] = [];
  readonly sampleBegin: number;
  /** the token chosen from the last logits, fed next unless the search stops */
  next = -1;
  done = false;
  private steps = 0;

  constructor(
    readonly info: WhisperModelInfo,
    readonly prompt: readonly number[],
    readonly maxTokens: number,
    readonly timestamps: boolean,
    readonly language: number | null,
    /** transformers.js's generation_config suppress_tokens (always) and begin_suppress_tokens (first token) */
    readonly suppress: WhisperSuppress | null = null,
    /** whose timestamp rules (and segments, whisperTranscript) apply when `timestamps` is on */
    readonly style: WhisperTimestampStyle = 'sherpa-onnx',
  ) {
    this.all = [...prompt];
    this.sampleBegin = prompt.length;
  }

  /** Picks the next token from a row of logits (the last position of the last run). */
  choose(logits: ArrayLike<number>, offset: number, vocab: number): void {
    if (!this.suppress && !this.timestamps) {
      this.next = argmax(logits, offset, vocab);
      return;
    }
    const row = Float32Array.from({ length: vocab }, (_, i) => logits[offset + i]!);
    if (this.suppress) {
      // before the timestamp rules, as transformers.js orders them: _get_logits_processor puts the generation
      // config's SuppressTokens / SuppressTokensAtBegin first and generate()'s timestamp processor after
      for (const id of this.suppress.always) if (id < vocab) row[id] = -Infinity;
      if (this.predicted.length === 0) for (const id of this.suppress.begin) if (id < vocab) row[id] = -Infinity;
    }
    if (this.timestamps) {
      if (this.style === 'transformers.js') applyTransformersTimestampRules(row, this.all, this.sampleBegin, this.info);
      else applyTimestampRules(row, this.all, this.sampleBegin, this.info, this.predicted.length === 0 ? MAX_INITIAL_TIMESTAMP : -1);
    }
    this.next = argmax(row, 0, vocab);
  }

  /** Before a step: whether the search goes on; if so the token to feed is `next` (recorded here). */
  advance(): boolean {
    if (this.done) return false;
    if (this.steps >= this.maxTokens || this.next === this.info.eot) {
      this.done = true;
      return false;
    }
    this.steps++;
    this.predicted.push(this.next);
    this.all.push(this.next);
    return true;
  }

  /** The context filled up (offset >= n_text_ctx - 1 after a step): sherpa-onnx stops there. */
  stop(): void {
    this.done = true;
  }
}

export interface WhisperSegmentTokens {
  start: number;
  /** -1: closed by eot or the end of the tokens (sherpa-onnx's sentinel) */
  end: number;
  ids: number[];
}

/** sherpa-onnx's ParseTimestampTokens: segments between timestamp tokens (0.02 s each). */
export function parseTimestampTokens(tokens: readonly number[], timestampBegin: number, eot: number): WhisperSegmentTokens[] {
  const out: WhisperSegmentTokens[] = [];
  let cur: WhisperSegmentTokens | null = null;
  for (const t of tokens) {
    if (t === eot) {
      if (cur && cur.ids.length) out.push({ ...cur, end: -1 });
      cur = null;
      break;
    }
    if (t >= timestampBegin) {
      const time = Math.fround((t - timestampBegin) * Math.fround(0.02));
      if (!cur) cur = { start: time, end: -1, ids: [] };
      else {
        if (cur.ids.length) out.push({ ...cur, end: time });
        cur = { start: time, end: -1, ids: [] };
      }
    } else if (cur) cur.ids.push(t);
  }
  if (cur && cur.ids.length) out.push({ ...cur, end: -1 });
  return out;
}

/** transformers.js's round(x, 2) (utils/maths.js). */
function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/**
 * Segments as transformers.js's WhisperTokenizer._decode_asr pairs the timestamps of one output (no stride:
 * a single window, as the ASR pipeline without chunk_length_s gives it): special ids (eot up to the first
 * timestamp) are skipped; a timestamp opens a segment when none is open and closes it otherwise, except one
 * whose rounded time equals the segment's start, which is skipped (the segment stays open); text after the
 * last closing timestamp is a final segment with no end (end -1; start -1 when no timestamp opened it).
 * Times: (token - first timestamp) x 0.02 s rounded to 2 decimals. Unlike sherpa-onnx's
 * parseTimestampTokens (every timestamp closes the open segment and opens the next): a timestamp equal to
 * the start leaves the segment open, a closing timestamp opens nothing (the next timestamp opens the next
 * segment), and an end before the start is kept.
 */
export function transformersTimestampSegments(tokens: readonly number[], timestampBegin: number, eot: number): WhisperSegmentTokens[] {
  const out: WhisperSegmentTokens[] = [];
  const timestampEnd = timestampBegin + 1500;
  let start = -1;
  let ids: number[] = [];
  for (const t of tokens) {
    if (t >= eot && t < timestampBegin) continue;
    if (t >= timestampBegin && t <= timestampEnd) {
      const time = round2((t - timestampBegin) * 0.02);
      if (start < 0) start = time;
      else if (time !== start) {
        out.push({ start, end: time, ids });
        start = -1;
        ids = [];
      }
    } else ids.push(t);
  }
  if (ids.length > 0) out.push({ start, end: -1, ids });
  return out;
}

/**
 * transformers.js's seek step (WhisperForConditionalGeneration._generate_with_seek, timestamp mode) after one
 * window's generated tokens (eot removed, not empty): with a pair of consecutive timestamps and not ending on
 * a single timestamp after text, the tokens up to the last pair's first timestamp are kept and the next window
 * starts at that timestamp (2 mel frames per timestamp step); otherwise every token is kept and the window's
 * frames are consumed. `advance` is in mel frames.
 */
export function transformersSeekStep(generated: readonly number[], timestampBegin: number, windowFrames: number): { keep: number; advance: number } {
  const isTs = generated.map((t) => t >= timestampBegin);
  const n = generated.length;
  const singleEnding = n >= 2 && isTs[n - 1]! && !isTs[n - 2]!;
  let lastBoundary = -1;
  for (let i = 0; i + 1 < n; i++) if (isTs[i] && isTs[i + 1]) lastBoundary = i + 1;
  if (lastBoundary < 0 || singleEnding) return { keep: n, advance: windowFrames };
  return { keep: lastBoundary, advance: (generated[lastBoundary - 1]! - timestampBegin) * 2 };
}

/** A later window's timestamps moved to the whole input's: + `shift` steps, at most <|30.00|> (transformers.js caps them there). */
export function shiftTimestamps(tokens: readonly number[], timestampBegin: number, shift: number): number[] {
  return tokens.map((t) => (t >= timestampBegin ? Math.min(t + shift, timestampBegin + 1500) : t));
}

/** sherpa-onnx's result fields for Whisper (its Node addon's JSON). */
export interface WhisperSherpaResult {
  text: string;
  tokens: string[];
  lang: string;
  segment_timestamps?: number[];
  segment_durations?: number[];
  segment_texts?: string[];
}

export interface WhisperTranscript extends Transcript {
  language: string;
  sherpa: WhisperSherpaResult;
}

export interface WhisperTranscriptOptions {
  durationSec: number;
  offsetSec?: number;
}

/**
 * The result as sherpa-onnx's Convert builds it (each token's bytes cleaned of invalid UTF-8,
 * concatenated, leading spaces removed; segments with their texts when timestamps are on;
 * timestamp and special tokens left out), and VoxFleet's Transcript: one segment spanning
 * the utterance without timestamps, else one per Whisper segment (an open one ends with the
 * utterance); tokens span their segment.
 */
export function whisperTranscript(search: WhisperSearch, table: WhisperVocabulary, info: WhisperModelInfo, opts: WhisperTranscriptOptions): WhisperTranscript {
  const off = opts.offsetSec ?? 0;
  const dur = opts.durationSec;
  const tb = info.timestampBegin;
  const langCode = search.language === null ? '' : ([...info.languages].find(([, id]) => id === search.language)?.[0] ?? '');
  const pieceBytes = (id: number): Uint8Array | null => (table.has(id) ? removeInvalidUtf8(table.textBytesOf(id)) : null);
  const textIds = search.predicted.filter((id) => !(search.timestamps && id >= tb) && table.has(id));
  const parts = textIds.map((id) => pieceBytes(id)!);
  const sherpa: WhisperSherpaResult = { text: sherpaText(concatBytes(parts)), tokens: parts.map(jsonToken), lang: langCode };
  const tokens: TokenTiming[] = [];
  const segments: Segment[] = [];
  const timed = (ids: number[], start: number, end: number): string => {
    const bytes = ids.map(pieceBytes).filter((b): b is Uint8Array => b !== null);
    ids.forEach((id) => {
      const b = pieceBytes(id);
      if (b) tokens.push({ id, text: jsonToken(b), start: round3(off + start), end: round3(off + end) });
    });
    return sherpaText(concatBytes(bytes)).trim();
  };
  if (search.timestamps) {
    const segs = search.style === 'transformers.js' ? transformersTimestampSegments(search.predicted, tb, info.eot) : parseTimestampTokens(search.predicted, tb, info.eot);
    sherpa.segment_timestamps = [];
    sherpa.segment_durations = [];
    sherpa.segment_texts = [];
    for (const seg of segs) {
      // transformers.js: a final segment no timestamp opened starts with the utterance
      const s = { ...seg, start: Math.max(0, seg.start) };
      sherpa.segment_timestamps.push(s.start);
      // sherpa-onnx: an open segment lasts num_audio_frames * 0.02 - start, num_audio_frames being 0 without attention outputs
      // (transformers.js's open segment has no end: the same fields say it lasts to the end of the utterance)
      if (search.style === 'transformers.js') sherpa.segment_durations.push(round2(Math.max(0, (s.end === -1 ? dur : s.end) - s.start)));
      else sherpa.segment_durations.push(Math.max(0, s.end === -1 ? 0 - s.start : Math.fround(s.end - s.start)));
      sherpa.segment_texts.push(
        s.ids
          .map(pieceBytes)
          .filter((b): b is Uint8Array => b !== null)
          .map((b) => new TextDecoder().decode(b))
          .join(''),
      );
      const start = Math.min(s.start, dur);
      const end = s.end === -1 ? dur : Math.min(Math.max(s.end, start), dur);
      const text = timed(s.ids, start, end);
      if (text !== '') segments.push({ start: round3(off + start), end: round3(off + end), text });
    }
  } else {
    const text = timed(textIds, 0, dur);
    if (text !== '') segments.push({ start: round3(off), end: round3(off + dur), text });
  }
  return { ...transcriptOf(segments, tokens, dur), language: langCode, sherpa };
}

/** A transformers.js / optimum model folder's config.json and generation_config.json → the model's ids and sizes. */
export function optimumWhisperInfo(config: Record<string, unknown>, gen: Record<string, unknown>): { info: WhisperModelInfo; suppress: WhisperSuppress } {
  const int = (o: Record<string, unknown>, k: string, file: string): number => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ModelMetadataError(`${file} lacks an integer ${k}`);
    return v;
  };
  const ids = (v: unknown): number[] => (Array.isArray(v) ? v.filter((x): x is number => Number.isInteger(x)) : []);
  const multilingual = gen.is_multilingual === true;
  const langs = new Map<string, number>();
  for (const [tok, id] of Object.entries((gen.lang_to_id as Record<string, number> | undefined) ?? {})) {
    const m = /^<\|(.+)\|>$/.exec(tok);
    if (m && Number.isInteger(id)) langs.set(m[1]!, id);
  }
  const tasks = (gen.task_to_id as Record<string, number> | undefined) ?? {};
  const sot = int(gen, 'decoder_start_token_id', 'generation_config.json');
  const eosRaw = gen.eos_token_id;
  const eot = Array.isArray(eosRaw) ? Number(eosRaw[0]) : int(gen, 'eos_token_id', 'generation_config.json');
  if (multilingual && (langs.size === 0 || tasks.transcribe === undefined || tasks.translate === undefined)) throw new ModelMetadataError('generation_config.json: a multilingual model needs lang_to_id and task_to_id');
  const noTimestamps = int(gen, 'no_timestamps_token_id', 'generation_config.json');
  const dModel = int(config, 'd_model', 'config.json');
  const info: WhisperModelInfo = {
    modelType: String(config.model_type ?? 'whisper'),
    nMels: int(config, 'num_mel_bins', 'config.json'),
    nVocab: int(config, 'vocab_size', 'config.json'),
    nTextCtx: int(config, 'max_target_positions', 'config.json'),
    nTextState: dModel,
    nTextLayer: int(config, 'decoder_layers', 'config.json'),
    sot,
    eot,
    sotSequence: multilingual ? [sot, langs.get('en') ?? [...langs.values()][0]!, tasks.transcribe!] : [sot],
    multilingual,
    languages: langs,
    transcribe: tasks.transcribe ?? 0,
    translate: tasks.translate ?? 0,
    noTimestamps,
    timestampBegin: noTimestamps + 1,
  };
  return { info, suppress: { always: ids(gen.suppress_tokens), begin: ids(gen.begin_suppress_tokens) } };
}

/** GPT-2's byte-level alphabet: the character standing for each byte in a byte-level BPE vocabulary. */
function byteLevelAlphabet(): Map<string, number> {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const chars = bs.map((b) => String.fromCharCode(b));
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      chars.push(String.fromCharCode(256 + n++));
    }
  }
  return new Map(chars.map((c, i) => [c, bs[i]!]));
}

/**
 * A byte-level BPE tokenizer.json's vocabulary as token bytes (its model.vocab, mapped back through the
 * byte-level alphabet); special added tokens are not text. Decoding whole sequences is the
 * tokenizer's (a token may hold part of a character): this gives each token's bytes.
 */
export function byteLevelVocabulary(tokenizer: { model?: { vocab?: Record<string, number> }; added_tokens?: { id: number; special?: boolean }[] }): WhisperVocabulary {
  const alphabet = byteLevelAlphabet();
  const bytes = new Map<number, Uint8Array>();
  for (const [tok, id] of Object.entries(tokenizer.model?.vocab ?? {})) {
    const out: number[] = [];
    for (const ch of tok) {
      const b = alphabet.get(ch);
      if (b === undefined) throw new ModelMetadataError(`tokenizer.json: token ${JSON.stringify(tok)} is not byte-level`);
      out.push(b);
    }
    bytes.set(id, Uint8Array.from(out));
  }
  for (const t of tokenizer.added_tokens ?? []) if (t.special !== false) bytes.delete(t.id);
  return { has: (id) => bytes.has(id), textBytesOf: (id) => bytes.get(id) ?? new Uint8Array(0) };
}
