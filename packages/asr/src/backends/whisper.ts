/**
 * Whisper, sherpa-onnx's export (encoder + decoder with self caches, cross K/V and one
 * `offset`; contract §5a), on onnxruntime-node, decoding as sherpa-onnx does
 * (../families/whisper.ts) but batched across the utterances of a batch:
 *
 * - features: the Whisper log-mel normalised over each utterance's real frames (at most
 *   2950: sherpa-onnx drops the rest), zero-padded to min(T + 1000, 3000) frames as
 *   sherpa-onnx pads them. The encoder has no mask, so an utterance's result depends on
 *   its padded length: utterances run together only when that length is the same
 *   (every utterance of 20 s or more pads to 3000 frames); each such group is one
 *   encoder call [N, n_mels, T] and one decoder batch.
 * - language detection (language auto, multilingual models): one decoder step on [sot]
 *   for every utterance of the group that needs it, in one call.
 * - decoding: the export takes ONE `offset` for the whole batch, so the batch's sequences
 *   are kept at aligned positions: every sequence of a group has a prompt of the same
 *   length (sot, language, task, no_timestamps — the language differs, not the length)
 *   and advances one token per step, so step k of every sequence writes cache row P + k
 *   and one offset serves them all. A sequence that ends (eot, its token budget
 *   min(frames / 100 * 6, 224), or the context) leaves the batch: its rows are dropped
 *   from the caches and the cross K/V before the next step (a per-sequence stop; the
 *   others' positions stay aligned). Sequences with different prompt lengths would need
 *   different offsets: they cannot share a call (and do not occur: timestamps and task
 *   are model-level settings).
 * - `kvCache: false` (tests only) recomputes every step from the whole sequence at offset
 *   0 with empty caches: what the cached decoding must equal.
 *
 * The transformers.js / optimum layout (decodeOptimum) decodes the same way on its merged decoder,
 * as transformers.js does; with segment timestamps its rules, segments and seek step are
 * transformers.js's (decodeOptimumSeek; ../families/whisper.ts), sherpa-onnx's for its export.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { AsrConfig, Provider } from '../config.js';
import type { LoadReport } from '../ctc-model.js';
import type { Transcript } from '../ctc.js';
import type { BatchTiming } from '../engine-protocol.js';
import { readFile } from 'node:fs/promises';
import { SymbolTable } from '../families/symbols.js';
import {
  WhisperSearch,
  byteLevelVocabulary,
  detectLanguage,
  shiftTimestamps,
  transformersSeekStep,
  whisperMaxTokens,
  whisperPrompt,
  whisperTranscript,
  type WhisperModelInfo,
  type WhisperTranscript,
  type WhisperVocabulary,
} from '../families/whisper.js';
import { createFrontEnd, type FrontEndFeatures, type SpecFrontEnd } from '../frontend/spec.js';
import { fileDigest, modelIdentity } from '../identity.js';
import type { ModelSpec } from '../registry.js';
import type { WhisperSpec } from '../whisper-registry.js';
import { openSession, weightsNote, type GraphOptimization, type ModelVariant } from '../session.js';
import { UnsupportedOptionError, type JobOptions } from './family.js';
import { chooseStepBatching, fastestOf, selectSession, calibrationAudio } from './select.js';

/** sherpa-onnx's limits (offline-recognizer-whisper-impl.h DecodeStream). */
export const WHISPER_MAX_FRAMES = 3000;
export const WHISPER_KEPT_FRAMES = WHISPER_MAX_FRAMES - 50;
export const WHISPER_TAIL_PADDING = 1000;

/** The frames an utterance of `frames` feature frames is padded to (sherpa-onnx's actual_frames). */
export function whisperPaddedFrames(frames: number): number {
  return Math.min(Math.min(frames, WHISPER_KEPT_FRAMES) + WHISPER_TAIL_PADDING, WHISPER_MAX_FRAMES);
}

interface Sessions {
  encoder: ort.InferenceSession;
  decoder: ort.InferenceSession;
  notes: string[];
}

/** the levels `auto` tries besides `all` (extended measured within a few per cent of all: not worth a load-time run) */
const AUTO_DECODER_LEVELS: GraphOptimization[] = ['basic', 'disabled'];

