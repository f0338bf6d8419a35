/**
 * Front-end specs: one typed, validated description per front-end family, with every
 * option spelled out (no hidden defaults), and `createFrontEnd(spec)` that builds it.
 *
 * - `funasr`: Kaldi fbank -> LFR (FunASR padding or none) -> optional global CMVN, rows of
 *   lfr.m * melBins values, time-major [T, D]. The engine's own `FrontEnd` class is this
 *   case (same code, same numbers).
 * - `whisper`: Whisper's log-mel as sherpa-onnx computes it (whisper.ts), channels-first
 *   [melBins, T], normalised over the real frames (log10, max - 8, (x + 4) / 4).
 * - `nemo`: log-mel -> optional per-feature normalisation over time, channels-first
 *   [melBins, T], the layout NeMo encoders take (sherpa-onnx transposes (B,T,C) -> (B,C,T)
 *   before running them, offline-nemo-enc-dec-ctc-model.cc Forward).
 *
 * The family presets (what sherpa-onnx configures for SenseVoice, Paraformer, Fun-ASR-Nano
 * CTC and NeMo CTC) live beside their decoders in ../families/.
 */
import { z } from 'zod';
import { FLOAT32_EPSILON, FbankComputer, type Features, type FbankOptions } from './fbank.js';
import { FrontEnd } from './frontend.js';
import { normalizePerFeature } from './normalize.js';
import { WhisperLogMel } from './whisper.js';

export class FrontEndSpecError extends Error {
  override readonly name = 'FrontEndSpecError';
}

const fbankSpecSchema = z
  .strictObject({
    /** Hz; the engine's audio is 16 kHz mono. */
    sampleRate: z.literal(16000),
    melBins: z.number().int().min(4).max(512),
    frameLengthMs: z.number().positive().max(1000),
    frameShiftMs: z.number().positive().max(1000),
    /** samples in [-1, 1] are multiplied by this first: 32768 (normalize_samples = 0) or 1 */
    scale: z.number().positive().max(1e6),
    /** only 0: random dither would make features irreproducible (sherpa-onnx's default too) */
    dither: z.literal(0),
    removeDcOffset: z.boolean(),
    /** Kaldi per-frame pre-emphasis x[i] -= p x[i-1], x[0] -= p x[0]; 0 disables */
    preemphasis: z.number().min(0).max(1),
    window: z.enum(['hamming', 'hann', 'hanning', 'povey', 'rectangular']),
    snipEdges: z.boolean(),
    /** the FFT length is the window length rounded up to a power of two (Kaldi's default) */
    roundToPowerOfTwo: z.literal(true),
    lowFreq: z.number().min(0),
    /** Hz; <= 0 means Nyquist + highFreq */
    highFreq: z.number(),
    /** 'kaldi' (Kaldi mel, bins below Nyquist) or 'slaney' (librosa Slaney scale + norm) */
    mel: z.enum(['kaldi', 'slaney']),
    /** log(max(energy, floor)): FLT_EPSILON in Kaldi, torchaudio and kaldi-native-fbank */
    logFloor: z.literal(FLOAT32_EPSILON),
  })
  .superRefine((f, ctx) => {
    const nyquist = f.sampleRate / 2;
    const high = f.highFreq <= 0 ? nyquist + f.highFreq : f.highFreq;
    if (!(f.lowFreq < high && high > 0 && high <= nyquist)) {
      ctx.addIssue({ code: 'custom', message: `bad mel band: lowFreq ${f.lowFreq}, highFreq ${f.highFreq}`, path: ['highFreq'] });
    }
    if (Math.trunc(f.sampleRate * f.frameLengthMs * 0.001) < 2 || Math.trunc(f.sampleRate * f.frameShiftMs * 0.001) < 1) {
      ctx.addIssue({ code: 'custom', message: 'frame length or shift below one sample', path: ['frameLengthMs'] });
    }
  });

const vectorSchema = z
  .union([z.custom<Float32Array>((v) => v instanceof Float32Array, 'expected a Float32Array'), z.array(z.number())])
  .transform((v) => Float32Array.from(v))
  .refine((v) => v.every(Number.isFinite), 'CMVN values must be finite');

