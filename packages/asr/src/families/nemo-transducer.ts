/**
 * NeMo transducers with a TDT joint (Parakeet TDT 0.6B v2/v3, sherpa-onnx's export
 * scripts/nemo/parakeet-tdt-0.6b-v2/export_onnx.py; contract §7) as sherpa-onnx's offline
 * NeMo transducer recognizer runs them (sherpa-onnx/csrc/offline-recognizer-transducer-nemo-impl.h,
 * offline-transducer-nemo-model.cc, offline-transducer-greedy-search-nemo-decoder.cc,
 * Convert in offline-recognizer-transducer-impl.h).
 *
 * Metadata (the encoder's): vocab_size (pieces without the blank; V = vocab_size + 1),
 * subsampling_factor, normalize_type ("" / "NA" / per_feature), pred_rnn_layers,
 * pred_hidden, feat_dim (mel bins; absent: 80), is_giga_am (not served), url: sherpa-onnx
 * decodes the model as TDT when it contains "tdt" (a joiner wider than V carries the
 * duration logits), else as plain RNN-T (not served here).
 *
 * Front-end: NEMO_FBANK as the transducer path leaves it, which is not the CTC path's:
 * PostInit sets low_freq 0, is_librosa, remove_dc_offset false and keeps the other
 * FeatureExtractorConfig defaults — window "povey" (the line setting "hann" is commented
 * out there) and high_freq -400 (7600 Hz); dither 0, pre-emphasis 0.97, samples not scaled;
 * per-feature normalisation; a batch is zero-padded after it (PadSequence(…, 0)).
 *
 * TDT greedy search, per utterance (DecodeOneTDT): the decoder is run once on the blank
 * with zero states; at frame t the joiner scores (encoder frame t, decoder output); the
 * token is the first argmax of the V token logits, the skip the first argmax of the
 * duration logits (which may be 0); a non-blank token is emitted at t with its skip as
 * duration and the decoder advanced on it; after 5 tokens without moving the skip
 * becomes 1, as does a blank with skip 0; t += skip until t reaches the encoder's
 * output length (`encoded_lengths`).
 *
 * Result (Convert): text = the tokens' symbols joined ("▁" → space), spaces between CJK
 * characters and before punctuation removed (RemoveSpaceBetweenCjk), then one leading
 * space; tokens as the CTC path writes them (a lone byte outside 0x20..0x7E as <0xH>);
 * timestamp = frame × 10 ms × subsampling, duration = skip × the same, in float32.
 */
import { PER_FEATURE_EPSILON } from '../frontend/normalize.js';
import { NEMO_FBANK, type FrontEndSpecInput } from '../frontend/spec.js';
import { ModelMetadataError, metaInt, type OnnxMetadata } from './meta.js';
import { nemoToken } from './nemo-ctc.js';
import {
  buildTranscript,
  concatBytes,
  sherpaFrameShift,
  sherpaFrameTime,
  type FamilyTranscript,
  type TimedPiece,
  type TranscriptOptions,
} from './result.js';
import { UnsupportedVocabularyError, sherpaText, type SymbolTable } from './symbols.js';

export interface NemoTransducerModelInfo {
  /** V: pieces + the blank (metadata vocab_size + 1); the blank is V - 1 */
  vocabSize: number;
  subsamplingFactor: number;
  normalize: 'per_feature' | 'none';
  predRnnLayers: number;
  predHidden: number;
  /** mel bins (metadata feat_dim; 80 when absent, as sherpa-onnx's default feature_dim) */
  featDim: number;
  /** sherpa-onnx's is_tdt: the url names a TDT model */
  tdt: boolean;
}

/** sherpa-onnx's per-frame limit of tokens before a forced skip (DecodeOneTDT). */
export const TDT_MAX_TOKENS_PER_FRAME = 5;

/** What sherpa-onnx reads from a NeMo transducer encoder's metadata. */
export function nemoTransducerModelInfo(meta: OnnxMetadata): NemoTransducerModelInfo {
  const type = (meta.normalize_type ?? '').trim();
  if (type !== '' && type !== 'NA' && type !== 'per_feature') {
    throw new ModelMetadataError(`normalize_type "${type}" is not supported (sherpa-onnx implements only per_feature)`);
  }
  if (metaInt(meta, 'is_giga_am', 0) !== 0) throw new ModelMetadataError('GigaAM transducers (is_giga_am) are not supported');
  const subsamplingFactor = metaInt(meta, 'subsampling_factor');
  if (subsamplingFactor < 1) throw new ModelMetadataError('subsampling_factor must be positive');
  const predRnnLayers = metaInt(meta, 'pred_rnn_layers');
  const predHidden = metaInt(meta, 'pred_hidden');
  if (predRnnLayers < 1 || predHidden < 1) throw new ModelMetadataError('pred_rnn_layers and pred_hidden must be positive');
  const featDim = metaInt(meta, 'feat_dim', 0) || 80;
  return {
    vocabSize: metaInt(meta, 'vocab_size') + 1,
    subsamplingFactor,
    normalize: type === 'per_feature' ? 'per_feature' : 'none',
    predRnnLayers,
    predHidden,
    featDim,
    tdt: (meta.url ?? '').includes('tdt'),
  };
}