async function openParts(variant: ModelVariant, provider: Provider, config: AsrConfig): Promise<Sessions> {
  const parts = variant.whisper!;
  const encoder = await openSession({ precision: variant.precision, file: parts.encoder }, provider, config);
  try {
    // a fixed VOXFLEET_WHISPER_DECODER_OPT opens the decoder at that level; auto starts at all (chooseDecoderOptimization)
    const level = config.whisperDecoderOpt === 'auto' ? 'all' : config.whisperDecoderOpt;
    const decoder = await openSession({ precision: variant.precision, file: parts.decoder }, provider, { ...config, graphOptimization: level });
    const notes = [encoder, decoder].map((s) => weightsNote(s).weights).filter((n): n is string => n !== undefined);
    return { encoder, decoder, notes };
  } catch (err) {
    await encoder.release();
    throw err;
  }
}

/** A digest over the variant's files (and the .weights files of large exports when there are). */
async function variantDigest(v: ModelVariant): Promise<string> {
  const h = createHash('sha256');
  for (const f of [v.whisper!.encoder, v.whisper!.decoder]) {
    h.update(await fileDigest(f)).update('\0');
    const weights = f.replace(/\.onnx$/, '.weights');
    if (v.precision === 'fp32' && existsSync(weights)) h.update(await fileDigest(weights)).update('\0');
  }
  return h.digest('hex').slice(0, 12);
}

/** Rows `rows` of axis 1 of a [L, N, ...] tensor's data (caches, cross K/V), as a new [L, rows.length, ...] array. */
function gatherAxis1(data: Float32Array, dims: readonly number[], rows: readonly number[]): Float32Array {
  const [L, N] = dims as [number, number];
  const inner = data.length / (L * N);
  const out = new Float32Array(L * rows.length * inner);
  for (let l = 0; l < L; l++) rows.forEach((r, k) => out.set(data.subarray((l * N + r) * inner, (l * N + r + 1) * inner), (l * rows.length + k) * inner));
  return out;
}

export interface WhisperRunOptions {
  /** false: recompute every step without the caches (tests) */
  kvCache?: boolean;
  /** true / false: the batch's sequences in one decoder call / one per call; absent: what load chose (VOXFLEET_WHISPER_BATCH) */
  batched?: boolean;
}

/**
 * Passes of the optimum layout's seek loop one sequence gets at most: four, and one more per half second of its
 * input's mel frames (100 a second; the optimum front-end pads every input to the 30 s window, so 64). A pass
 * normally keeps everything up to its last complete segment, so real speech needs a few; the bound only stops a
 * model that keeps cutting its passes short by a few frames (e.g. hallucinating on noise), which would otherwise
 * re-encode the window up to 1500 times.
 */
function maxSeekPasses(frames: number): number {
  return 4 + Math.ceil(frames / 50);
}

export class WhisperModel {
  private readonly w: WhisperSpec;
  private readonly info: WhisperModelInfo;
  private readonly names: { mel: string; crossK: string; crossV: string; dec: string[]; out: string[] };

  private constructor(
    private readonly s: Sessions,
    readonly spec: ModelSpec,
    private readonly frontEnd: SpecFrontEnd,
    private readonly table: WhisperVocabulary,
    readonly report: LoadReport,
    private readonly config: AsrConfig,
  ) {
    this.w = spec.whisper!;
    this.info = this.w.info;
    // bound by position, as sherpa-onnx binds them
    const e = this.w.encoder;
    this.names = {
      mel: e.inputs[0]!.name,
      crossK: e.outputs[0]?.name ?? '',
      crossV: e.outputs[1]?.name ?? '',
      dec: this.w.decoder.inputs.map((x) => x.name),
      out: this.w.decoder.outputs.map((x) => x.name),
    };
  }

