/**
 * NeMo CTC models (e.g. Parakeet TDT-CTC 110M, the CTC branch exported by sherpa-onnx's
 * scripts/nemo/.../export-onnx-ctc-non-streaming.py) as sherpa-onnx's offline CTC
 * recognizer runs them (sherpa-onnx/csrc/offline-recognizer-ctc-impl.h,
 * offline-nemo-enc-dec-ctc-model.cc).
 *
 * Front-end: NEMO_FBANK (frontend/spec.ts) with `feature_dim` mel bins (sherpa-onnx's
 * feat_config.feature_dim, 80 by default; the 0.6B ja model takes 128), per-feature
 * normalisation when metadata normalize_type is "per_feature" ("" / "NA": none), fed
 * channels-first [N, bins, T] with `length` = T (int64).
 *
 * Decoding: greedy CTC over floor(T / subsampling_factor) rows (sherpa-onnx passes
 * length / subsampling to the decoder, not the model's output length), blank = the id of
 * `<blk>` (else `<eps>`, else `<blank>`). Result (Convert): `SIL` and `</s>` tokens are
 * left out of text and tokens (not out of timestamps); a lone byte < 0x20 or > 0x7E in a
 * token is written `<0xH>` (upper-case hex, unpadded); one leading space of the text is
 * dropped, then invalid UTF-8 bytes and any leading spaces (symbols.ts sherpaText);
 * timestamp = first frame of the run x 10 ms x subsampling_factor, in float32.
 */
import { greedyPath } from '../ctc.js';
import { PER_FEATURE_EPSILON } from '../frontend/normalize.js';
import { NEMO_FBANK, type FrontEndSpecInput } from '../frontend/spec.js';
import { ModelMetadataError, metaInt, type OnnxMetadata } from './meta.js';
import {
  buildTranscript,
  checkRows,
  concatBytes,
  sherpaFrameShift,
  sherpaFrameTime,
  type CtcRows,
  type FamilyTranscript,
  type TimedPiece,
  type TranscriptOptions,
} from './result.js';
import { UnsupportedVocabularyError, decodeUtf8, sherpaText, type SymbolTable } from './symbols.js';

export interface NemoCtcModelInfo {
  vocabSize: number;
  subsamplingFactor: number;
  normalize: 'per_feature' | 'none';
}

/** What sherpa-onnx reads from a NeMo CTC export's metadata. */
export function nemoCtcModelInfo(meta: OnnxMetadata): NemoCtcModelInfo {
  const type = (meta.normalize_type ?? '').trim();
  if (type !== '' && type !== 'NA' && type !== 'per_feature') {
    throw new ModelMetadataError(`normalize_type "${type}" is not supported (sherpa-onnx implements only per_feature)`);
  }
  const subsamplingFactor = metaInt(meta, 'subsampling_factor');
  if (subsamplingFactor < 1) throw new ModelMetadataError('subsampling_factor must be positive');
  return { vocabSize: metaInt(meta, 'vocab_size'), subsamplingFactor, normalize: type === 'per_feature' ? 'per_feature' : 'none' };
}

/** The front-end sherpa-onnx runs for this model; `melBins` is sherpa-onnx's feature_dim (80 unless told). */
export function nemoCtcFrontEndSpec(info: Pick<NemoCtcModelInfo, 'normalize'>, melBins = 80): FrontEndSpecInput {
  return {
    kind: 'nemo',
    fbank: { ...NEMO_FBANK, melBins },
    normalize: info.normalize,
    normEpsilon: PER_FEATURE_EPSILON,
    layout: 'channels-first',
  };
}

/** Rows the decoder reads for `featureFrames` input frames: floor(T / subsampling_factor). */
export function nemoCtcLogitFrames(info: Pick<NemoCtcModelInfo, 'subsamplingFactor'>, featureFrames: number): number {
  return Math.floor(featureFrames / info.subsamplingFactor);
}

/** The blank id sherpa-onnx's greedy CTC decoder uses: `<blk>`, else `<eps>`, else `<blank>`. */
export function ctcBlankId(table: SymbolTable): number {
  for (const sym of ['<blk>', '<eps>', '<blank>']) {
    const id = table.idOf(sym);
    if (id !== undefined) return id;
  }
  throw new UnsupportedVocabularyError('tokens.txt has none of <blk>, <eps>, <blank>');
}

/** A token as sherpa-onnx's CTC Convert writes it into `tokens`. */
function ctcToken(bytes: Uint8Array): string {
  const b = bytes[0]!;
  if (bytes.length === 1 && (b < 0x20 || b > 0x7e)) return `<0x${b.toString(16).toUpperCase()}>`;
  return decodeUtf8(bytes);
}

/**
 * Greedy CTC decoding of one NeMo CTC output (see the module comment). `rows.frames`
 * is the number of rows to read (nemoCtcLogitFrames of the input frames, at most the
 * output's time dimension).
 */
export function decodeNemoCtc(
  rows: CtcRows,
  table: SymbolTable,
  info: Pick<NemoCtcModelInfo, 'subsamplingFactor'>,
  opts: TranscriptOptions & { blankId?: number },
): FamilyTranscript {
  if (table.isByteBpe) throw new UnsupportedVocabularyError('byte-level BPE vocabularies (icefall bbpe) are not supported');
  const blankId = opts.blankId ?? ctcBlankId(table);
  checkRows(rows.data, rows.offset ?? 0, rows.frames, rows.vocab);
  const path = greedyPath(rows.data, rows.offset ?? 0, rows.frames, rows.vocab, blankId);
  const skipped = new Set([table.idOf('SIL'), table.idOf('</s>')].filter((id) => id !== undefined));
  const kept = path.filter((p) => !skipped.has(p.id));
  const parts = kept.map((p) => table.textBytesOf(p.id));
  const text = concatBytes(parts);
  const frameShift = sherpaFrameShift(info.subsamplingFactor);
  const sherpa = {
    text: sherpaText(text[0] === 0x20 ? text.subarray(1) : text),
    tokens: parts.map(ctcToken),
    timestamps: path.map((p) => sherpaFrameTime(p.first, frameShift)),
    lang: '',
    emotion: '',
    event: '',
  };
  const shiftSec = (10 * info.subsamplingFactor) / 1000;
  const pieces: TimedPiece[] = kept.map((p, i) => ({
    id: p.id,
    bytes: parts[i]!,
    text: ctcToken(parts[i]!),
    start: p.first * shiftSec,
    end: (p.last + 1) * shiftSec,
    tag: table.isTag(p.id),
  }));
  return buildTranscript(pieces, sherpa, opts);
}

/** A token as sherpa-onnx's NeMo results write it into `tokens` (the CTC and transducer Converts agree). */
export { ctcToken as nemoToken };
