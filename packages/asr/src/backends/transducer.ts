/**
 * NeMo TDT transducers (Parakeet TDT, sherpa-onnx's export: encoder, decoder, joiner)
 * on onnxruntime-node, decoding as sherpa-onnx does (../families/nemo-transducer.ts) but
 * batched across the utterances of a batch:
 *
 * - the encoder runs once per batch: features zero-padded after per-feature
 *   normalisation (as sherpa-onnx pads them), channels-first [N, bins, T], lengths int64;
 *   each utterance decodes `encoded_lengths` frames;
 * - the greedy search keeps one state per utterance (frame, tokens this frame, decoder
 *   output, LSTM states) and runs the joiner on the current frame of every utterance not
 *   yet finished in one call, then the decoder on every utterance that emitted a token in
 *   one call; an utterance drops out of the calls when it reaches its last frame
 *   (VOXFLEET_TDT_SEARCH=sequential searches each utterance on its own instead, as
 *   sherpa-onnx does: the same results, for measuring one against the other).
 *
 * NeMo's exporter declares the batch axis of the decoder's second LSTM state as 1 (a trace
 * artefact; the graph computes any batch): it is relaxed in memory at load (../onnx-dims.ts).
 * Where a decoder's state batch stays fixed at 1 anyway, its steps run one utterance at
 * a time (the joiner still batched). One session per graph, opened once; provider ×
 * precision chosen like every backend (select.ts), the three graphs of one precision
 * together.
 */
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { AsrConfig, Provider } from '../config.js';
import type { LoadReport } from '../ctc-model.js';
import type { Transcript } from '../ctc.js';
import type { BatchTiming } from '../engine-protocol.js';
import { SymbolTable, TdtSearch, nemoTransducerEncoderFrames, tdtTranscript, type TdtTranscript } from '../families/index.js';
import { createFrontEnd, type FrontEndFeatures, type SpecFrontEnd } from '../frontend/spec.js';
import { fileDigest, modelIdentity } from '../identity.js';
import { relaxInputDims } from '../onnx-dims.js';
import type { ModelSpec, TransducerSpec } from '../registry.js';
import { openSession, weightsNote, type ModelVariant } from '../session.js';
import type { JobOptions } from './family.js';
import { chooseStepBatching, fastestOf, selectSession, calibrationAudio } from './select.js';

interface Sessions {
  encoder: ort.InferenceSession;
  decoder: ort.InferenceSession;
  joiner: ort.InferenceSession;
  /** decoder steps of many utterances in one call (its state inputs take any batch) */
  batchedDecoder: boolean;
  notes: string[];
}

async function release(s: Partial<Sessions>): Promise<void> {
  for (const x of [s.encoder, s.decoder, s.joiner]) await x?.release();
}

/** Opens one precision's three graphs on `provider` (the decoder's fixed state batch relaxed). */
async function openParts(variant: ModelVariant, provider: Provider, config: AsrConfig, t: TransducerSpec): Promise<Sessions> {
  const parts = variant.parts!;
  const open: Partial<Sessions> = {};
  try {
    open.encoder = await openSession({ precision: variant.precision, file: parts.encoder }, provider, config);
    const states = t.decoder.inputs.slice(2, 4);
    const fixed = states.filter((s) => s.dims[1] === 1).map((s) => s.name);
    let relaxed: string[] = [];
    open.decoder = await openSession({ precision: variant.precision, file: parts.decoder }, provider, config, (bytes) => {
      if (fixed.length === 0) return null;
      relaxed = relaxInputDims(bytes, fixed, 1);
      return relaxed.length ? `decoder state ${relaxed.join(', ')}: batch axis declared 1 by the export, relaxed at load` : null;
    });
    open.joiner = await openSession({ precision: variant.precision, file: parts.joiner }, provider, config);
    const notes = [open.encoder, open.decoder, open.joiner].map((s) => weightsNote(s).weights).filter((n): n is string => n !== undefined);
    let batchedDecoder = relaxed.length === fixed.length;
    if (batchedDecoder) {
      const problem = await decoderBatchProblem(open.decoder, t);
      if (problem) {
        batchedDecoder = false;
        notes.push(`decoder steps one utterance at a time: ${problem}`);
      }
    }
    return { encoder: open.encoder, decoder: open.decoder, joiner: open.joiner, batchedDecoder, notes };
  } catch (err) {
    await release(open);
    throw err;
  }
}