  static async load(spec: ModelSpec, config: AsrConfig): Promise<WhisperModel> {
    const t0 = performance.now();
    const w = spec.whisper;
    if (!w || !spec.frontEnd || !spec.tokensFile) throw new Error(`${spec.kind} needs its whisper spec, a front-end and tokens`);
    if (config.whisperTimestamps && w.info.timestampBegin + 1500 >= w.info.nVocab) {
      // <|0.00|> .. <|30.00|>: 1501 ids from no_timestamps + 1
      throw new Error(`${spec.dir}: segment timestamps (VOXFLEET_WHISPER_TIMESTAMPS) need the 1501 timestamp tokens after no_timestamps ${w.info.noTimestamps}; the vocabulary has ${w.info.nVocab} ids`);
    }
    const frontEnd = createFrontEnd(spec.frontEnd);
    const table: WhisperVocabulary =
      w.layout === 'optimum' ? byteLevelVocabulary(JSON.parse(await readFile(spec.tokensFile, 'utf8')) as Parameters<typeof byteLevelVocabulary>[0]) : await SymbolTable.read(spec.tokensFile, { base64: true });
    const mode = `${config.whisperTask}${config.whisperTimestamps ? ', segment timestamps' : ', no timestamps'}`;
    const sel = await selectSession(
      config,
      spec.variants,
      (sessions: Sessions, variant, provider) =>
        new WhisperModel(sessions, spec, frontEnd, table, {
          modelId: '',
          modelName: spec.name,
          aliases: spec.aliases,
          languages: spec.languages,
          kind: spec.kind,
          options: spec.options,
          version: spec.metadata.model_type ?? spec.kind,
          decoder: `Whisper greedy (${w.layout} layout; ${mode}; decoder steps batched at aligned positions, ${w.layout === 'optimum' ? 'one past length' : 'one offset'} per batch)`,
          file: variant.file,
          provider,
          precision: variant.precision,
          loadMs: 0,
          calibration: [],
          ...(sessions.notes.length ? { weights: sessions.notes.join('; ') } : {}),
        }, config),
      (m) => m.calibrate(),
      (variant, provider) => openParts(variant, provider, config),
    );
    const r = sel.model.report;
    r.calibration = sel.calibration;
    const tag = `${config.whisperTimestamps ? '+ts' : ''}${config.whisperTask === 'translate' ? '+translate' : ''}`;
    r.modelId = modelIdentity({ name: spec.name, digest: await variantDigest(sel.variant), decoderTag: tag, precision: r.precision }).id;
    await sel.model.chooseBatching();
    await sel.model.chooseDecoderOptimization(sel.variant, sel.provider);
    r.loadMs = Math.round(performance.now() - t0);
    return sel.model;
  }

  /** decoder steps of a batch's sequences in one call (else one sequence at a time) */
  private batching = true;
  /** the calibration batch's time as chooseBatching left it (absent when VOXFLEET_WHISPER_BATCH fixed it) */
  private calibratedMs: number | undefined;

  /**
   * VOXFLEET_WHISPER_BATCH: `auto` times the calibration batch (4 x 6 s, one padded length) decoded
   * batched and one sequence at a time on the chosen provider and precision, and keeps the faster
   * (both give the same tokens: parity-whisper.test.ts); `on` / `off` fix it.
   */
  private async chooseBatching(): Promise<void> {
    const r = this.report;
    const { feats, opts, durs } = this.calibrationBatch();
    const choice = await chooseStepBatching(
      { name: 'VOXFLEET_WHISPER_BATCH', value: this.config.whisperBatch, batched: 'on', single: 'off' },
      '4 x 6 s',
      () => this.runBatch(feats, opts, durs, { batched: true }),
      () => this.runBatch(feats, opts, durs, { batched: false }),
    );
    this.batching = choice.batched;
    this.calibratedMs = choice.ms;
    const steps = this.batching ? `decoder steps batched at aligned positions, ${this.w.layout === 'optimum' ? 'one past length' : 'one offset'} per batch` : 'decoder steps one sequence at a time';
    r.decoder = r.decoder.replace(/decoder steps batched at aligned positions, one (offset|past length) per batch/, `${steps} (${choice.why})`);
  }

  /**
   * VOXFLEET_WHISPER_DECODER_OPT: `auto` times the calibration batch (as chooseBatching left it) with the decoder
   * opened at each level of AUTO_DECODER_LEVELS and keeps the fastest; a level fixes it. The encoder stays at `all`.
   * The levels compute the same graph (their fusions reorder float operations at most: parity-whisper runs on auto).
   */
  private async chooseDecoderOptimization(variant: ModelVariant, provider: Provider): Promise<void> {
    const setting = this.config.whisperDecoderOpt;
    if (setting === 'all') return;
    const r = this.report;
    if (setting !== 'auto') {
      // openParts opened it at this level
      r.decoder += `; decoder graph optimisation ${setting} (VOXFLEET_WHISPER_DECODER_OPT=${setting})`;
      return;
    }
    const open = (level: GraphOptimization): Promise<ort.InferenceSession> =>
      openSession({ precision: variant.precision, file: variant.whisper!.decoder }, provider, { ...this.config, graphOptimization: level });
    const { feats, opts, durs } = this.calibrationBatch();
    const warm = calibrationAudio(1, 1).map((a) => this.frontEnd.compute(a));
    // one timed run per level after a short warm-up (a new session's first run allocates): load time, not precision
    const time = async (): Promise<number> => {
      await this.runBatch(warm, [opts[0]!], [1]);
      const t = performance.now();
      await this.runBatch(feats, opts, durs);
      return performance.now() - t;
    };
    let best: { level: GraphOptimization; ms: number } = { level: 'all', ms: this.calibratedMs ?? (await time()) };
    const measured = [`all ${best.ms.toFixed(0)} ms`];
    for (const level of AUTO_DECODER_LEVELS) {
      const kept = this.s.decoder;
      this.s.decoder = await open(level);
      let ms: number;
      try {
        ms = await time();
      } catch (err) {
        await this.s.decoder.release();
        this.s.decoder = kept;
        throw err;
      }
      measured.push(`${level} ${ms.toFixed(0)} ms`);
      if (ms < best.ms) {
        best = { level, ms };
        await kept.release();
      } else {
        await this.s.decoder.release();
        this.s.decoder = kept;
      }
    }
    r.decoder += `; decoder graph optimisation ${best.level} (measured at load on 4 x 6 s: ${measured.join(', ')})`;
  }

