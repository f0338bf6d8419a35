/**
 * SenseVoice-Small and its Fun-ASR-Nano CTC variant, as sherpa-onnx runs their exports
 * (sherpa-onnx/csrc/offline-recognizer-sense-voice-impl.h, offline-sense-voice-model.cc,
 * offline-ctc-greedy-search-decoder.cc).
 *
 * Front-end (InitFeatConfig, FeatureExtractorConfig defaults): Kaldi fbank, 80 bins,
 * hamming, snip_edges, low 20 Hz, high = Nyquist, pre-emphasis 0.97, DC removal, dither
 * 0, samples x32768 when metadata normalize_samples is 0; LFR lfr_window_size /
 * lfr_window_shift with FunASR padding (sherpa-onnx lfr.cc, since af2bc02; the
 * sherpa-onnx-node 1.13.8 build contains it); CMVN from neg_mean / inv_stddev for
 * SenseVoice, none for the Nano variant (its `comment` metadata contains "Nano").
 *
 * Decoding: greedy CTC over x_length + 4 rows (SenseVoice: 4 query positions first) or
 * all rows (Nano), blank = metadata blank_id (default 0; the Nano export writes
 * vocab_size - 1). SenseVoice's first 4 decoded tokens are its language, emotion, event
 * and ITN tags: sherpa-onnx reads lang/emotion/event from tokens 0-2 when at least 3 were
 * decoded, and takes text, tokens and timestamps from token 4 on. A token's time is the
 * first frame of its run: (t - 4) x 10 ms x lfr_window_shift (t for Nano), in float32.
 * The text is the tokens' text concatenated ("▁" -> " ", byte fallback -> bytes), then
 * sherpa-onnx's post-processing for every model: bytes that start no well-formed UTF-8
 * sequence dropped, leading spaces removed (symbols.ts sherpaText).
 */
import { greedyPath } from '../ctc.js';
import { FUNASR_FBANK, type FrontEndSpecInput } from '../frontend/spec.js';
import { ModelMetadataError, metaFloats, metaInt, type OnnxMetadata } from './meta.js';
import {
  buildTranscript,
  checkRows,
  concatBytes,
  jsonToken,
  sherpaFrameShift,
  sherpaFrameTime,
  type CtcRows,
  type FamilyTranscript,
  type TimedPiece,
  type TranscriptOptions,
} from './result.js';
import { decodeUtf8, sherpaText, type SymbolTable } from './symbols.js';

/** The query positions SenseVoice prepends to its output. */
export const SENSE_VOICE_QUERY_FRAMES = 4;

export interface SenseVoiceModelInfo {
  /** 'nano': the Fun-ASR-Nano CTC export (comment contains "Nano"): base64 tokens, no tags, no CMVN */
  variant: 'sensevoice' | 'nano';
  vocabSize: number;
  blankId: number;
  lfrWindowSize: number;
  lfrWindowShift: number;
  /** 32768 when normalize_samples = 0, else 1 */
  scale: number;
  /** SenseVoice only */
  cmvn: { negMean: Float32Array; invStd: Float32Array } | null;
  /** language ids for the `language` input (auto, zh, en, ja, ko, yue); SenseVoice only */
  languageIds: Readonly<Record<string, number>>;
  /** `text_norm` input values; SenseVoice only */
  withItnId: number | null;
  withoutItnId: number | null;
}

const LANGUAGES = ['auto', 'zh', 'en', 'ja', 'ko', 'yue'] as const;

/** What sherpa-onnx reads from a SenseVoice / Nano CTC export's metadata (offline-sense-voice-model.cc). */
export function senseVoiceModelInfo(meta: OnnxMetadata): SenseVoiceModelInfo {
  const variant = (meta.comment ?? '').includes('Nano') ? 'nano' : 'sensevoice';
  const lfrWindowSize = metaInt(meta, 'lfr_window_size');
  const lfrWindowShift = metaInt(meta, 'lfr_window_shift');
  if (lfrWindowSize < 1 || lfrWindowShift < 1) throw new ModelMetadataError('lfr_window_size and lfr_window_shift must be positive');
  const base = {
    variant,
    vocabSize: metaInt(meta, 'vocab_size'),
    blankId: metaInt(meta, 'blank_id', 0),
    lfrWindowSize,
    lfrWindowShift,
    scale: metaInt(meta, 'normalize_samples') === 0 ? 32768 : 1,
  } as const;
  if (variant === 'nano') return { ...base, cmvn: null, languageIds: {}, withItnId: null, withoutItnId: null };
  const dim = lfrWindowSize * FUNASR_FBANK.melBins;
  const languageIds: Record<string, number> = {};
  for (const lang of LANGUAGES) languageIds[lang] = metaInt(meta, `lang_${lang}`);
  return {
    ...base,
    cmvn: { negMean: metaFloats(meta, 'neg_mean', dim), invStd: metaFloats(meta, 'inv_stddev', dim) },
    languageIds,
    withItnId: metaInt(meta, 'with_itn'),
    withoutItnId: metaInt(meta, 'without_itn'),
  };
}

