/**
 * A CTC acoustic model on onnxruntime-node: front-end + batched inference +
 * greedy decoding. The session is created once (at load) and reused. Runs on
 * whatever thread calls it; `AsrEngine` puts it on a worker thread.
 */
import * as ort from 'onnxruntime-node';
import type { AsrConfig, Precision, Provider } from './config.js';
import { beamSearchPath, type BeamOptions } from './beam.js';
import { decodeCtc, greedyPath, type Transcript } from './ctc.js';
import { describeDecoder, decoderTag, resolveDecoder, type DecoderSpec } from './decoder.js';
import { fileDigest, modelIdentity } from './identity.js';
import { modelDirectory, readManifest, servedName } from './manifest.js';
import { ArpaLm } from './lm/arpa.js';
import { float32ToHalf, halfToFloat32 } from './fp16.js';
import { FrontEnd, lfrFrameCount } from './frontend/index.js';
import { modelMetaFrom, type ModelMeta } from './model-meta.js';
import { readOnnxMetadata } from './onnx-metadata.js';
import { fastestOf, selectSession, wantedVariants, type Calibration } from './backends/select.js';
import { listVariants, weightsNote, type ModelVariant } from './session.js';

export type { Calibration };

export interface Features {
  data: Float32Array;
  frames: number;
  dim: number;
}


export interface LoadReport {
  /** the model identity (name, file digest, decoder tag, precision: see identity.ts), the cache's model key */
  modelId: string;
  /** the name it is served under (VOXFLEET_MODEL_NAME, the directory's manifest, or the directory's name): builds of one model share it */
  modelName: string;
  aliases: string[];
  /** languages a job may ask for ('auto': the model decides) */
  languages: string[];
  /** the model family */
  kind: string;
  /** job options it honours: `language` picks its language input (else the option only keys the cache), `itn` its text normalisation */
  options: { language: boolean; itn: boolean; hotwords?: boolean };
  /** the ONNX metadata's model_id (or the file name) */
  version: string;
  /** e.g. "greedy" or "beam 16, LM lm.arpa.gz (alpha 0.5, beta 2)" */
  decoder: string;
  file: string;
  provider: Provider;
  precision: Precision;
  loadMs: number;
  calibration: Calibration[];
  /** what was done to the weights at load, if anything (e.g. int8 re-signing: session.ts) */
  weights?: string;
}


/** The decoder a model runs with: greedy, or beam search (with its LM loaded once). */
export type Decoder = { kind: 'greedy' } | { kind: 'beam'; options: BeamOptions };

async function loadDecoder(spec: DecoderSpec): Promise<Decoder> {
  if (spec.kind === 'greedy') return spec;
  return { kind: 'beam', options: { ...spec.options, ...(spec.lmPath ? { lm: await ArpaLm.load(spec.lmPath) } : {}) } };
}

/** Per-utterance log-probability rows of a batch: `scores` from `offset`, `frames × vocab`. */
export interface UtteranceScores {
  scores: Float32Array;
  offset: number;
  frames: number;
}