  private calibrationBatch(): { feats: FrontEndFeatures[]; opts: JobOptions[]; durs: number[] } {
    const audio = calibrationAudio(4, 6);
    return { feats: audio.map((a) => this.frontEnd.compute(a)), opts: audio.map(() => ({ language: 'en', itn: null })), durs: audio.map(() => 6) };
  }

  /** Encoder frames (20 ms) for `numSamples` samples: the batcher's cost. */
  frames(numSamples: number): number {
    return Math.max(1, Math.ceil(Math.min(this.frontEnd.frames(numSamples), WHISPER_KEPT_FRAMES) / 2));
  }

  private async calibrate(): Promise<number> {
    const { feats, opts, durs } = this.calibrationBatch();
    return fastestOf(() => this.runBatch(feats, opts, durs), 2);
  }

  async transcribe(audio: Float32Array[], options: JobOptions[] = []): Promise<{ transcripts: Transcript[]; timing: BatchTiming }> {
    const opts = audio.map((_, i) => options[i] ?? { language: null, itn: null });
    for (const o of opts) this.languageToken(o.language); // refuse a bad language before any work
    const t0 = performance.now();
    const feats = audio.map((a) => this.frontEnd.compute(a));
    const t1 = performance.now();
    const transcripts = await this.runBatch(
      feats,
      opts,
      audio.map((a) => a.length / 16000),
    );
    const t2 = performance.now();
    const frames = audio.map((a) => this.frames(a.length));
    return {
      transcripts,
      timing: { frontEndMs: t1 - t0, inferenceMs: t2 - t1, paddedFrames: Math.max(0, ...frames) * frames.length, frames: frames.reduce((a, b) => a + b, 0) },
    };
  }

  /** The language token a job asks for, null for detection; UnsupportedOptionError for a language the model lacks. */
  private languageToken(language: string | null): number | null {
    if (language === null || language === 'auto') {
      // an English-only model has no language tokens: nothing to detect
      return null;
    }
    if (!this.info.multilingual) {
      if (language === 'en') return null;
      throw new UnsupportedOptionError(`language "${language}": this Whisper model is English-only`);
    }
    const id = this.info.languages.get(language);
    if (id === undefined) throw new UnsupportedOptionError(`language "${language}" is not one of this model's (${[...this.info.languages.keys()].join(', ')})`);
    return id;
  }

  /** Front-end features → transcripts, in input order. */
  async runBatch(feats: FrontEndFeatures[], options: JobOptions[], durations: number[], run: WhisperRunOptions = {}): Promise<WhisperTranscript[]> {
    const out = new Array<WhisperTranscript>(feats.length);
    const groups = new Map<number, number[]>();
    feats.forEach((f, i) => {
      const padded = this.w.layout === 'optimum' ? f.frames : whisperPaddedFrames(f.frames);
      const g = groups.get(padded) ?? [];
      g.push(i);
      groups.set(padded, g);
    });
    for (const [padded, members] of groups) {
      const oneByOne = run.batched === false || (run.batched === undefined && !this.batching);
      const lanes = oneByOne ? members.map((m) => [m]) : [members];
      for (const lane of lanes) {
        const langs = lane.map((i) => this.languageToken(options[i]!.language));
        const budgets = lane.map((i) => Math.min(Math.floor((durations[i]! * 16000) / 160), 3000));
        const searches =
          this.w.layout === 'optimum'
            ? this.config.whisperTimestamps
              ? await this.decodeOptimumSeek(lane.map((i) => feats[i]!), budgets, langs, run.kvCache !== false)
              : await this.decodeOptimum(lane.map((i) => feats[i]!), budgets, langs, run.kvCache !== false)
            : await this.decodeGroup(lane.map((i) => feats[i]!), padded, langs, run.kvCache !== false);
        lane.forEach((i, k) => (out[i] = whisperTranscript(searches[k]!, this.table, this.info, { durationSec: durations[i]! })));
      }
    }
    return out;
  }