/** The front-end sherpa-onnx runs for a NeMo transducer (see the module comment). */
export function nemoTransducerFrontEndSpec(info: Pick<NemoTransducerModelInfo, 'normalize' | 'featDim'>): FrontEndSpecInput {
  return {
    kind: 'nemo',
    fbank: { ...NEMO_FBANK, melBins: info.featDim, window: 'povey', highFreq: -400 },
    normalize: info.normalize,
    normEpsilon: PER_FEATURE_EPSILON,
    layout: 'channels-first',
  };
}

/** Encoder output frames for `featureFrames` input frames: three stride-2 convolutions, ceil(T / 2) each. */
export function nemoTransducerEncoderFrames(featureFrames: number): number {
  let t = featureFrames;
  for (let i = 0; i < 3; i++) t = Math.ceil(t / 2);
  return t;
}

/** One utterance's greedy TDT search state (sherpa-onnx's DecodeOneTDT, one joiner step at a time). */
export class TdtSearch {
  /** the frame the next joiner step scores */
  t = 0;
  readonly tokens: number[] = [];
  readonly frames: number[] = [];
  readonly durations: number[] = [];
  private tokensThisFrame = 0;

  constructor(
    /** encoder output frames to decode (encoded_lengths) */
    readonly numFrames: number,
    readonly vocabSize: number,
  ) {}

  get done(): boolean {
    return this.t >= this.numFrames;
  }

  /**
   * Takes one joiner output (`width` = V + durations values from `offset`); returns the
   * token to advance the decoder on, or -1 for none (a blank).
   */
  step(logits: ArrayLike<number>, offset: number, width: number): number {
    const v = this.vocabSize;
    const blank = v - 1;
    const y = argmax(logits, offset, v);
    let skip = argmax(logits, offset + v, width - v);
    const emitted = y !== blank;
    if (emitted) {
      this.tokens.push(y);
      this.frames.push(this.t);
      this.durations.push(skip);
      this.tokensThisFrame += 1;
    }
    if (skip > 0) this.tokensThisFrame = 0;
    if (this.tokensThisFrame >= TDT_MAX_TOKENS_PER_FRAME) {
      this.tokensThisFrame = 0;
      skip = 1;
    }
    if (!emitted && skip === 0) {
      this.tokensThisFrame = 0;
      skip = 1;
    }
    this.t += skip;
    return emitted ? y : -1;
  }
}

/** The first index of the largest of `n` values from `offset` (std::max_element). */
function argmax(a: ArrayLike<number>, offset: number, n: number): number {
  let best = 0;
  let max = a[offset]!;
  for (let i = 1; i < n; i++) {
    const x = a[offset + i]!;
    if (x > max) {
      max = x;
      best = i;
    }
  }
  return best;
}

/** The blank sherpa-onnx requires: `<blk>`, the last of exactly V symbols. */
export function checkTransducerTokens(table: SymbolTable, vocabSize: number): void {
  const blk = table.idOf('<blk>');
  if (blk === undefined) throw new UnsupportedVocabularyError('tokens.txt does not include the blank token <blk>');
  if (blk !== vocabSize - 1) throw new UnsupportedVocabularyError(`<blk> is ${blk}, not the last token (${vocabSize - 1})`);
  if (table.size !== vocabSize) throw new UnsupportedVocabularyError(`tokens.txt has ${table.size} tokens; the model's vocab_size + 1 is ${vocabSize}`);
  if (table.isByteBpe) throw new UnsupportedVocabularyError('byte-level BPE vocabularies (icefall bbpe) are not supported');
}

