/**
 * Paraformer (offline, FunASR export with sherpa-onnx metadata) as sherpa-onnx runs it
 * (sherpa-onnx/csrc/offline-recognizer-paraformer-impl.h,
 * offline-paraformer-greedy-search-decoder.cc, offline-paraformer-model.cc).
 *
 * Front-end (InitFeatConfig): as SenseVoice's, samples always x32768, LFR
 * lfr_window_size / lfr_window_shift with FunASR padding, CMVN from neg_mean / inv_stddev.
 *
 * Decoding: per row of `logits` [U, V] (already log-softmax), argmax (first maximum); stop
 * at the first `</s>`; `token_num` is ignored, so a batched row is read over the whole U
 * of the batch until its `</s>`. With the 4-output (BiCif) export, `us_cif_peak` [T']
 * gives the times: index k is k x 0.02 s (10 ms x 6 / 3 upsampling, in float32), every
 * k with peak > 1 - 1e-4 is a token start, the last such peak is dropped, and the times
 * are kept only when their count equals the token count.
 *
 * Text (Convert): a piece ending in "@@" loses it and joins the next piece; an ASCII piece
 * gets a space before it unless it continues an "@@" piece; a non-ASCII piece (CJK) gets
 * a space before it only after an ASCII piece; then invalid UTF-8 bytes and leading spaces
 * are removed (symbols.ts sherpaText). Tokens keep their "@@".
 */
import { FUNASR_FBANK, type FrontEndSpecInput } from '../frontend/spec.js';
import { metaFloats, metaInt, type OnnxMetadata } from './meta.js';
import {
  buildTranscript,
  checkRows,
  concatBytes,
  jsonToken,
  type FamilyTranscript,
  type TimedPiece,
  type TranscriptOptions,
} from './result.js';
import { UnsupportedVocabularyError, sherpaText, type SymbolTable } from './symbols.js';

export interface ParaformerModelInfo {
  vocabSize: number;
  lfrWindowSize: number;
  lfrWindowShift: number;
  cmvn: { negMean: Float32Array; invStd: Float32Array };
}

/** What sherpa-onnx reads from a Paraformer export's metadata. */
export function paraformerModelInfo(meta: OnnxMetadata): ParaformerModelInfo {
  const lfrWindowSize = metaInt(meta, 'lfr_window_size');
  const lfrWindowShift = metaInt(meta, 'lfr_window_shift');
  const dim = lfrWindowSize * FUNASR_FBANK.melBins;
  return {
    vocabSize: metaInt(meta, 'vocab_size'),
    lfrWindowSize,
    lfrWindowShift,
    cmvn: { negMean: metaFloats(meta, 'neg_mean', dim), invStd: metaFloats(meta, 'inv_stddev', dim) },
  };
}

/** The front-end sherpa-onnx runs for this model. */
export function paraformerFrontEndSpec(info: ParaformerModelInfo): FrontEndSpecInput {
  return {
    kind: 'funasr',
    fbank: { ...FUNASR_FBANK, scale: 32768 },
    lfr: { m: info.lfrWindowSize, n: info.lfrWindowShift, padding: 'funasr' },
    cmvn: info.cmvn,
  };
}

/** Seconds per `us_cif_peak` index as sherpa-onnx holds it: float(10.0 * 6 / 3 / 1000). */
export const PARAFORMER_PEAK_SHIFT = Math.fround((10.0 * 6) / 3 / 1000);
/** A peak above this starts a token. */
export const PARAFORMER_PEAK_THRESHOLD = 1 - 1e-4;

export interface ParaformerRows {
  /** logits [U, V] of one batch row, row-major from `offset` */
  data: ArrayLike<number>;
  offset?: number;
  /** U: rows of this batch row (the batch's token dimension) */
  rows: number;
  vocab: number;
}

export interface CifPeaks {
  /** `us_cif_peak` of this batch row: `length` values from `offset` */
  data: ArrayLike<number>;
  offset?: number;
  length: number;
}

export interface ParaformerTranscript extends FamilyTranscript {
  /** the tokens carry times from us_cif_peak (else every token spans the whole utterance) */
  timed: boolean;
}