/**
 * Why the decoder cannot step two utterances in one call, or null when it can: a call with two rows
 * (different tokens and states) must give each row what a call with that row alone gives (within
 * rounding; an int8 decoder's activation scale is shared by the rows). Checked once at load, so a
 * decoder whose graph does not take the relaxed batch after all decodes one utterance at a time.
 */
async function decoderBatchProblem(decoder: ort.InferenceSession, t: TransducerSpec): Promise<string | null> {
  const { vocabSize: V, predRnnLayers: L, predHidden: H } = t.info;
  const names = t.decoder.inputs.map((s) => s.name) as [string, string, string, string];
  const outNames = t.decoder.outputs.slice(0, 4).map((s) => s.name).filter((_, i) => i !== 1);
  const state = (rows: number, row0: number): Float32Array => Float32Array.from({ length: L * rows * H }, (_, k) => Math.sin(0.37 * (k % H) + 1.3 * (row0 + Math.floor(k / H) % rows) + 0.7 * Math.floor(k / (rows * H))) * 0.5);
  const run = async (tokens: number[], row0: number): Promise<Float32Array[]> => {
    const rows = tokens.length;
    const out = await decoder.run({
      [names[0]]: new ort.Tensor('int32', Int32Array.from(tokens), [rows, 1]),
      [names[1]]: new ort.Tensor('int32', new Int32Array(rows).fill(1), [rows]),
      [names[2]]: new ort.Tensor('float32', state(rows, row0), [L, rows, H]),
      [names[3]]: new ort.Tensor('float32', state(rows, row0).map((v) => -v), [L, rows, H]),
    });
    try {
      return outNames.map((n) => (out[n]!.data as Float32Array).slice());
    } finally {
      for (const x of Object.values(out)) x.dispose();
    }
  };
  try {
    const both = await run([V - 1, 0], 0);
    const one = [await run([V - 1], 0), await run([0], 1)];
    for (let o = 0; o < both.length; o++) {
      const b = both[o]!;
      const rowsOf = [one[0]![o]!, one[1]![o]!];
      const size = rowsOf[0]!.length;
      // outputs [rows, H', 1] are row-major by row; states [L, rows, H] interleave the rows per layer
      const layers = o === 0 ? 1 : L;
      const per = size / layers;
      const scale = Math.max(1e-6, ...Array.from(b, Math.abs));
      for (let l = 0; l < layers; l++) {
        for (let r = 0; r < 2; r++) {
          for (let k = 0; k < per; k++) {
            const got = b[(l * 2 + r) * per + k]!;
            const want = rowsOf[r]![l * per + k]!;
            if (!(Math.abs(got - want) <= 1e-3 + 0.02 * scale)) return `a call with two utterances gives row ${r} of ${outNames[o]} ${got} where it alone gives ${want}`;
          }
        }
      }
    }
    return null;
  } catch (err) {
    return `it refuses a call with two utterances (${(err as Error).message.split('\n')[0]})`;
  }
}

/** A digest of every file of the variant (encoder, its external weights when there are, decoder, joiner). */
async function variantDigest(v: ModelVariant): Promise<string> {
  const parts = v.parts!;
  const files = [parts.encoder, join(parts.encoder, '..', 'encoder.weights'), parts.decoder, parts.joiner];
  const h = createHash('sha256');
  for (const f of files) {
    if (f.endsWith('encoder.weights') && (v.precision !== 'fp32' || !existsSync(f))) continue;
    h.update(await fileDigest(f)).update('\0');
  }
  return h.digest('hex').slice(0, 12);
}

export class TransducerModel {
  private readonly t: TransducerSpec;

  private constructor(
    private readonly s: Sessions,
    readonly spec: ModelSpec,
    private readonly frontEnd: SpecFrontEnd,
    private readonly table: SymbolTable,
    readonly report: LoadReport,
    private readonly config: AsrConfig,
  ) {
    this.t = spec.transducer!;
  }