// sherpa-onnx's Utf8ToUtf32 (text-utils.cc): each byte that does not start a well-formed sequence is one U+FFFD
function utf8ToCodePoints(b: Uint8Array): number[] {
  const out: number[] = [];
  const cont = (i: number, lo = 0x80, hi = 0xbf): boolean => i < b.length && b[i]! >= lo && b[i]! <= hi;
  let p = 0;
  while (p < b.length) {
    const b0 = b[p]!;
    let len = 0;
    if (b0 <= 0x7f) len = 1;
    else if (b0 >= 0xc2 && b0 <= 0xdf) len = cont(p + 1) ? 2 : 0;
    else if (b0 === 0xe0) len = cont(p + 1, 0xa0) && cont(p + 2) ? 3 : 0;
    else if ((b0 >= 0xe1 && b0 <= 0xec) || b0 === 0xee || b0 === 0xef) len = cont(p + 1) && cont(p + 2) ? 3 : 0;
    else if (b0 === 0xed) len = cont(p + 1, 0x80, 0x9f) && cont(p + 2) ? 3 : 0;
    else if (b0 === 0xf0) len = cont(p + 1, 0x90) && cont(p + 2) && cont(p + 3) ? 4 : 0;
    else if (b0 >= 0xf1 && b0 <= 0xf3) len = cont(p + 1) && cont(p + 2) && cont(p + 3) ? 4 : 0;
    else if (b0 === 0xf4) len = cont(p + 1, 0x80, 0x8f) && cont(p + 2) && cont(p + 3) ? 4 : 0;
    if (len === 0) {
      out.push(0xfffd);
      p++;
      continue;
    }
    let cp = len === 1 ? b0 : b0 & (0xff >> (len + 1));
    for (let k = 1; k < len; k++) cp = (cp << 6) | (b[p + k]! & 0x3f);
    out.push(cp);
    p += len;
  }
  return out;
}

function isCjk(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x11ff) ||
    (cp >= 0x2e80 && cp <= 0xa4cf) ||
    (cp >= 0xa840 && cp <= 0xd7af) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff65 && cp <= 0xffdc) ||
    (cp >= 0x20000 && cp <= 0x2ffff)
  );
}

function isPunct(cp: number): boolean {
  return (
    (cp >= 0x21 && cp <= 0x2f) ||
    (cp >= 0x3a && cp <= 0x40) ||
    (cp >= 0x5b && cp <= 0x60) ||
    (cp >= 0x7b && cp <= 0x7e) ||
    (cp >= 0x3000 && cp <= 0x303f) ||
    (cp >= 0xff01 && cp <= 0xff0f) ||
    (cp >= 0xff1a && cp <= 0xff20) ||
    (cp >= 0xff3b && cp <= 0xff40) ||
    (cp >= 0xff5b && cp <= 0xff65)
  );
}

/**
 * sherpa-onnx's RemoveSpaceBetweenCjk on bytes: a space between two CJK characters or
 * before punctuation goes; fewer than two code points: the bytes as they are.
 */
export function removeSpaceBetweenCjk(text: Uint8Array): Uint8Array {
  const cps = utf8ToCodePoints(text);
  if (cps.length < 2) return text;
  const kept: number[] = [cps[0]!];
  for (let i = 1; i < cps.length; i++) {
    if (cps[i] === 0x20 && i + 1 < cps.length && ((isCjk(cps[i - 1]!) && isCjk(cps[i + 1]!)) || isPunct(cps[i + 1]!))) continue;
    kept.push(cps[i]!);
  }
  return new TextEncoder().encode(String.fromCodePoint(...kept.map((c) => (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ? 0xfffd : c))));
}

/** A TDT transcript: the sherpa-onnx fields plus its per-token `durations` (seconds). */
export interface TdtTranscript extends FamilyTranscript {
  durations: number[];
}

/** One utterance's search result as sherpa-onnx's Convert writes it, and as a Transcript. */
export function tdtTranscript(
  search: Pick<TdtSearch, 'tokens' | 'frames' | 'durations'>,
  table: SymbolTable,
  info: Pick<NemoTransducerModelInfo, 'subsamplingFactor'>,
  opts: TranscriptOptions,
): TdtTranscript {
  const parts = search.tokens.map((id) => table.textBytesOf(id));
  let text = removeSpaceBetweenCjk(concatBytes(parts));
  if (text[0] === 0x20) text = text.subarray(1);
  const shift = sherpaFrameShift(info.subsamplingFactor);
  const shiftSec = (10 * info.subsamplingFactor) / 1000;
  const durations = search.durations.map((d) => sherpaFrameTime(d, shift));
  const sherpa = {
    text: sherpaText(text),
    tokens: parts.map(nemoToken),
    timestamps: search.frames.map((t) => sherpaFrameTime(t, shift)),
    lang: '',
    emotion: '',
    event: '',
  };
  const pieces: TimedPiece[] = search.tokens.map((id, i) => ({
    id,
    bytes: parts[i]!,
    text: nemoToken(parts[i]!),
    start: search.frames[i]! * shiftSec,
    end: (search.frames[i]! + Math.max(1, search.durations[i]!)) * shiftSec,
    tag: table.isTag(id),
  }));
  return { ...buildTranscript(pieces, sherpa, opts), durations };
}