/** The front-end sherpa-onnx runs for this model. */
export function senseVoiceFrontEndSpec(info: SenseVoiceModelInfo): FrontEndSpecInput {
  return {
    kind: 'funasr',
    fbank: { ...FUNASR_FBANK, scale: info.scale },
    lfr: { m: info.lfrWindowSize, n: info.lfrWindowShift, padding: 'funasr' },
    cmvn: info.cmvn,
  };
}

/** Valid logit rows of one batch row: x_length + 4 for SenseVoice, the LFR frames for Nano. */
export function senseVoiceLogitFrames(info: Pick<SenseVoiceModelInfo, 'variant'>, featureFrames: number): number {
  return info.variant === 'nano' ? featureFrames : featureFrames + SENSE_VOICE_QUERY_FRAMES;
}

export interface SenseVoiceTranscript extends FamilyTranscript {
  /** tag contents without "<|" "|>": "en", "NEUTRAL", "Speech"; absent for Nano or when not decoded */
  language?: string;
  emotion?: string;
  event?: string;
  /** the 4th tag: <|withitn|> true, <|woitn|> false */
  itn?: boolean;
}

function tagName(tag: string): string | undefined {
  const m = /^<\|(.*)\|>$/.exec(tag);
  return m ? m[1] : undefined;
}

/** Greedy CTC decoding of one SenseVoice / Nano CTC output (see the module comment). */
export function decodeSenseVoice(
  rows: CtcRows,
  table: SymbolTable,
  info: Pick<SenseVoiceModelInfo, 'variant' | 'blankId' | 'lfrWindowShift'>,
  opts: TranscriptOptions,
): SenseVoiceTranscript {
  checkRows(rows.data, rows.offset ?? 0, rows.frames, rows.vocab);
  const path = greedyPath(rows.data, rows.offset ?? 0, rows.frames, rows.vocab, info.blankId);
  const nano = info.variant === 'nano';
  const skip = nano ? 0 : SENSE_VOICE_QUERY_FRAMES;
  const frameShift = sherpaFrameShift(info.lfrWindowShift);
  const body = path.slice(skip);
  const tags = nano ? [] : path.slice(0, skip).map((p) => decodeUtf8(table.textBytesOf(p.id)));
  const hasTags = tags.length >= 3;
  const sherpa = {
    text: sherpaText(concatBytes(body.map((p) => table.textBytesOf(p.id)))),
    tokens: body.map((p) => jsonToken(table.textBytesOf(p.id))),
    timestamps: body.map((p) => sherpaFrameTime(p.first - skip, frameShift)),
    lang: hasTags ? tags[0]! : '',
    emotion: hasTags ? tags[1]! : '',
    event: hasTags ? tags[2]! : '',
  };
  const shiftSec = (10 * info.lfrWindowShift) / 1000;
  const pieces: TimedPiece[] = body.map((p) => ({
    id: p.id,
    bytes: table.textBytesOf(p.id),
    text: jsonToken(table.textBytesOf(p.id)),
    start: (p.first - skip) * shiftSec,
    end: (p.last + 1 - skip) * shiftSec,
    tag: table.isTag(p.id),
  }));
  const out: SenseVoiceTranscript = buildTranscript(pieces, sherpa, opts);
  if (hasTags) {
    const [language, emotion, event] = tags.map(tagName);
    if (language !== undefined) out.language = language;
    if (emotion !== undefined) out.emotion = emotion;
    if (event !== undefined) out.event = event;
  }
  const itn = tags[3] === undefined ? undefined : tagName(tags[3]);
  if (itn === 'withitn') out.itn = true;
  else if (itn === 'woitn') out.itn = false;
  return out;
}