  /** The encoder on utterances padded to `padded` frames: cross K/V [L, n, T', D]. */
  private async encode(feats: FrontEndFeatures[], padded: number): Promise<{ k: ort.Tensor; v: ort.Tensor }> {
    const n = feats.length;
    const bins = this.info.nMels;
    const mel = new Float32Array(n * bins * padded); // zeros after the real frames, as sherpa-onnx pads
    // the front-end keeps at most 2950 frames, normalised over those (spec maxFrames)
    feats.forEach((f, i) => {
      for (let b = 0; b < bins; b++) mel.set(f.data.subarray(b * f.frames, (b + 1) * f.frames), (i * bins + b) * padded);
    });
    const out = await this.s.encoder.run({ [this.names.mel]: new ort.Tensor('float32', mel, [n, bins, padded]) });
    return { k: out[this.names.crossK]!, v: out[this.names.crossV]! };
  }

  /**
   * One decoder run. `into`: tensors of the self caches' shape the updated caches are written into
   * (onnxruntime's pre-allocated outputs) instead of buffers it allocates and onnxruntime-node copies
   * into new JavaScript memory on every step (a few MB per step for base, tens for large models).
   */
  private async step(
    tokens: BigInt64Array,
    rows: number,
    width: number,
    k: ort.Tensor,
    v: ort.Tensor,
    ck: ort.Tensor,
    cv: ort.Tensor,
    offset: number,
    into?: { k: ort.Tensor; v: ort.Tensor },
  ): Promise<ort.InferenceSession.ReturnType> {
    const [t, kc, vc, xk, xv, off] = this.names.dec as [string, string, string, string, string, string];
    const feeds = {
      [t]: new ort.Tensor('int64', tokens, [rows, width]),
      [kc]: k,
      [vc]: v,
      [xk]: ck,
      [xv]: cv,
      [off]: new ort.Tensor('int64', BigInt64Array.of(BigInt(offset)), [1]),
    };
    if (!into) return this.s.decoder.run(feeds);
    const [logits, outK, outV] = this.names.out as [string, string, string];
    const out = await this.s.decoder.run(feeds, { [logits]: null, [outK]: into.k, [outV]: into.v });
    // the caches are the tensors given (whatever wrapper the binding returns for them)
    return { ...out, [outK]: into.k, [outV]: into.v };
  }

  private zeroCache(rows: number): ort.Tensor {
    const { nTextLayer: L, nTextCtx: C, nTextState: D } = this.info;
    return new ort.Tensor('float32', new Float32Array(L * rows * C * D), [L, rows, C, D]);
  }

  private subset(t: ort.Tensor, rows: readonly number[]): ort.Tensor {
    const dims = [...t.dims];
    if (rows.length === dims[1] && rows.every((r, i) => r === i)) return t;
    const data = gatherAxis1(t.data as Float32Array, dims, rows);
    dims[1] = rows.length;
    return new ort.Tensor('float32', data, dims);
  }