/** The id of `</s>`, which ends decoding (sherpa-onnx looks it up in tokens.txt). */
export function paraformerEosId(table: SymbolTable): number {
  const id = table.idOf('</s>');
  if (id === undefined) throw new UnsupportedVocabularyError('tokens.txt has no </s>');
  return id;
}

function argmax(data: ArrayLike<number>, base: number, vocab: number): number {
  let best = 0;
  let bestScore = -Infinity;
  for (let v = 0; v < vocab; v++) {
    const s = data[base + v]!;
    if (s > bestScore) {
      bestScore = s;
      best = v;
    }
  }
  return best;
}

/** Peak times (seconds, float32) with the last one still included. */
function peakTimes(peaks: CifPeaks): number[] {
  const out: number[] = [];
  const at = peaks.offset ?? 0;
  for (let k = 0; k < peaks.length; k++) {
    if (peaks.data[at + k]! > PARAFORMER_PEAK_THRESHOLD) out.push(Math.fround(k * PARAFORMER_PEAK_SHIFT));
  }
  return out;
}

const SPACE = Uint8Array.of(0x20);

/** The bytes sherpa-onnx's Convert appends for each token, in order. */
function paraformerPieces(syms: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let mergeable = false;
  syms.forEach((sym, i) => {
    const n = sym.length;
    // sherpa: (back != '@') || (size > 2 && sym[size-2] != '@') means "does not end with @@";
    // a piece of two bytes or fewer ending in '@' counts as ending with "@@"
    const endsWithJoin = n > 0 && sym[n - 1] === 0x40 && !(n > 2 && sym[n - 2] !== 0x40);
    if (endsWithJoin) {
      const body = sym.subarray(0, Math.max(0, n - 2));
      out.push(mergeable ? body : concatBytes([SPACE, body]));
      mergeable = true;
    } else if (n > 0 && sym[0]! < 0x80) {
      out.push(mergeable ? sym : concatBytes([SPACE, sym]));
      mergeable = false;
    } else {
      mergeable = false;
      const prev = syms[i - 1];
      out.push(prev !== undefined && prev.length > 0 && prev[0]! < 0x80 ? concatBytes([SPACE, sym]) : sym);
    }
  });
  return out;
}

/** Paraformer greedy decoding of one batch row (see the module comment). */
export function decodeParaformer(
  rows: ParaformerRows,
  table: SymbolTable,
  opts: TranscriptOptions & { eosId?: number; peaks?: CifPeaks },
): ParaformerTranscript {
  const eos = opts.eosId ?? paraformerEosId(table);
  const ids: number[] = [];
  const base = rows.offset ?? 0;
  checkRows(rows.data, base, rows.rows, rows.vocab);
  if (opts.peaks) checkRows(opts.peaks.data, opts.peaks.offset ?? 0, opts.peaks.length, 1);
  for (let k = 0; k < rows.rows; k++) {
    const id = argmax(rows.data, base + k * rows.vocab, rows.vocab);
    if (id === eos) break;
    ids.push(id);
  }
  const syms = ids.map((id) => table.textBytesOf(id));
  const parts = paraformerPieces(syms);
  const peaks = opts.peaks ? peakTimes(opts.peaks) : [];
  const starts = peaks.slice(0, -1);
  const timed = opts.peaks !== undefined && starts.length === ids.length;
  const sherpa = {
    text: sherpaText(concatBytes(parts)),
    tokens: syms.map(jsonToken),
    timestamps: timed ? starts : [],
    lang: '',
    emotion: '',
    event: '',
  };
  // the Transcript's text is assembled the same way over the tokens that are not tags
  const kept = ids.map((id, i) => ({ id, i })).filter(({ id }) => !table.isTag(id));
  const keptParts = paraformerPieces(kept.map(({ i }) => syms[i]!));
  const pieces: TimedPiece[] = kept.map(({ id, i }, k) => ({
    id,
    bytes: keptParts[k]!,
    text: jsonToken(syms[i]!),
    start: timed ? starts[i]! : 0,
    end: timed ? Math.max(starts[i]!, peaks[i + 1]!) : opts.durationSec,
    tag: false,
  }));
  return { ...buildTranscript(pieces, sherpa, opts, timed), timed };
}