const funasrSpecSchema = z
  .strictObject({
    kind: z.literal('funasr'),
    fbank: fbankSpecSchema,
    lfr: z.strictObject({
      m: z.number().int().min(1).max(64),
      n: z.number().int().min(1).max(64),
      padding: z.enum(['funasr', 'none']),
    }),
    /** applied after LFR: (x + negMean) * invStd, lfr.m * melBins values each; null: none */
    cmvn: z.union([z.null(), z.strictObject({ negMean: vectorSchema, invStd: vectorSchema })]),
  })
  .superRefine((s, ctx) => {
    const dim = s.lfr.m * s.fbank.melBins;
    if (s.cmvn && (s.cmvn.negMean.length !== dim || s.cmvn.invStd.length !== dim)) {
      ctx.addIssue({
        code: 'custom',
        message: `CMVN vectors must have ${dim} values (negMean ${s.cmvn.negMean.length}, invStd ${s.cmvn.invStd.length})`,
        path: ['cmvn'],
      });
    }
  });

const nemoSpecSchema = z.strictObject({
  kind: z.literal('nemo'),
  fbank: fbankSpecSchema,
  /** 'per_feature': mean/std over time per mel bin (normalize.ts); 'none': raw log-mel */
  normalize: z.enum(['per_feature', 'none']),
  /** added to the standard deviation (sherpa-onnx: 1e-5f) */
  normEpsilon: z.number().positive().max(1),
  layout: z.literal('channels-first'),
});

/** Whisper's log-mel as sherpa-onnx computes it (whisper.ts): every other option is fixed by that path. */
const whisperSpecSchema = z.strictObject({
  kind: z.literal('whisper'),
  /** 80, or 128 for large-v3 / turbo (metadata n_mels) */
  melBins: z.number().int().min(4).max(512),
  /** frames kept (sherpa-onnx: 2950, the rest of the audio dropped); the normalisation covers only these */
  maxFrames: z.number().int().positive(),
  /**
   * `kaldi-native-fbank`: sherpa-onnx's (frames of the audio as it is, snip_edges false, normalised over
   * them); `transformers`: transformers.js's (audio padded to maxFrames x 160 samples, centred frames,
   * normalised over all maxFrames frames)
   */
  framing: z.enum(['kaldi-native-fbank', 'transformers']).default('kaldi-native-fbank'),
  layout: z.literal('channels-first'),
});

export const frontEndSpecSchema = z.discriminatedUnion('kind', [funasrSpecSchema, nemoSpecSchema, whisperSpecSchema]);

/** A validated spec (CMVN vectors as Float32Array). */
export type FrontEndSpec = z.output<typeof frontEndSpecSchema>;
/** What `createFrontEnd` accepts (CMVN vectors may be number arrays). */
export type FrontEndSpecInput = z.input<typeof frontEndSpecSchema>;
export type FbankSpec = z.output<typeof fbankSpecSchema>;
export type FunAsrFrontEndSpec = Extract<FrontEndSpec, { kind: 'funasr' }>;
export type NemoFrontEndSpec = Extract<FrontEndSpec, { kind: 'nemo' }>;
export type WhisperFrontEndSpec = Extract<FrontEndSpec, { kind: 'whisper' }>;

/** `time-major`: data[t * dim + d]; `channels-first`: data[d * frames + t]. */
export type FeatureLayout = 'time-major' | 'channels-first';

export interface FrontEndFeatures extends Features {
  layout: FeatureLayout;
}

/** A built front-end: features of one utterance, and their count without computing them. */
export interface SpecFrontEnd {
  readonly spec: FrontEndSpec;
  /** values per frame */
  readonly dim: number;
  readonly layout: FeatureLayout;
  /** output frames for `numSamples` samples (the batcher's cost), without computing */
  frames(numSamples: number): number;
  /** features of 16 kHz float samples in [-1, 1] */
  compute(samples16k: Float32Array): FrontEndFeatures;
}

/** Kaldi fbank as FunASR and sherpa-onnx's SenseVoice / Paraformer paths configure it. */
export const FUNASR_FBANK: Readonly<FbankSpec> = Object.freeze({
  sampleRate: 16000,
  melBins: 80,
  frameLengthMs: 25,
  frameShiftMs: 10,
  scale: 32768,
  dither: 0,
  removeDcOffset: true,
  preemphasis: 0.97,
  window: 'hamming',
  snipEdges: true,
  roundToPowerOfTwo: true,
  lowFreq: 20,
  highFreq: 0,
  mel: 'kaldi',
  logFloor: FLOAT32_EPSILON,
});

/**
 * The log-mel sherpa-onnx's offline CTC recognizer configures for NeMo models
 * (offline-recognizer-ctc-impl.h Init, the non-GigaAM branch, on top of
 * FeatureExtractorConfig's defaults in features.h): low_freq 0, high_freq 0 (= Nyquist),
 * is_librosa (Slaney mel + Slaney norm), no DC removal, periodic Hann window; unchanged
 * defaults: samples not scaled (normalize_samples = true), dither 0, pre-emphasis 0.97,
 * 25/10 ms frames, snip_edges false, FFT 512; log floored at FLT_EPSILON
 * (kaldi-native-fbank feature-fbank.cc).
 */