  private async decodeGroup(feats: FrontEndFeatures[], padded: number, languages: (number | null)[], kvCache: boolean): Promise<WhisperSearch[]> {
    const n = feats.length;
    const info = this.info;
    const { k: crossK, v: crossV } = await this.encode(feats, padded);
    const vocab = info.nVocab;
    // language detection for the sequences that need it: one step on [sot] for all of them
    const detect = info.multilingual ? languages.map((l, i) => (l === null ? i : -1)).filter((i) => i >= 0) : [];
    const chosen = [...languages];
    if (detect.length > 0) {
      const out = await this.step(new BigInt64Array(detect.length).fill(BigInt(info.sot)), detect.length, 1, this.zeroCache(detect.length), this.zeroCache(detect.length), this.subset(crossK, detect), this.subset(crossV, detect), 0);
      const logits = out[this.names.out[0]!]!.data as Float32Array;
      detect.forEach((i, r) => (chosen[i] = detectLanguage(info, logits, r * vocab)));
    }
    const timestamps = this.config.whisperTimestamps;
    const searches = feats.map(
      (f, i) =>
        new WhisperSearch(info, whisperPrompt(info, chosen[i] ?? null, { task: this.config.whisperTask, timestamps }), whisperMaxTokens(info, Math.min(f.frames, WHISPER_KEPT_FRAMES)), timestamps, info.multilingual ? (chosen[i] ?? info.sotSequence[1]!) : null),
    );
    const P = searches[0]!.prompt.length;
    if (searches.some((s) => s.prompt.length !== P)) throw new Error('internal: prompts of one batch differ in length');
    const logitsOut = this.names.out[0]!;
    if (!kvCache) return this.decodeWithoutCache(searches, crossK, crossV);
    // the prompt, every sequence at once, offset 0
    const prompt = new BigInt64Array(n * P);
    searches.forEach((s, i) => s.prompt.forEach((t, j) => (prompt[i * P + j] = BigInt(t))));
    let out = await this.step(prompt, n, P, this.zeroCache(n), this.zeroCache(n), crossK, crossV, 0);
    let rows = searches.map((_, i) => i); // the sequences in the current tensors, in order
    const pick = (res: ort.InferenceSession.ReturnType, members: number[], width: number): void => {
      const y = res[logitsOut]!;
      const data = y.data as Float32Array;
      members.forEach((i, r) => searches[i]!.choose(data, (r * width + width - 1) * vocab, vocab));
    };
    pick(out, rows, P);
    let kc = out[this.names.out[1]!]!;
    let vc = out[this.names.out[2]!]!;
    let ck = crossK;
    let cv = crossV;
    // two sets of cache tensors take turns as a step's input and its output (see step)
    let spare: { k: ort.Tensor; v: ort.Tensor } | undefined;
    for (let offset = P; ; offset++) {
      const active = rows.filter((i) => searches[i]!.advance());
      if (active.length === 0) break;
      if (active.length !== rows.length) {
        // finished sequences leave the batch: their cache and cross rows are dropped
        const keep = active.map((i) => rows.indexOf(i));
        kc = this.subset(kc, keep);
        vc = this.subset(vc, keep);
        ck = this.subset(ck, keep);
        cv = this.subset(cv, keep);
        rows = active;
        spare = undefined;
      }
      const into = spare ?? { k: this.zeroCache(rows.length), v: this.zeroCache(rows.length) };
      out = await this.step(BigInt64Array.from(rows, (i) => BigInt(searches[i]!.next)), rows.length, 1, kc, vc, ck, cv, offset, into);
      spare = { k: kc, v: vc };
      kc = into.k;
      vc = into.v;
      if (offset + 1 >= info.nTextCtx - 1) {
        for (const i of rows) searches[i]!.stop();
        break;
      }
      pick(out, rows, 1);
    }
    return searches;
  }

  /** Every step recomputed from the whole sequence (prompt + tokens so far) at offset 0 with empty caches. */
  private async decodeWithoutCache(searches: WhisperSearch[], crossK: ort.Tensor, crossV: ort.Tensor): Promise<WhisperSearch[]> {
    const vocab = this.info.nVocab;
    for (let i = 0; i < searches.length; i++) {
      const s = searches[i]!;
      const ck = this.subset(crossK, [i]);
      const cv = this.subset(crossV, [i]);
      for (let first = true; ; first = false) {
        if (!first && !s.advance()) break;
        if (!first && s.all.length >= this.info.nTextCtx - 1) {
          s.stop();
          break;
        }
        const seq = BigInt64Array.from(s.all, (t) => BigInt(t));
        const out = await this.step(seq, 1, seq.length, this.zeroCache(1), this.zeroCache(1), ck, cv, 0);
        s.choose(out[this.names.out[0]!]!.data as Float32Array, (seq.length - 1) * vocab, vocab);
      }
    }
    return searches;
  }

  // ---- transformers.js / optimum layout: encoder_model + decoder_model_merged (use_cache_branch) ----

  private emptyPast(rows: number): ort.Tensor {
    return new ort.Tensor('float32', new Float32Array(0), [rows, this.w.heads!, 0, this.w.headDim!]);
  }