  static async load(spec: ModelSpec, config: AsrConfig): Promise<TransducerModel> {
    const t0 = performance.now();
    const t = spec.transducer;
    if (!t || !spec.frontEnd || !spec.tokensFile) throw new Error(`${spec.kind} needs its transducer spec, a front-end and tokens.txt`);
    const frontEnd = createFrontEnd(spec.frontEnd);
    const table = await SymbolTable.read(spec.tokensFile);
    const sel = await selectSession(
      config,
      spec.variants,
      (sessions: Sessions, variant, provider) =>
        new TransducerModel(sessions, spec, frontEnd, table, {
          modelId: '',
          modelName: spec.name,
          aliases: spec.aliases,
          languages: spec.languages,
          kind: spec.kind,
          options: spec.options,
          version: spec.metadata.url ?? spec.metadata.comment ?? spec.kind,
          decoder: '',
          file: variant.file,
          provider,
          precision: variant.precision,
          loadMs: 0,
          calibration: [],
          ...(sessions.notes.length ? { weights: sessions.notes.join('; ') } : {}),
        }, config),
      (m) => m.calibrate(),
      (variant, provider) => openParts(variant, provider, config, t),
    );
    const r = sel.model.report;
    r.calibration = sel.calibration;
    r.modelId = modelIdentity({ name: spec.name, digest: await variantDigest(sel.variant), decoderTag: '', precision: r.precision }).id;
    await sel.model.chooseSearch();
    r.loadMs = Math.round(performance.now() - t0);
    return sel.model;
  }

  /** each utterance's search on its own, as sherpa-onnx runs them (else the batch's searches together) */
  private sequential = false;

  /**
   * VOXFLEET_TDT_SEARCH: `auto` times the calibration batch (4 x 6 s) searched together and one utterance at a
   * time, on the provider and precision chosen, and keeps the faster (both give the same tokens in fp32:
   * parity-tdt.test.ts); `batched` / `sequential` fix it. The encoder runs once per batch either way.
   */
  private async chooseSearch(): Promise<void> {
    const mode = this.config.tdtSearch;
    const audio = calibrationAudio(4, 6);
    const feats = audio.map((a) => this.frontEnd.compute(a));
    const durs = audio.map(() => 6);
    const choice = await chooseStepBatching(
      { name: 'VOXFLEET_TDT_SEARCH', value: mode, batched: 'batched', single: 'sequential' },
      '4 x 6 s',
      () => this.runBatch(feats, durs, false),
      () => this.runBatch(feats, durs, true),
    );
    this.sequential = !choice.batched;
    const why = choice.why;
    this.report.decoder = `TDT greedy (${this.t.numDurations} durations, ≤ 5 tokens per frame; ${
      this.sequential
        ? `each utterance searched on its own (${why})`
        : `joiner steps batched across utterances, decoder steps ${this.s.batchedDecoder ? 'too' : 'one utterance at a time: its state batch is fixed at 1'} (${why})`
    })`;
  }

  /** Encoder output frames for `numSamples` samples: the batcher's cost. */
  frames(numSamples: number): number {
    return Math.max(1, nemoTransducerEncoderFrames(this.frontEnd.frames(numSamples)));
  }

  /** Fastest of 5 runs of 4 × 6 s of synthetic audio (its front-end computed once). */
  private async calibrate(): Promise<number> {
    const audio = calibrationAudio(4, 6);
    const feats = audio.map((a) => this.frontEnd.compute(a));
    return fastestOf(() => this.runBatch(feats, audio.map(() => 6)));
  }

  /** Front-end, inference and decoding of one batch (no per-job options: Parakeet takes none). */
  async transcribe(audio: Float32Array[], _options: JobOptions[] = []): Promise<{ transcripts: Transcript[]; timing: BatchTiming }> {
    const t0 = performance.now();
    const feats = audio.map((a) => this.frontEnd.compute(a));
    const t1 = performance.now();
    const transcripts = await this.runBatch(
      feats,
      audio.map((a) => a.length / 16000),
    );
    const t2 = performance.now();
    const frames = feats.map((f) => Math.max(1, nemoTransducerEncoderFrames(f.frames)));
    return {
      transcripts,
      timing: { frontEndMs: t1 - t0, inferenceMs: t2 - t1, paddedFrames: Math.max(0, ...frames) * frames.length, frames: frames.reduce((a, b) => a + b, 0) },
    };
  }

