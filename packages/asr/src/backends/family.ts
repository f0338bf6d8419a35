/**
 * The production model families on onnxruntime-node, as sherpa-onnx runs
 * their exports: SenseVoice-Small and its Fun-ASR-Nano CTC variant,
 * Paraformer (with or without CIF timestamps) and NeMo CTC. One session per
 * model, opened once (provider × precision chosen like every backend,
 * select.ts); the front-end, the decoding and the sherpa-onnx-equal result
 * fields come from ../families. Batches are zero-padded after CMVN
 * (SenseVoice, Paraformer; sherpa-onnx cannot pad with log(eps) there) or
 * with log(1e-10) after per-feature normalisation (NeMo), as sherpa-onnx
 * does; the Nano CTC graph takes one utterance at a time.
 */
import * as ort from 'onnxruntime-node';
import type { AsrConfig } from '../config.js';
import type { LoadReport } from '../ctc-model.js';
import type { Transcript } from '../ctc.js';
import type { BatchTiming } from '../engine-protocol.js';
import {
  SymbolTable,
  ctcBlankId,
  decodeNemoCtc,
  decodeParaformer,
  decodeSenseVoice,
  nemoCtcLogitFrames,
  nemoCtcModelInfo,
  paraformerEosId,
  senseVoiceLogitFrames,
  senseVoiceModelInfo,
  type FamilyTranscript,
  type NemoCtcModelInfo,
  type SenseVoiceModelInfo,
} from '../families/index.js';
import { createFrontEnd, type FrontEndFeatures, type SpecFrontEnd } from '../frontend/spec.js';
import { fileDigest, modelIdentity } from '../identity.js';
import type { ModelSpec } from '../registry.js';
import { fastestOf, selectSession, calibrationAudio } from './select.js';
import { weightsNote } from '../session.js';

/** Per-job options a model may take. */
export interface JobOptions {
  /** a language code the model knows, or null for its own choice ('auto') */
  language: string | null;
  /** inverse text normalisation (SenseVoice): numbers as digits, punctuation; null: the model's default (off, as sherpa-onnx) */
  itn: boolean | null;
}

export const NO_OPTIONS: JobOptions = { language: null, itn: null };

/** A job option the model cannot honour (a permanent failure of that job, not of the model). */
export class UnsupportedOptionError extends Error {
  override readonly name = 'UnsupportedOptionError';
  readonly code = 'unsupported_option';
}

/** log(1e-10): what sherpa-onnx pads NeMo features with (offline-recognizer-ctc-impl.h). */
const NEMO_PAD = -23.025850929940457;

interface Run {
  feeds: Record<string, ort.Tensor>;
  decode: (out: ort.InferenceSession.ReturnType) => FamilyTranscript[];
}