export const NEMO_FBANK: Readonly<FbankSpec> = Object.freeze({
  sampleRate: 16000,
  melBins: 80,
  frameLengthMs: 25,
  frameShiftMs: 10,
  scale: 1,
  dither: 0,
  removeDcOffset: false,
  preemphasis: 0.97,
  window: 'hann',
  snipEdges: false,
  roundToPowerOfTwo: true,
  lowFreq: 0,
  highFreq: 0,
  mel: 'slaney',
  logFloor: FLOAT32_EPSILON,
});

/** Validates a spec; throws FrontEndSpecError naming the first problem. */
export function parseFrontEndSpec(input: unknown): FrontEndSpec {
  const r = frontEndSpecSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new FrontEndSpecError(`invalid front-end spec: ${where}${issue?.message ?? 'unknown problem'}`);
  }
  return r.data;
}

/** The FbankComputer options of a spec's fbank part. */
export function fbankOptionsOf(f: FbankSpec): FbankOptions {
  return {
    sampleRate: f.sampleRate,
    melBins: f.melBins,
    frameLengthMs: f.frameLengthMs,
    frameShiftMs: f.frameShiftMs,
    scale: f.scale,
    lowFreq: f.lowFreq,
    highFreq: f.highFreq,
    preemphasis: f.preemphasis,
    removeDcOffset: f.removeDcOffset,
    windowType: f.window,
    snipEdges: f.snipEdges,
    melType: f.mel,
  };
}

class FunAsrFrontEnd implements SpecFrontEnd {
  readonly dim: number;
  readonly layout = 'time-major' as const;
  private readonly inner: FrontEnd;

  constructor(readonly spec: FunAsrFrontEndSpec) {
    this.inner = new FrontEnd({
      ...fbankOptionsOf(spec.fbank),
      lfrM: spec.lfr.m,
      lfrN: spec.lfr.n,
      lfrPadding: spec.lfr.padding,
      ...(spec.cmvn ? { cmvn: spec.cmvn } : {}),
    });
    this.dim = this.inner.dim;
  }

  frames(numSamples: number): number {
    return this.inner.frameCount(numSamples);
  }

  compute(samples16k: Float32Array): FrontEndFeatures {
    return { ...this.inner.compute(samples16k), layout: this.layout };
  }
}

class NemoFrontEnd implements SpecFrontEnd {
  readonly dim: number;
  readonly layout = 'channels-first' as const;
  private readonly fbank: FbankComputer;

  constructor(readonly spec: NemoFrontEndSpec) {
    this.fbank = new FbankComputer(fbankOptionsOf(spec.fbank));
    this.dim = this.fbank.dim;
  }

  frames(numSamples: number): number {
    return this.fbank.frameCount(numSamples);
  }

  compute(samples16k: Float32Array): FrontEndFeatures {
    const { data, frames, dim } = this.fbank.compute(samples16k);
    if (this.spec.normalize === 'per_feature') normalizePerFeature(data, frames, dim, this.spec.normEpsilon);
    const out = new Float32Array(data.length);
    for (let t = 0; t < frames; t++) {
      for (let d = 0; d < dim; d++) out[d * frames + t] = data[t * dim + d]!;
    }
    return { data: out, frames, dim, layout: this.layout };
  }
}

class WhisperFrontEnd implements SpecFrontEnd {
  readonly dim: number;
  readonly layout = 'channels-first' as const;
  private readonly mel: WhisperLogMel;

  constructor(readonly spec: WhisperFrontEndSpec) {
    this.mel = new WhisperLogMel(spec.melBins);
    this.dim = spec.melBins;
  }

  frames(numSamples: number): number {
    return this.spec.framing === 'transformers' ? this.spec.maxFrames : Math.min(this.mel.frames(numSamples), this.spec.maxFrames);
  }

  compute(samples16k: Float32Array): FrontEndFeatures {
    if (this.spec.framing === 'transformers') return { ...this.mel.computeTransformers(samples16k, this.spec.maxFrames), layout: this.layout };
    return { ...this.mel.compute(samples16k, this.spec.maxFrames), layout: this.layout };
  }
}

/** Validates `spec` and builds its front-end (tables precomputed once). */
export function createFrontEnd(spec: FrontEndSpecInput): SpecFrontEnd {
  const s = parseFrontEndSpec(spec);
  return s.kind === 'funasr' ? new FunAsrFrontEnd(s) : s.kind === 'nemo' ? new NemoFrontEnd(s) : new WhisperFrontEnd(s);
}