  /** One merged-decoder run; past: per layer [decoder key, decoder value, encoder key, encoder value]. */
  private async stepOptimum(ids: BigInt64Array, rows: number, width: number, hidden: ort.Tensor, past: ort.Tensor[][], useCache: boolean): Promise<ort.InferenceSession.ReturnType> {
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', ids, [rows, width]),
      encoder_hidden_states: hidden,
      use_cache_branch: new ort.Tensor('bool', Uint8Array.of(useCache ? 1 : 0), [1]),
    };
    past.forEach((p, i) => {
      feeds[`past_key_values.${i}.decoder.key`] = p[0]!;
      feeds[`past_key_values.${i}.decoder.value`] = p[1]!;
      feeds[`past_key_values.${i}.encoder.key`] = p[2]!;
      feeds[`past_key_values.${i}.encoder.value`] = p[3]!;
    });
    return this.s.decoder.run(feeds);
  }

  private freshPast(rows: number): ort.Tensor[][] {
    return Array.from({ length: this.info.nTextLayer }, () => [0, 1, 2, 3].map(() => this.emptyPast(rows)));
  }

  /** Rows of axis 0 (the batch) of a [B, ...] tensor. */
  private rows0(t: ort.Tensor, rows: readonly number[]): ort.Tensor {
    const dims = [...t.dims];
    if (rows.length === dims[0] && rows.every((r, i) => r === i)) return t;
    const data = t.data as Float32Array;
    const inner = data.length / dims[0]!;
    const out = new Float32Array(rows.length * inner);
    rows.forEach((r, k) => out.set(data.subarray(r * inner, (r + 1) * inner), k * inner));
    dims[0] = rows.length;
    return new ort.Tensor('float32', out, dims);
  }

  /**
   * The optimum layout: one encoder call for the batch (every utterance is 3000 frames), language
   * detection as one [sot] step, then the merged decoder: step 1 without cache on every prompt
   * (use_cache_branch false, zero-length past; the encoder K/V it returns are kept), then one token per
   * sequence per call with the cache branch. The decoder's position is the past length, one for the
   * batch: the sequences stay aligned as with sherpa-onnx's offset, and a finished one leaves the batch.
   */
  private async decodeOptimum(feats: FrontEndFeatures[], frames: number[], languages: (number | null)[], kvCache: boolean): Promise<WhisperSearch[]> {
    const info = this.info;
    const n = feats.length;
    const bins = info.nMels;
    const T = feats[0]!.frames;
    const x = new Float32Array(n * bins * T);
    feats.forEach((f, i) => x.set(f.data, i * bins * T));
    const encOut = await this.s.encoder.run({ [this.names.mel]: new ort.Tensor('float32', x, [n, bins, T]) });
    const hidden = encOut[this.w.encoder.outputs[0]!.name]!;
    const V = info.nVocab;
    const logitsOf = (out: ort.InferenceSession.ReturnType): Float32Array => out.logits!.data as Float32Array;
    const chosen = [...languages];
    const detect = info.multilingual ? languages.map((l, i) => (l === null ? i : -1)).filter((i) => i >= 0) : [];
    if (detect.length > 0) {
      const out = await this.stepOptimum(new BigInt64Array(detect.length).fill(BigInt(info.sot)), detect.length, 1, this.rows0(hidden, detect), this.freshPast(detect.length), false);
      const lg = logitsOf(out);
      detect.forEach((i, r) => (chosen[i] = detectLanguage(info, lg, r * V)));
    }
    const timestamps = this.config.whisperTimestamps;
    const searches = feats.map(
      (_, i) =>
        new WhisperSearch(
          info,
          whisperPrompt(info, chosen[i] ?? null, { task: this.config.whisperTask, timestamps }),
          whisperMaxTokens(info, frames[i]!),
          timestamps,
          info.multilingual ? (chosen[i] ?? info.sotSequence[1]!) : null,
          this.w.suppress ?? null,
          'transformers.js',
        ),
    );
    const P = searches[0]!.prompt.length;
    if (!kvCache) {
      for (let i = 0; i < n; i++) {
        const s = searches[i]!;
        const h = this.rows0(hidden, [i]);
        for (let first = true; ; first = false) {
          if (!first && !s.advance()) break;
          if (!first && s.all.length >= info.nTextCtx) {
            s.stop();
            break;
          }
          const out = await this.stepOptimum(BigInt64Array.from(s.all, (t) => BigInt(t)), 1, s.all.length, h, this.freshPast(1), false);
          s.choose(logitsOf(out), (s.all.length - 1) * V, V);
        }
      }
      return searches;
    }
    const prompt = new BigInt64Array(n * P);
    searches.forEach((s, i) => s.prompt.forEach((t, j) => (prompt[i * P + j] = BigInt(t))));
    let out = await this.stepOptimum(prompt, n, P, hidden, this.freshPast(n), false);
    const L = info.nTextLayer;
    const presentOf = (o: ort.InferenceSession.ReturnType, i: number, s: string, kv: string): ort.Tensor => o[`present.${i}.${s}.${kv}`]!;
    // the encoder K/V of step 1 are kept: the cache branch returns placeholders for them
    let encKv = Array.from({ length: L }, (_, i) => [presentOf(out, i, 'encoder', 'key'), presentOf(out, i, 'encoder', 'value')]);
    let decKv = Array.from({ length: L }, (_, i) => [presentOf(out, i, 'decoder', 'key'), presentOf(out, i, 'decoder', 'value')]);
    let rows = searches.map((_, i) => i);
    let h = hidden;
    const pick = (o: ort.InferenceSession.ReturnType, width: number): void => {
      const lg = logitsOf(o);
      rows.forEach((i, r) => searches[i]!.choose(lg, (r * width + width - 1) * V, V));
    };
    pick(out, P);
    for (let len = P; ; len++) {
      const active = rows.filter((i) => searches[i]!.advance());
      if (active.length === 0) break;
      if (active.length !== rows.length) {
        const keep = active.map((i) => rows.indexOf(i));
        encKv = encKv.map((p) => p.map((t) => this.rows0(t, keep)));
        decKv = decKv.map((p) => p.map((t) => this.rows0(t, keep)));
        h = this.rows0(h, keep);
        rows = active;
      }
      const past = decKv.map((d, i) => [d[0]!, d[1]!, encKv[i]![0]!, encKv[i]![1]!]);
      out = await this.stepOptimum(BigInt64Array.from(rows, (i) => BigInt(searches[i]!.next)), rows.length, 1, h, past, true);
      decKv = Array.from({ length: L }, (_, i) => [presentOf(out, i, 'decoder', 'key'), presentOf(out, i, 'decoder', 'value')]);
      if (len + 1 >= info.nTextCtx) {
        for (const i of rows) searches[i]!.stop();
        break;
      }
      pick(out, 1);
    }
    return searches;
  }

  /**
   * Segment timestamps in the optimum layout, as transformers.js's generate() makes them for one input of at
   * most 30 s (WhisperForConditionalGeneration._generate_with_seek): the window is decoded (decodeOptimum,
   * the sequences of the batch together); a sequence whose tokens stop inside a segment (a timestamp pair and
   * no single closing timestamp at the end: transformersSeekStep) keeps them up to its last pair and is
   * decoded again on the mel frames from that timestamp on, zero-padded to the window (as transformers.js
   * pads the slice), its timestamps moved by the frames skipped; until the window's frames are used up or a
   * pass gives no token. The language of the first pass (given or detected) is kept for the later ones.
   * One guard transformers.js lacks: a pass that would not move on (its last pair at <|0.00|>) ends the
   * sequence rather than decoding the same frames again, and a sequence gets at most maxSeekPasses passes (64:
   * one moving on by a few frames each time would otherwise hold its batch back for up to 1500). One difference kept: each pass stops at VoxFleet's
   * token budget (min(frames / 100 x 6, 224), as without timestamps), transformers.js's at the generation
   * config's max_length (448 with the prompt): where VoxFleet's cuts a pass inside a segment, that pass is
   * decoded again from its last pair where transformers.js would have gone on.
   */
  private async decodeOptimumSeek(feats: FrontEndFeatures[], frames: number[], languages: (number | null)[], kvCache: boolean): Promise<WhisperSearch[]> {
    const info = this.info;
    const tb = info.timestampBegin;
    const bins = info.nMels;
    const state = feats.map((f, i) => ({ seek: 0, passes: 0, tokens: [] as number[], language: languages[i] ?? null, first: undefined as WhisperSearch | undefined, total: f.frames }));
    let pending = feats.map((_, i) => i);
    while (pending.length > 0) {
      const input = pending.map((i) => {
        const f = feats[i]!;
        const seek = state[i]!.seek;
        if (seek === 0) return f;
        const T = f.frames;
        const data = new Float32Array(bins * T);
        for (let b = 0; b < bins; b++) data.set(f.data.subarray(b * T + seek, (b + 1) * T), b * T);
        return { ...f, data };
      });
      const res = await this.decodeOptimum(input, pending.map((i) => frames[i]!), pending.map((i) => state[i]!.language), kvCache);
      const next: number[] = [];
      res.forEach((s, k) => {
        const st = state[pending[k]!]!;
        if (!st.first) {
          st.first = s;
          if (info.multilingual) st.language = s.language;
        }
        const generated = s.predicted;
        if (generated.length === 0) return;
        const { keep, advance } = transformersSeekStep(generated, tb, st.total - st.seek);
        st.tokens.push(...shiftTimestamps(generated.slice(0, keep), tb, Math.floor(st.seek / 2)));
        if (advance <= 0) return;
        st.seek += advance;
        st.passes += 1;
        if (st.seek < st.total && st.passes < maxSeekPasses(st.total)) next.push(pending[k]!);
      });
      pending = next;
    }
    return state.map((st) => {
      const first = st.first!;
      const s = new WhisperSearch(info, first.prompt, first.maxTokens, true, first.language, first.suppress, 'transformers.js');
      s.predicted.push(...st.tokens);
      s.all.push(...st.tokens);
      s.done = true;
      return s;
    });
  }

  async release(): Promise<void> {
    await this.s.encoder.release();
    await this.s.decoder.release();
  }
}