export class FamilyModel {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly spec: ModelSpec,
    private readonly frontEnd: SpecFrontEnd,
    private readonly table: SymbolTable,
    readonly report: LoadReport,
    private readonly config: AsrConfig,
  ) {}

  static async load(spec: ModelSpec, config: AsrConfig): Promise<FamilyModel> {
    const t0 = performance.now();
    if (!spec.frontEnd || !spec.tokensFile) throw new Error(`${spec.kind} needs a front-end and tokens.txt`);
    const frontEnd = createFrontEnd(spec.frontEnd);
    const table = await SymbolTable.read(spec.tokensFile, spec.kind === 'funasr-nano-ctc' ? { base64: true } : {});
    const sel = await selectSession(
      config,
      spec.variants,
      (session, variant, provider) =>
        new FamilyModel(session, spec, frontEnd, table, {
          modelId: '',
          modelName: spec.name,
          aliases: spec.aliases,
          languages: spec.languages,
          kind: spec.kind,
          options: spec.options,
          version: spec.metadata.comment ?? spec.metadata.model_type ?? spec.kind,
          decoder: spec.decoder === 'paraformer' ? 'paraformer (argmax per token)' : 'greedy CTC',
          file: variant.file,
          provider,
          precision: variant.precision,
          loadMs: 0,
          calibration: [],
          ...weightsNote(session),
        }, config),
      (m) => m.calibrate(),
    );
    const r = sel.model.report;
    r.calibration = sel.calibration;
    r.modelId = modelIdentity({ name: spec.name, digest: await fileDigest(r.file), decoderTag: '', precision: r.precision }).id;
    r.loadMs = Math.round(performance.now() - t0);
    return sel.model;
  }

  /** Output frames for `numSamples` samples: the batcher's cost. */
  frames(numSamples: number): number {
    const f = this.frontEnd.frames(numSamples);
    return this.spec.kind === 'nemo-ctc' ? Math.max(1, nemoCtcLogitFrames(this.nemoInfo, f)) : f;
  }

  /** Fastest of 5 runs of 4 × 6 s of synthetic audio (its front-end computed once). */
  private async calibrate(): Promise<number> {
    const audio = calibrationAudio(4, 6);
    const feats = audio.map((a) => this.frontEnd.compute(a));
    return fastestOf(() => this.runBatch(feats, feats.map(() => NO_OPTIONS), audio.map(() => 6)));
  }

  /** Front-end, inference and decoding of one batch. */
  async transcribe(audio: Float32Array[], options: JobOptions[]): Promise<{ transcripts: Transcript[]; timing: BatchTiming }> {
    const t0 = performance.now();
    const feats = audio.map((a) => this.frontEnd.compute(a));
    const t1 = performance.now();
    const transcripts = await this.runBatch(
      feats,
      audio.map((_, i) => options[i] ?? NO_OPTIONS),
      audio.map((a) => a.length / 16000),
    );
    const t2 = performance.now();
    const frames = feats.map((f) => this.frames(f.frames * 160));
    return {
      transcripts,
      timing: { frontEndMs: t1 - t0, inferenceMs: t2 - t1, paddedFrames: Math.max(0, ...frames) * frames.length, frames: frames.reduce((a, b) => a + b, 0) },
    };
  }

  private async runBatch(feats: FrontEndFeatures[], options: JobOptions[], durations: number[]): Promise<FamilyTranscript[]> {
    if (feats.length === 0) return [];
    // Graphs that take one utterance (Nano CTC) run them one after another.
    if (feats.length > this.spec.maxBatch) {
      const out: FamilyTranscript[] = [];
      for (let i = 0; i < feats.length; i++) out.push(...(await this.runBatch([feats[i]!], [options[i]!], [durations[i]!])));
      return out;
    }
    const run = this.prepare(feats, options, durations);
    const out = await this.session.run(run.feeds);
    try {
      return run.decode(out);
    } finally {
      for (const t of Object.values(out)) t.dispose();
    }
  }

  private get segmenting() {
    return { segmentGapSec: this.config.segmentGapSec, maxSegmentSec: this.config.maxSegmentSec };
  }

  private get senseVoiceInfo(): SenseVoiceModelInfo {
    return (this.cachedSv ??= senseVoiceModelInfo(this.spec.metadata));
  }
  private cachedSv: SenseVoiceModelInfo | undefined;

  private get nemoInfo(): NemoCtcModelInfo {
    return (this.cachedNemo ??= nemoCtcModelInfo(this.spec.metadata));
  }
  private cachedNemo: NemoCtcModelInfo | undefined;

  private prepare(feats: FrontEndFeatures[], options: JobOptions[], durations: number[]): Run {
    switch (this.spec.kind) {
      case 'sense-voice':
      case 'funasr-nano-ctc':
        return this.prepareSenseVoice(feats, options, durations);
      case 'paraformer':
        return this.prepareParaformer(feats, durations);
      case 'nemo-ctc':
        return this.prepareNemo(feats, durations);
      default:
        throw new Error(`${this.spec.kind} is not a family model`);
    }
  }

  private prepareSenseVoice(feats: FrontEndFeatures[], options: JobOptions[], durations: number[]): Run {
    const info = this.senseVoiceInfo;
    const { x, lengths, maxFrames } = padTimeMajor(feats, 0);
    const n = feats.length;
    const dim = feats[0]!.dim;
    const feeds: Record<string, ort.Tensor> = { x: new ort.Tensor('float32', x, [n, maxFrames, dim]) };
    if (info.variant === 'sensevoice') {
      feeds.x_length = new ort.Tensor('int32', lengths, [n]);
      feeds.language = new ort.Tensor('int32', Int32Array.from(options.map((o) => this.languageId(o.language))), [n]);
      feeds.text_norm = new ort.Tensor('int32', Int32Array.from(options.map((o) => (o.itn === true ? info.withItnId! : info.withoutItnId!))), [n]);
    }
    return {
      feeds,
      decode: (out) => {
        const logits = out.logits!;
        const [, rows, vocab] = logits.dims as [number, number, number];
        const data = logits.data as Float32Array;
        return feats.map((f, i) =>
          decodeSenseVoice(
            { data, offset: i * rows * vocab, frames: Math.min(rows, senseVoiceLogitFrames(info, f.frames)), vocab },
            this.table,
            info,
            { durationSec: durations[i]!, ...this.segmenting },
          ),
        );
      },
    };
  }

  private languageId(language: string | null): number {
    const ids = this.senseVoiceInfo.languageIds;
    const id = ids[language ?? 'auto'];
    if (id === undefined) throw new UnsupportedOptionError(`language "${language}" is not one of this model's (${Object.keys(ids).join(', ')})`);
    return id;
  }

  private prepareParaformer(feats: FrontEndFeatures[], durations: number[]): Run {
    const { x, lengths, maxFrames } = padTimeMajor(feats, 0);
    const n = feats.length;
    const eosId = paraformerEosId(this.table);
    return {
      feeds: { speech: new ort.Tensor('float32', x, [n, maxFrames, feats[0]!.dim]), speech_lengths: new ort.Tensor('int32', lengths, [n]) },
      decode: (out) => {
        const logits = out.logits!;
        const [, rows, vocab] = logits.dims as [number, number, number];
        const data = logits.data as Float32Array;
        const peaks = this.spec.timestamps === 'cif-peaks' ? out.us_cif_peak : undefined;
        const peakLen = peaks ? (peaks.dims[1] as number) : 0;
        return feats.map((_, i) =>
          decodeParaformer({ data, offset: i * rows * vocab, rows, vocab }, this.table, {
            durationSec: durations[i]!,
            ...this.segmenting,
            eosId,
            ...(peaks ? { peaks: { data: peaks.data as Float32Array, offset: i * peakLen, length: peakLen } } : {}),
          }),
        );
      },
    };
  }

  private prepareNemo(feats: FrontEndFeatures[], durations: number[]): Run {
    const info = this.nemoInfo;
    const n = feats.length;
    const bins = feats[0]!.dim;
    const maxFrames = Math.max(1, ...feats.map((f) => f.frames));
    // channels-first [N, bins, T], padded with log(1e-10) after normalisation
    const x = new Float32Array(n * bins * maxFrames).fill(NEMO_PAD);
    const lengths = new BigInt64Array(n);
    feats.forEach((f, i) => {
      for (let b = 0; b < bins; b++) x.set(f.data.subarray(b * f.frames, (b + 1) * f.frames), (i * bins + b) * maxFrames);
      lengths[i] = BigInt(f.frames);
    });
    const blankId = ctcBlankId(this.table);
    return {
      feeds: { audio_signal: new ort.Tensor('float32', x, [n, bins, maxFrames]), length: new ort.Tensor('int64', lengths, [n]) },
      decode: (out) => {
        const logprobs = out.logprobs!;
        const [, rows, vocab] = logprobs.dims as [number, number, number];
        const data = logprobs.data as Float32Array;
        return feats.map((f, i) =>
          decodeNemoCtc({ data, offset: i * rows * vocab, frames: Math.min(rows, nemoCtcLogitFrames(info, f.frames)), vocab }, this.table, info, {
            durationSec: durations[i]!,
            ...this.segmenting,
            blankId,
          }),
        );
      },
    };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Time-major features [T, D] padded into one [N, Tmax, D] buffer with `pad`, and their lengths. */
function padTimeMajor(feats: FrontEndFeatures[], pad: number): { x: Float32Array; lengths: Int32Array; maxFrames: number } {
  const dim = feats[0]!.dim;
  const maxFrames = Math.max(1, ...feats.map((f) => f.frames));
  const x = new Float32Array(feats.length * maxFrames * dim);
  if (pad !== 0) x.fill(pad);
  const lengths = new Int32Array(feats.length);
  feats.forEach((f, i) => {
    x.set(f.data.subarray(0, f.frames * dim), i * maxFrames * dim);
    lengths[i] = f.frames;
  });
  return { x, lengths, maxFrames };
}