export class CtcModel {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly meta: ModelMeta,
    readonly frontEnd: FrontEnd,
    readonly report: LoadReport,
    private readonly config: AsrConfig,
    private readonly decoder: Decoder,
  ) {}

  /** Opens the model once; with provider/precision "auto" it measures every runnable pair and keeps the fastest. */
  static async load(config: AsrConfig): Promise<CtcModel> {
    const t0 = performance.now();
    const variants = await listVariants(config.modelPath);
    const wanted = wantedVariants(config, variants);
    const meta = await modelMetaFrom(await readOnnxMetadata(wanted[0]!.file), wanted[0]!.file);
    const frontEnd = new FrontEnd({
      sampleRate: 16000,
      melBins: meta.melBins,
      frameLengthMs: 25,
      frameShiftMs: 10,
      lfrM: meta.lfrM,
      lfrN: meta.lfrN,
      scale: meta.scale,
      ...(meta.cmvn ? { cmvn: meta.cmvn } : {}),
    });
    const dir = await modelDirectory(config.modelPath);
    const manifest = await readManifest(dir);
    const name = servedName(config.modelName, manifest, dir);
    const decoderSpec = await resolveDecoder(config);
    const decoder = await loadDecoder(decoderSpec);
    const calibration: Calibration[] = [];
    const { model } = await selectSession(
      config,
      variants,
      (session, variant, provider) => {
        const report: LoadReport = {
          modelId: '',
          modelName: name,
          aliases: manifest.aliases,
          languages: manifest.languages ?? (meta.language ? [meta.language] : ['auto']),
          kind: meta.prefixFrames > 0 ? 'sense-voice' : 'voxfleet-ctc',
          options: { language: false, itn: false },
          version: meta.modelId,
          decoder: describeDecoder(decoderSpec),
          file: variant.file,
          provider,
          precision: variant.precision,
          loadMs: 0,
          calibration,
          ...weightsNote(session),
        };
        return new CtcModel(session, meta, frontEnd, report, config, decoder);
      },
      (m) => m.calibrate(),
    ).then((sel) => {
      calibration.push(...sel.calibration);
      return sel;
    });
    const r = model.report;
    r.modelId = modelIdentity({ name: r.modelName, digest: await fileDigest(r.file), decoderTag: decoderTag(decoderSpec), precision: r.precision }).id;
    r.loadMs = Math.round(performance.now() - t0);
    return model;
  }

  get variant(): ModelVariant {
    return { precision: this.report.precision, file: this.report.file };
  }

  /** Fastest of 5 runs of a fixed batch (4 × 6 s of synthetic features) after one warm-up run; the minimum is the least disturbed by other load. */
  private async calibrate(): Promise<number> {
    const dim = this.meta.lfrM * this.meta.melBins;
    const frames = Math.ceil(600 / this.meta.lfrN);
    const batch: Features[] = [];
    let seed = 1;
    for (let i = 0; i < 4; i++) {
      const data = new Float32Array(frames * dim);
      for (let j = 0; j < data.length; j++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        data[j] = seed / 0x7fffffff - 0.5;
      }
      batch.push({ data, frames, dim });
    }
    return fastestOf(() => this.runLogits(batch));
  }

  features(samples: Float32Array): Features {
    return this.frontEnd.compute(samples);
  }

  /** Output frames the model produces for `numSamples` samples (for batching budgets). */
  outputFrames(numSamples: number): number {
    return lfrFrameCount(numSamples, this.meta.lfrN);
  }

  private async runLogits(batch: Features[]): Promise<{ scores: Float32Array; frames: number; vocab: number }> {
    const dim = batch[0]!.dim;
    const maxFrames = Math.max(1, ...batch.map((f) => f.frames));
    const x = new Float32Array(batch.length * maxFrames * dim); // zero padding
    const lengths = new Int32Array(batch.length);
    batch.forEach((f, i) => {
      x.set(f.data.subarray(0, f.frames * dim), i * maxFrames * dim);
      lengths[i] = f.frames;
    });
    const half = this.report.precision === 'fp16';
    const dims = [batch.length, maxFrames, dim];
    const feeds: Record<string, ort.Tensor> = {
      x: half ? new ort.Tensor('float16', float32ToHalf(x), dims) : new ort.Tensor('float32', x, dims),
      x_length: new ort.Tensor('int32', lengths, [batch.length]),
    };
    const names = this.session.inputNames;
    if (names.includes('language')) {
      feeds.language = new ort.Tensor('int32', new Int32Array(batch.length), [batch.length]);
    }
    if (names.includes('text_norm')) {
      feeds.text_norm = new ort.Tensor('int32', new Int32Array(batch.length).fill(15), [batch.length]);
    }
    const out = await this.session.run(feeds);
    const logits = out[this.session.outputNames[0]!]!;
    const [, frames, vocab] = logits.dims as [number, number, number];
    const data = logits.data;
    const scores = data instanceof Float32Array ? data : halfToFloat32(data as Uint16Array);
    logits.dispose();
    return { scores, frames, vocab };
  }

  /** Runs one padded batch; the CTC scores of each utterance (padding and prefix positions left out). */
  async scores(batch: Features[]): Promise<UtteranceScores[]> {
    if (batch.length === 0) return [];
    const { scores, frames, vocab } = await this.runLogits(batch);
    const skip = this.meta.prefixFrames;
    return batch.map((f, i) => ({ scores, offset: (i * frames + skip) * vocab, frames: Math.min(f.frames, frames - skip) }));
  }

  /** Decodes one utterance's scores with the model's decoder, or with `decoder` (e.g. to tune LM weights). */
  decode(u: UtteranceScores, durationSec: number, decoder: Decoder = this.decoder): Transcript {
    const v = this.meta.vocab;
    const path =
      decoder.kind === 'greedy'
        ? greedyPath(u.scores, u.offset, u.frames, v.tokens.length, v.blankId)
        : beamSearchPath(u.scores, u.offset, u.frames, v, decoder.options);
    return decodeCtc(
      path,
      v,
      { frameShiftSec: this.meta.frameShiftSec, segmentGapSec: this.config.segmentGapSec, maxSegmentSec: this.config.maxSegmentSec },
      durationSec,
    );
  }

  /** The decoder this model was loaded with. */
  get activeDecoder(): Decoder {
    return this.decoder;
  }

  /** Runs one padded batch and decodes every utterance. `durations` in seconds, for the transcript. */
  async inferFeatures(batch: Features[], durations: number[]): Promise<Transcript[]> {
    const utts = await this.scores(batch);
    return utts.map((u, i) => this.decode(u, durations[i] ?? 0));
  }

  async transcribe(batch: Float32Array[]): Promise<Transcript[]> {
    return this.inferFeatures(
      batch.map((s) => this.features(s)),
      batch.map((s) => s.length / 16000),
    );
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