  /** The encoder on the whole batch: its output time-major [N, T', D] and each utterance's length. */
  private async encode(feats: FrontEndFeatures[]): Promise<{ enc: Float32Array; frames: number; dim: number; lengths: number[] }> {
    const n = feats.length;
    const bins = feats[0]!.dim;
    const maxFrames = Math.max(1, ...feats.map((f) => f.frames));
    const x = new Float32Array(n * bins * maxFrames); // zero padding, as sherpa-onnx pads
    const lengths = new BigInt64Array(n);
    feats.forEach((f, i) => {
      for (let b = 0; b < bins; b++) x.set(f.data.subarray(b * f.frames, (b + 1) * f.frames), (i * bins + b) * maxFrames);
      lengths[i] = BigInt(f.frames);
    });
    const [xName, lenName] = this.t.encoder.inputs.map((s) => s.name) as [string, string];
    const [outName, outLenName] = this.t.encoder.outputs.map((s) => s.name) as [string, string];
    const out = await this.s.encoder.run({ [xName]: new ort.Tensor('float32', x, [n, bins, maxFrames]), [lenName]: new ort.Tensor('int64', lengths, [n]) });
    try {
      const y = out[outName]!;
      const [, dim, frames] = y.dims as [number, number, number];
      const data = y.data as Float32Array;
      // [N, D, T'] → [N, T', D] (sherpa-onnx's Transpose12): one frame's D values contiguous
      const enc = new Float32Array(n * frames * dim);
      for (let i = 0; i < n; i++) {
        for (let d = 0; d < dim; d++) {
          const src = (i * dim + d) * frames;
          for (let t = 0; t < frames; t++) enc[(i * frames + t) * dim + d] = data[src + t]!;
        }
      }
      const raw = out[outLenName]!.data as ArrayLike<bigint | number>;
      const lens = Array.from({ length: n }, (_, i) => Math.min(frames, Number(raw[i]!)));
      return { enc, frames, dim, lengths: lens };
    } finally {
      for (const t of Object.values(out)) t.dispose();
    }
  }

  /** One decoder step for `rows` utterances (targets[i] for row i; states [L, rows, H]). */
  private async decoderStep(targets: Int32Array, h: Float32Array, c: Float32Array): Promise<{ out: Float32Array; h: Float32Array; c: Float32Array }> {
    const rows = targets.length;
    const { predRnnLayers: L, predHidden: H } = this.t.info;
    const names = this.t.decoder.inputs.map((s) => s.name) as [string, string, string, string];
    const outNames = this.t.decoder.outputs.map((s) => s.name);
    const out = await this.s.decoder.run({
      [names[0]]: new ort.Tensor('int32', targets, [rows, 1]),
      [names[1]]: new ort.Tensor('int32', new Int32Array(rows).fill(1), [rows]),
      [names[2]]: new ort.Tensor('float32', h, [L, rows, H]),
      [names[3]]: new ort.Tensor('float32', c, [L, rows, H]),
    });
    try {
      const y = out[outNames[0]!]!;
      const width = y.dims[1] as number;
      const u = y.dims[2] as number;
      // decoder output [rows, H', U]: the last position per row (U is 1: one target per step)
      const data = y.data as Float32Array;
      const dec = new Float32Array(rows * width);
      for (let r = 0; r < rows; r++) for (let k = 0; k < width; k++) dec[r * width + k] = data[(r * width + k) * u + (u - 1)]!;
      return { out: dec, h: (out[outNames[2]!]!.data as Float32Array).slice(), c: (out[outNames[3]!]!.data as Float32Array).slice() };
    } finally {
      for (const t of Object.values(out)) t.dispose();
    }
  }

  /** Decoder steps for the given utterances, batched or one at a time; the results written into their rows. */
  private async advance(ids: number[], tokens: number[], st: { dec: Float32Array; h: Float32Array; c: Float32Array; n: number; width: number }): Promise<void> {
    const { predRnnLayers: L, predHidden: H } = this.t.info;
    const groups = this.s.batchedDecoder ? [ids.map((_, k) => k)] : ids.map((_, k) => [k]);
    for (const g of groups) {
      const m = g.length;
      const h = new Float32Array(L * m * H);
      const c = new Float32Array(L * m * H);
      g.forEach((k, r) => {
        const i = ids[k]!;
        for (let l = 0; l < L; l++) {
          h.set(st.h.subarray((l * st.n + i) * H, (l * st.n + i + 1) * H), (l * m + r) * H);
          c.set(st.c.subarray((l * st.n + i) * H, (l * st.n + i + 1) * H), (l * m + r) * H);
        }
      });
      const res = await this.decoderStep(Int32Array.from(g, (k) => tokens[k]!), h, c);
      g.forEach((k, r) => {
        const i = ids[k]!;
        st.dec.set(res.out.subarray(r * st.width, (r + 1) * st.width), i * st.width);
        for (let l = 0; l < L; l++) {
          st.h.set(res.h.subarray((l * m + r) * H, (l * m + r + 1) * H), (l * st.n + i) * H);
          st.c.set(res.c.subarray((l * m + r) * H, (l * m + r + 1) * H), (l * st.n + i) * H);
        }
      });
    }
  }

  private async runBatch(feats: FrontEndFeatures[], durations: number[], sequential = this.sequential): Promise<TdtTranscript[]> {
    const n = feats.length;
    if (n === 0) return [];
    const encoded = await this.encode(feats);
    const searches = encoded.lengths.map((len) => new TdtSearch(len, this.t.info.vocabSize));
    const all = searches.map((_, i) => i);
    // 'sequential': each utterance's search on its own, as sherpa-onnx runs them (the reference for the batched one)
    for (const lanes of sequential ? all.map((i) => [i]) : [all]) await this.search(lanes, searches, encoded);
    const segmenting = { segmentGapSec: this.config.segmentGapSec, maxSegmentSec: this.config.maxSegmentSec };
    return searches.map((s, i) => tdtTranscript(s, this.table, this.t.info, { durationSec: durations[i]!, ...segmenting }));
  }

  /**
   * The greedy search of the utterances `lanes` (indices into the batch), together: each joiner call
   * scores the current frame of every one not finished, each decoder call advances every one that
   * emitted a token. Decoder state rows are by position in `lanes`.
   */
  private async search(lanes: number[], searches: TdtSearch[], encoded: { enc: Float32Array; frames: number; dim: number }): Promise<void> {
    const { vocabSize: V, predRnnLayers: L, predHidden: H } = this.t.info;
    const { enc, frames, dim } = encoded;
    const n = lanes.length;
    // the decoder's first step on the blank, from zero states, for every lane (one call when it batches)
    const zeros = { dec: new Float32Array(0), h: new Float32Array(L * n * H), c: new Float32Array(L * n * H), n, width: 0 };
    const rows = lanes.map((_, k) => k);
    const first = this.s.batchedDecoder ? await this.decoderStep(new Int32Array(n).fill(V - 1), zeros.h, zeros.c) : null;
    const st = first ? { dec: first.out, h: first.h, c: first.c, n, width: first.out.length / n } : zeros;
    if (!first) {
      const one = await this.decoderStep(Int32Array.of(V - 1), new Float32Array(L * H), new Float32Array(L * H));
      st.width = one.out.length;
      st.dec = new Float32Array(n * st.width);
      await this.advance(rows, rows.map(() => V - 1), st);
    }
    const [encName, decName] = this.t.joiner.inputs.map((s) => s.name) as [string, string];
    const outName = this.t.joiner.outputs[0]!.name;
    for (;;) {
      const active = rows.filter((k) => !searches[lanes[k]!]!.done);
      if (active.length === 0) break;
      const a = active.length;
      const e = new Float32Array(a * dim);
      const d = new Float32Array(a * st.width);
      active.forEach((k, j) => {
        const i = lanes[k]!;
        const t = searches[i]!.t;
        e.set(enc.subarray((i * frames + t) * dim, (i * frames + t + 1) * dim), j * dim);
        d.set(st.dec.subarray(k * st.width, (k + 1) * st.width), j * st.width);
      });
      const out = await this.s.joiner.run({ [encName]: new ort.Tensor('float32', e, [a, dim, 1]), [decName]: new ort.Tensor('float32', d, [a, st.width, 1]) });
      const emitted: number[] = [];
      const tokens: number[] = [];
      try {
        const y = out[outName]!;
        const w = y.dims[3] as number;
        const logits = y.data as Float32Array;
        active.forEach((k, j) => {
          const tok = searches[lanes[k]!]!.step(logits, j * w, w);
          if (tok >= 0) {
            emitted.push(k);
            tokens.push(tok);
          }
        });
      } finally {
        for (const t of Object.values(out)) t.dispose();
      }
      if (emitted.length > 0) await this.advance(emitted, tokens, st);
    }
  }

  async release(): Promise<void> {
    await release(this.s);
  }
}
