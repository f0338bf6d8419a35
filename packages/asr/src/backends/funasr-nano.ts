/**
 * Fun-ASR-Nano (sherpa-onnx's LLM export: encoder_adaptor, embedding, llm with a fixed-size
 * KV cache and key/value deltas; docs/model-contracts.md §4) on onnxruntime-node, decoding
 * as sherpa-onnx's OfflineRecognizerFunASRNanoImpl does (../families/funasr-nano.ts) but
 * with the LLM steps of many utterances in one call:
 *
 * - the encoder_adaptor takes one utterance (batch fixed to 1): utterances run one after
 *   another; each prompt is the ChatML prompt (@voxfleet/tokenizer) with its job's language,
 *   ITN and hotwords, `<|endoftext|>` ids at the audio rows (all rows by default, as
 *   sherpa-onnx; FunASR's ≈T/8 selectable), fitted into max_total_len as sherpa-onnx trims;
 * - the LLM runs the prompts of a batch together, left-padded to the longest: padding rows
 *   are 0 in each sequence's attention_mask and their cache rows are kept at zero, so a
 *   sequence sees only its own rows (RoPE is relative: the shift by its padding leaves its
 *   attention as it was); cache_position is shared (one [S] for the batch, as the graph
 *   takes it). Each step embeds the last token of every unfinished sequence in one
 *   embedding call and runs one LLM call; a sequence stops on `<|endoftext|>` /
 *   `<|im_end|>`, its own budget (max_total_len − its prompt, at most 512 new tokens) or the
 *   repetition guard, and leaves the batch (its cache rows are dropped). A sequence whose
 *   padding would make the shared cache run out before its own budget is decoded again
 *   alone, so a batch decodes exactly as one at a time.
 * - continuous batching: transcribe calls share one running LLM loop, so the prompts of a
 *   request that arrives while another's sequences decode join them as slots free up
 *   (the engine thread lets such requests run side by side: `concurrent` in its ready
 *   message, and the worker keeps several batches in flight).
 * - the fp16 build's caches and deltas are float16 (copied as raw halves).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { PromptError, chatMlIds, funAsrNanoPromptText, loadTokenizer, type Tokenizer } from '@voxfleet/tokenizer';
import type { AsrConfig, Provider } from '../config.js';
import type { LoadReport } from '../ctc-model.js';
import { round3, transcriptOf, type Transcript } from '../ctc.js';
import type { BatchTiming } from '../engine-protocol.js';
import {
  NANO_REPETITION_GUARD,
  argmaxFinite,
  fitPrompt,
  nanoAudioRows,
  nanoText,
  nanoTimestamps,
  repetitionCut as repetitionCutOf,
  type FittedPrompt,
  type NanoAudioRows,
  type NanoPositions,
  type NanoModelInfo,
  type RepetitionGuard,
} from '../families/funasr-nano.js';
import { createFrontEnd, type FrontEndFeatures, type SpecFrontEnd } from '../frontend/spec.js';
import { halfBitsToFloat as halfBits } from '../fp16.js';
import { fileDigest, modelIdentity } from '../identity.js';
import type { ModelSpec } from '../registry.js';
import { openSession, weightsNote, type ModelVariant } from '../session.js';
import { UnsupportedOptionError, type JobOptions } from './family.js';
import { chooseStepBatching, fastestOf, selectSession, calibrationAudio } from './select.js';

interface Sessions {
  encoder: ort.InferenceSession;
  embedding: ort.InferenceSession;
  llm: ort.InferenceSession;
  notes: string[];
}

async function releaseAll(s: Partial<Sessions>): Promise<void> {
  for (const x of [s.encoder, s.embedding, s.llm]) await x?.release();
}

async function openParts(variant: ModelVariant, provider: Provider, config: AsrConfig): Promise<Sessions> {
  const p = variant.nano!;
  const open: Partial<Sessions> = {};
  try {
    open.encoder = await openSession({ precision: variant.precision, file: p.encoderAdaptor }, provider, config);
    open.embedding = await openSession({ precision: variant.precision, file: p.embedding }, provider, config);
    open.llm = await openSession({ precision: variant.precision, file: p.llm }, provider, config);
    const notes = [open.encoder, open.embedding, open.llm].map((s) => weightsNote(s).weights).filter((n): n is string => n !== undefined);
    return { encoder: open.encoder, embedding: open.embedding, llm: open.llm, notes };
  } catch (err) {
    await releaseAll(open);
    throw err;
  }
}

async function variantDigest(v: ModelVariant): Promise<string> {
  const p = v.nano!;
  const h = createHash('sha256');
  const data = p.llm.replace(/\.onnx$/, '.data');
  for (const f of [p.encoderAdaptor, p.embedding, p.llm, ...(existsSync(data) ? [data] : [])]) h.update(await fileDigest(f)).update('\0');
  return h.digest('hex').slice(0, 12);
}

/** Per-utterance options of Nano: JobOptions plus hotwords. */
export interface NanoJobOptions extends JobOptions {
  hotwords?: readonly string[] | null;
}

/** One prompt ready for the LLM: its ids and input rows (audio injected), its budget. */
export interface NanoPrompt {
  fitted: FittedPrompt;
  /** [ids.length × hidden] */
  embeds: Float32Array;
}

export type NanoStop = 'eos' | 'im_end' | 'budget' | 'max_new_tokens' | 'repetition' | 'cache_full';

export interface NanoGenerated {
  ids: number[];
  stop: NanoStop;
}

/**
 * The rules every generated token meets, in the cached and the recomputing decoder alike: either stop token ends the
 * sequence, the repetition guard cuts it, and it ends at `maxNew` new tokens or when its own positions (`promptLen` +
 * generated, sherpa-onnx's valid_len) reach `maxTotal`. Records `tok` in `res`; false when the sequence ends here.
 */
function acceptToken(
  res: NanoGenerated,
  tok: number,
  stops: { endOfText: number; imEnd: number },
  guard: RepetitionGuard | null,
  promptLen: number,
  maxNew: number,
  maxTotal: number,
): boolean {
  if (tok === stops.endOfText || tok === stops.imEnd) {
    res.stop = tok === stops.endOfText ? 'eos' : 'im_end';
    return false;
  }
  res.ids.push(tok);
  if (guard) {
    const cut = repetitionCutOf(res.ids, guard);
    if (cut >= 0) {
      res.ids.length = cut;
      res.stop = 'repetition';
      return false;
    }
  }
  const own = promptLen + res.ids.length;
  if (res.ids.length >= maxNew || own >= maxTotal) {
    res.stop = own >= maxTotal ? 'budget' : 'max_new_tokens';
    return false;
  }
  return true;
}


/** One sequence of the LLM loop: its prompt and guard, its result so far, and the promise its caller awaits. */
interface NanoSequence {
  prompt: NanoPrompt;
  guard: RepetitionGuard | null;
  res: NanoGenerated;
  finished: Promise<NanoGenerated>;
  done(): void;
  fail(err: unknown): void;
}

function newSequence(prompt: NanoPrompt, guard: RepetitionGuard | null): NanoSequence {
  const res: NanoGenerated = { ids: [], stop: 'budget' };
  let done!: () => void;
  let fail!: (err: unknown) => void;
  const finished = new Promise<NanoGenerated>((resolve, reject) => {
    done = () => resolve(res);
    fail = reject;
  });
  // a caller that stopped waiting (its own error) must not leave an unhandled rejection behind
  finished.catch(() => undefined);
  return { prompt, guard, res, finished, done, fail };
}

/** Sequences an LLM call decodes together at most (the rest join as others finish). */
export const NANO_LLM_BATCH = 16;

export interface NanoDecodeOptions {
  /** decode the prompts in one batch (default) or one at a time */
  batch?: boolean;
  /** sequences in one LLM call at most (default NANO_LLM_BATCH); more prompts join as others finish */
  maxBatch?: number;
  guard?: RepetitionGuard | null;
}

export class NanoModel {
  /** counters for tests and the load report: LLM calls, batches started, sequences that joined a running batch, sequences a batch's cache end cut that went on alone */
  readonly stats = { llmCalls: 0, batches: 0, joins: 0, continued: 0 };

  private constructor(
    private readonly s: Sessions,
    readonly spec: ModelSpec,
    readonly info: NanoModelInfo,
    private readonly frontEnd: SpecFrontEnd,
    readonly tokenizer: Tokenizer,
    readonly report: LoadReport,
    private readonly audioRowsMode: NanoAudioRows,
    /** where generated tokens go in the cache: 'sherpa' (default) or 'contiguous' (see NanoPositions) */
    readonly positions: NanoPositions,
  ) {}

  static async load(spec: ModelSpec, config: AsrConfig, opts: { audioRows?: NanoAudioRows; positions?: NanoPositions } = {}): Promise<NanoModel> {
    const t0 = performance.now();
    const n = spec.nano;
    if (!n || !spec.frontEnd) throw new Error(`${spec.kind} needs its nano spec and front-end`);
    const frontEnd = createFrontEnd(spec.frontEnd);
    const tokenizer = await loadTokenizer(n.tokenizerDir);
    const audioRows = opts.audioRows ?? n.audioRows;
    const positions = opts.positions ?? n.positions;
    const sel = await selectSession(
      config,
      spec.variants,
      (sessions: Sessions, variant, provider) => {
        const info = n.byPrecision[variant.precision] ?? n.info;
        return new NanoModel(sessions, spec, info, frontEnd, tokenizer, {
          modelId: '',
          modelName: spec.name,
          aliases: spec.aliases,
          languages: spec.languages,
          kind: spec.kind,
          options: spec.options,
          version: spec.metadata.url ?? spec.metadata.comment ?? spec.kind,
          decoder: `LLM greedy (stop <|endoftext|>/<|im_end|>, ≤ ${info.maxTotalLen} positions, repetition guard; audio rows: ${audioRows}; positions: ${positions}; ${info.cacheType} cache; LLM steps batched across utterances)`,
          file: variant.file,
          provider,
          precision: variant.precision,
          loadMs: 0,
          calibration: [],
          ...(sessions.notes.length ? { weights: sessions.notes.join('; ') } : {}),
        }, audioRows, positions);
      },
      (m) => m.calibrate(),
      (variant, provider) => openParts(variant, provider, config),
    );
    const r = sel.model.report;
    r.calibration = sel.calibration;
    if (config.nanoRepetitionGuard === 'off') {
      sel.model.guard = null;
      r.decoder = r.decoder.replace('repetition guard', 'no repetition guard (VOXFLEET_NANO_REPETITION_GUARD=off: to the budget, as sherpa-onnx)');
    }
    const tag = [audioRows === 'all' ? '' : 'lfr-rows', positions === 'sherpa' ? '' : 'contiguous', sel.model.guard ? '' : 'noguard'].filter(Boolean).join('+');
    r.modelId = modelIdentity({ name: spec.name, digest: await variantDigest(sel.variant), decoderTag: tag, precision: r.precision }).id;
    await sel.model.chooseBatching(config);
    r.loadMs = Math.round(performance.now() - t0);
    return sel.model;
  }

  /** LLM steps of a batch's sequences in one call (else one sequence at a time) */
  private batching = true;
  /** the repetition guard transcripts are decoded with (null: none, as sherpa-onnx) */
  private guard: RepetitionGuard | null = NANO_REPETITION_GUARD;

  /**
   * VOXFLEET_NANO_BATCH: `auto` times the prompts of 4 x 3 s (calibrationPrompts) decoded batched and one at a
   * time on the provider and precision chosen, and keeps the faster; `on` / `off` fix it.
   * Both give the same ids in fp32 (parity-nano.test.ts).
   */
  private async chooseBatching(config: AsrConfig): Promise<void> {
    const prompts = await this.calibrationPrompts(4, 3);
    const choice = await chooseStepBatching(
      { name: 'VOXFLEET_NANO_BATCH', value: config.nanoBatch, batched: 'on', single: 'off' },
      '4 x 3 s, ≤ 32 new tokens each',
      () => this.generate(prompts, { batch: true, guard: null }),
      () => this.generate(prompts, { batch: false, guard: null }),
    );
    this.batching = choice.batched;
    this.report.decoder = this.report.decoder.replace(/; LLM steps batched across utterances\)$/, `; ${this.batching ? 'LLM steps batched across utterances' : 'LLM steps one utterance at a time'} (${choice.why}))`);
  }

  /** LFR rows for `numSamples` samples: the batcher's cost. */
  frames(numSamples: number): number {
    return Math.max(1, this.frontEnd.frames(numSamples));
  }

  /**
   * Front-end, encoder and prompts of `count` x `seconds` s of calibration audio, each sequence capped at 32 new
   * tokens: decode steps dominate the time as in real work, but the cost is bounded whatever the weights do
   * (random test weights, or the guard off, would otherwise run every sequence to the 512-position budget).
   */
  private async calibrationPrompts(count: number, seconds: number): Promise<NanoPrompt[]> {
    const prompts: NanoPrompt[] = [];
    for (const a of calibrationAudio(count, seconds)) {
      const p = await this.prompt(this.frontEnd.compute(a), { language: null, itn: null });
      if (p) prompts.push({ ...p, fitted: { ...p.fitted, maxNewTokens: Math.min(32, p.fitted.maxNewTokens) } });
    }
    return prompts;
  }

  private async calibrate(): Promise<number> {
    return fastestOf(async () => this.generate(await this.calibrationPrompts(2, 3), { guard: null }), 2);
  }

  /** Front-end, encoder, prompts and batched LLM decoding of one batch. */
  async transcribe(audio: Float32Array[], options: NanoJobOptions[] = []): Promise<{ transcripts: Transcript[]; timing: BatchTiming }> {
    const t0 = performance.now();
    const feats = audio.map((a) => this.frontEnd.compute(a));
    const t1 = performance.now();
    const prompts: (NanoPrompt | null)[] = [];
    for (let i = 0; i < feats.length; i++) prompts.push(await this.prompt(feats[i]!, options[i] ?? { language: null, itn: null }));
    const live = prompts.filter((p): p is NanoPrompt => p !== null);
    const gen = await this.generate(live, { batch: this.batching, guard: this.guard });
    let k = 0;
    const transcripts = prompts.map((p, i) => {
      const g = p ? gen[k++]! : { ids: [], stop: 'budget' as NanoStop };
      return this.transcript(g, p?.fitted.audioRows ?? 0, audio[i]!.length / 16000);
    });
    const t2 = performance.now();
    const frames = feats.map((f) => Math.max(1, f.frames));
    return {
      transcripts,
      timing: { frontEndMs: t1 - t0, inferenceMs: t2 - t1, paddedFrames: Math.max(0, ...frames) * frames.length, frames: frames.reduce((a, b) => a + b, 0) },
    };
  }

  /** The prompt ids of a job's options (before audio, after audio), UnsupportedOptionError for a bad one. */
  promptIds(options: NanoJobOptions): { before: number[]; after: number[] } {
    let text: { before: string; after: string };
    try {
      const hotwords = options.hotwords ?? [];
      for (const t of [...hotwords, options.language ?? '']) {
        const added = this.tokenizer.addedTokens.find((a) => t.includes(a.content));
        if (added) throw new PromptError(`${JSON.stringify(t)} contains the token ${added.content}`);
      }
      text = funAsrNanoPromptText({
        ...(options.language != null ? { language: options.language } : {}),
        itn: options.itn === true,
        hotwords,
      });
    } catch (err) {
      if (err instanceof PromptError) throw new UnsupportedOptionError(err.message);
      throw err;
    }
    return { before: this.tokenizer.encode(text.before), after: this.tokenizer.encode(text.after) };
  }

  /** Encoder, prompt ids, embeddings with the audio rows injected (null: too short for one LFR row). */
  async prompt(feats: FrontEndFeatures, options: NanoJobOptions): Promise<NanoPrompt | null> {
    const { before, after } = this.promptIds(options);
    if (feats.frames <= 0) return null;
    const H = this.info.hiddenSize;
    const enc = await this.encode(feats);
    const rows = nanoAudioRows(enc.rows, this.audioRowsMode);
    const fitted = fitPrompt(before, rows, after, chatMlIds(this.tokenizer).endOfText, this.info.maxTotalLen);
    const embeds = await this.embed([BigInt64Array.from(fitted.ids, BigInt)], fitted.ids.length);
    if (fitted.audioStart >= 0) {
      for (let t = 0; t < fitted.audioRows; t++) embeds.set(enc.data.subarray(t * H, (t + 1) * H), (fitted.audioStart + t) * H);
    }
    return { fitted, embeds };
  }

  private async encode(feats: FrontEndFeatures): Promise<{ data: Float32Array; rows: number }> {
    const inName = this.s.encoder.inputNames[0]!;
    const out = await this.s.encoder.run({ [inName]: new ort.Tensor('float32', feats.data.subarray(0, feats.frames * feats.dim), [1, feats.frames, feats.dim]) });
    try {
      const y = out[this.s.encoder.outputNames[0]!]!;
      const data = toFloat32(y);
      return { data, rows: y.dims[1] as number };
    } finally {
      for (const t of Object.values(out)) t.dispose();
    }
  }

  /** Embeddings of `rows` sequences of `len` ids each: [rows × len × hidden]. */
  private async embed(ids: BigInt64Array[], len: number): Promise<Float32Array> {
    const flat = new BigInt64Array(ids.length * len);
    ids.forEach((r, i) => flat.set(r, i * len));
    const out = await this.s.embedding.run({ [this.s.embedding.inputNames[0]!]: new ort.Tensor('int64', flat, [ids.length, len]) });
    try {
      return toFloat32(out[this.s.embedding.outputNames[0]!]!);
    } finally {
      for (const t of Object.values(out)) t.dispose();
    }
  }

  private transcript(g: NanoGenerated, rows: number, durationSec: number): Transcript & { sherpa: { text: string; tokens: string[]; timestamps: number[] } } {
    const special = new Set([chatMlIds(this.tokenizer).endOfText, chatMlIds(this.tokenizer).imEnd]);
    const { text, tokens } = nanoText(g.ids, (id) => this.tokenizer.idToToken(id), (id) => special.has(id));
    const stamps = nanoTimestamps(g.ids.length, rows, this.info.lfrWindowShift);
    const end = Math.fround(rows * Math.fround(Math.fround(10 * this.info.lfrWindowShift) / 1000));
    const timings = g.ids.map((id, i) => ({ id, text: tokens[i]!, start: round3(stamps[i] ?? 0), end: round3(Math.max(stamps[i] ?? 0, stamps[i + 1] ?? end)) }));
    const segments = text === '' ? [] : [{ start: timings[0]?.start ?? 0, end: round3(Math.min(durationSec, Math.max(end, timings.at(-1)?.end ?? 0))), text }];
    return { ...transcriptOf(segments, timings, durationSec), sherpa: { text, tokens, timestamps: stamps } };
  }

  /**
   * Greedy decoding of prompts: batched (default) or one at a time; both give the same ids.
   * Batched calls without their own `maxBatch` share one running LLM loop (continuous batching):
   * the prompts of a call made while another call's sequences decode join that loop as its
   * sequences finish, instead of waiting for the whole batch; each call resolves when its own
   * sequences are done.
   */
  async generate(prompts: readonly NanoPrompt[], opts: NanoDecodeOptions = {}): Promise<NanoGenerated[]> {
    const guard = opts.guard === undefined ? NANO_REPETITION_GUARD : opts.guard;
    if (prompts.length === 0) return [];
    if (opts.batch === false || prompts.length === 1) {
      const out: NanoGenerated[] = [];
      for (const p of prompts) out.push(await this.decodeAlone(p, guard));
      return out;
    }
    const seqs = prompts.map((p) => newSequence(p, guard));
    if (opts.maxBatch === undefined) {
      this.shared.push(...seqs);
      this.kick();
    } else await this.drain([...seqs], opts.maxBatch);
    const out = await Promise.all(seqs.map((q) => q.finished));
    // padding or a late join cut a sequence's room in the shared cache: it goes on alone from where it was
    for (let i = 0; i < out.length; i++) if (out[i]!.stop === 'cache_full') out[i] = await this.continueAlone(prompts[i]!, out[i]!, guard);
    return out;
  }

  /** sequences waiting for the shared LLM loop, and that loop while it runs */
  private readonly shared: NanoSequence[] = [];
  private sharedLoop: Promise<void> | undefined;

  /** Starts the shared loop unless it runs; one that ends while sequences were being added starts again. */
  private kick(): void {
    if (this.sharedLoop) return;
    this.sharedLoop = this.drain(this.shared, NANO_LLM_BATCH).finally(() => {
      this.sharedLoop = undefined;
      if (this.shared.length > 0) this.kick();
    });
  }

  /**
   * Finishes on its own a sequence that a shared batch's cache end cut (`sofar`, stopped 'cache_full'): its prompt, the
   * empty row (sherpa positions) and the tokens it has so far are prefilled in one call — the rows generateRecompute
   * builds, which the cached loop equals — and it decodes on from there, in a cache of its own where its whole budget
   * fits. One LLM call more than had it decoded alone from the start, instead of decoding it all again.
   */
  private async continueAlone(p: NanoPrompt, sofar: NanoGenerated, guard: RepetitionGuard | null): Promise<NanoGenerated> {
    const { hiddenSize: H, maxTotalLen: M, numLayers: L, numKvHeads, headDim, vocabSize } = this.info;
    const stops = chatMlIds(this.tokenizer);
    const len0 = p.fitted.ids.length;
    const gap = this.positions === 'sherpa' ? 1 : 0;
    const res: NanoGenerated = { ids: [...sofar.ids], stop: 'budget' };
    const S = len0 + gap + res.ids.length;
    const x = new Float32Array(S * H);
    x.set(p.embeds);
    x.set(await this.embed([BigInt64Array.from(res.ids, BigInt)], res.ids.length), (len0 + gap) * H);
    const mask = new BigInt64Array(M);
    mask.fill(1n, 0, S);
    if (gap) mask[len0] = 0n;
    const keys = Array.from({ length: L }, () => this.cacheBuffer(M * numKvHeads * headDim));
    const values = Array.from({ length: L }, () => this.cacheBuffer(M * numKvHeads * headDim));
    this.stats.continued++;
    let logits = await this.step(x, S, mask, 1, 0, keys, values, [0]);
    // alone, acceptToken's budget (own positions = M) ends the sequence before the cache end (pos = own + gap) is reached
    for (let pos = S; ; pos++) {
      const tok = argmaxFinite(logits.data, 0, vocabSize);
      if (!acceptToken(res, tok, stops, guard, len0, p.fitted.maxNewTokens, M)) return res;
      mask[pos] = 1n;
      logits = await this.step(await this.embed([BigInt64Array.of(BigInt(tok))], 1), 1, mask, 1, pos, keys, values, [0]);
    }
  }

  private async decodeAlone(p: NanoPrompt, guard: RepetitionGuard | null): Promise<NanoGenerated> {
    const q = newSequence(p, guard);
    await this.drain([q], 1);
    return q.finished;
  }

  /**
   * Runs batches from `queue` (which callers may grow meanwhile) until it is empty. A failed LLM
   * call fails the sequences of its batch and every one still waiting in `queue`.
   */
  private async drain(queue: NanoSequence[], maxBatch: number): Promise<void> {
    while (queue.length > 0) {
      try {
        await this.generateBatch(queue, maxBatch);
      } catch (err) {
        for (const q of queue.splice(0)) q.fail(err);
      }
    }
  }

  private cacheBuffer(n: number): Float32Array | Uint16Array {
    return this.info.cacheType === 'float16' ? new Uint16Array(n) : new Float32Array(n);
  }

  /**
   * The batched greedy loop. The first `maxBatch` prompts are prefilled together, left-padded to
   * the longest (pos = that length); then each step picks every active sequence's token, drops the
   * finished ones (their cache rows with them) and lets waiting prompts join: a joiner of length P
   * is prefilled alone at rows [pos − P, pos) (rows before masked, so it is left-padded by pos − P)
   * and decodes with the others from row pos on. A prompt joins when P ≤ pos and at least half of
   * its own budget is still free in the shared cache; one the cache end cuts before its own budget
   * stops with 'cache_full' (generate() lets it go on alone from there: continueAlone). Prompts left when the batch
   * empties start a new batch.
   */
  private async generateBatch(waiting: NanoSequence[], maxBatch: number): Promise<void> {
    const { hiddenSize: H, maxTotalLen: M, numLayers: L, numKvHeads, headDim, vocabSize } = this.info;
    const seqSize = M * numKvHeads * headDim;
    const ids = chatMlIds(this.tokenizer);
    const len = (q: NanoSequence): number => q.prompt.fitted.ids.length;
    // a prompt with no room for one new token is done before it starts
    for (const q of waiting.filter((x) => x.prompt.fitted.maxNewTokens <= 0)) {
      waiting.splice(waiting.indexOf(q), 1);
      q.done();
    }
    if (waiting.length === 0) return;
    let active = waiting.splice(0, Math.max(1, Math.min(maxBatch, waiting.length)));
    /** sequences of this batch not yet done: failed together when an LLM call throws */
    const live = new Set(active);
    try {
      this.stats.batches++;
      const P = Math.max(...active.map(len));
      const pad = new Map<NanoSequence, number>(active.map((q) => [q, P - len(q)]));
      // sherpa-onnx's positions: the row after each prompt stays empty and masked (see NanoPositions)
      const gap = this.positions === 'sherpa' ? 1 : 0;
      const hole = new Map<NanoSequence, number>(active.map((q) => [q, gap ? P : -1]));
      let keys: (Float32Array | Uint16Array)[] = Array.from({ length: L }, () => this.cacheBuffer(active.length * seqSize));
      let values: (Float32Array | Uint16Array)[] = Array.from({ length: L }, () => this.cacheBuffer(active.length * seqSize));
      // the caches of `to` (a list of sequences) from those of `from` plus extra single-sequence caches
      const rebuild = (from: NanoSequence[], to: NanoSequence[], extra: Map<NanoSequence, { k: (Float32Array | Uint16Array)[]; v: (Float32Array | Uint16Array)[] }>): void => {
        const nk: (Float32Array | Uint16Array)[] = [];
        const nv: (Float32Array | Uint16Array)[] = [];
        for (let l = 0; l < L; l++) {
          const k = this.cacheBuffer(to.length * seqSize);
          const v = this.cacheBuffer(to.length * seqSize);
          to.forEach((q, r) => {
            const at = from.indexOf(q);
            const srcK = at >= 0 ? keys[l]!.subarray(at * seqSize, (at + 1) * seqSize) : extra.get(q)!.k[l]!;
            const srcV = at >= 0 ? values[l]!.subarray(at * seqSize, (at + 1) * seqSize) : extra.get(q)!.v[l]!;
            k.set(srcK as never, r * seqSize);
            v.set(srcV as never, r * seqSize);
          });
          nk.push(k);
          nv.push(v);
        }
        keys = nk;
        values = nv;
      };
      // prefill of the first group
      const x = new Float32Array(active.length * P * H);
      const mask0 = new BigInt64Array(active.length * M);
      active.forEach((q, r) => {
        x.set(q.prompt.embeds, (r * P + pad.get(q)!) * H);
        for (let t = pad.get(q)!; t < P; t++) mask0[r * M + t] = 1n;
      });
      let logits = await this.step(x, P, mask0, active.length, 0, keys, values, active.map((q) => pad.get(q)!));
      let pos = P + gap; // the row the next tokens are written at
      /** records `tok` for sequence q; true when it goes on decoding (else it is done) */
      const decide = (q: NanoSequence, tok: number): boolean => {
        let more = acceptToken(q.res, tok, ids, q.guard, len(q), q.prompt.fitted.maxNewTokens, M);
        if (more && pos >= M) {
          q.res.stop = 'cache_full';
          more = false;
        }
        if (!more) {
          live.delete(q);
          q.done();
        }
        return more;
      };
      for (;;) {
        const cont: NanoSequence[] = [];
        const next: number[] = [];
        active.forEach((q, r) => {
          const tok = argmaxFinite(logits.data, r * vocabSize, vocabSize);
          if (decide(q, tok)) {
            cont.push(q);
            next.push(tok);
          }
        });
        // joiners (of this call or of later ones), prefilled one by one right-aligned to the shared position
        const joined = new Map<NanoSequence, { k: (Float32Array | Uint16Array)[]; v: (Float32Array | Uint16Array)[] }>();
        while (cont.length < maxBatch && waiting.length > 0 && pos < M) {
          const w = waiting.findIndex((q) => len(q) + gap <= pos && 2 * (M - pos) >= M - len(q) && q.prompt.fitted.maxNewTokens > 0);
          if (w < 0) break;
          const q = waiting.splice(w, 1)[0]!;
          live.add(q);
          const start = pos - gap - len(q);
          const k1 = Array.from({ length: L }, () => this.cacheBuffer(seqSize));
          const v1 = Array.from({ length: L }, () => this.cacheBuffer(seqSize));
          const m1 = new BigInt64Array(M);
          for (let t = start; t < start + len(q); t++) m1[t] = 1n;
          const lg = await this.step(q.prompt.embeds, len(q), m1, 1, start, k1, v1, [start]);
          pad.set(q, start);
          hole.set(q, gap ? pos - 1 : -1);
          this.stats.joins++;
          if (decide(q, argmaxFinite(lg.data, 0, vocabSize))) {
            cont.push(q);
            next.push(q.res.ids.at(-1)!);
            joined.set(q, { k: k1, v: v1 });
          }
        }
        if (cont.length === 0) break;
        if (cont.length !== active.length || joined.size > 0 || cont.some((q, r) => active[r] !== q)) rebuild(active, cont, joined);
        active = cont;
        const a = active.length;
        const m = new BigInt64Array(a * M);
        active.forEach((q, r) => {
          for (let t = pad.get(q)!; t <= pos; t++) if (t !== hole.get(q)) m[r * M + t] = 1n;
        });
        const e = await this.embed(next.map((t) => BigInt64Array.of(BigInt(t))), 1);
        logits = await this.step(e, 1, m, a, pos, keys, values, active.map((q) => pad.get(q)!));
        pos += 1;
      }
    } catch (err) {
      for (const q of live) q.fail(err);
      throw err;
    }
  }

  /**
   * One LLM call: `x` [a, S, H] at positions [pos, pos+S); `mask` holds a rows of M (the first
   * pos+S used); the deltas are copied into the caches at those rows except a sequence's padding
   * rows, which stay zero. Returns the last row's logits of each sequence.
   */
  private async step(
    x: Float32Array,
    S: number,
    mask: BigInt64Array,
    a: number,
    pos: number,
    keys: (Float32Array | Uint16Array)[],
    values: (Float32Array | Uint16Array)[],
    pads: number[],
  ): Promise<{ data: Float32Array }> {
    const { hiddenSize: H, maxTotalLen: M, numLayers: L, numKvHeads, headDim, vocabSize } = this.info;
    const width = pos + S;
    const m = new BigInt64Array(a * width);
    for (let r = 0; r < a; r++) m.set(mask.subarray(r * M, r * M + width), r * width);
    const cpos = BigInt64Array.from({ length: S }, (_, k) => BigInt(pos + k));
    const names = this.s.llm.inputNames;
    const type = this.info.cacheType;
    const feeds: Record<string, ort.Tensor> = {
      [names[0]!]: new ort.Tensor('float32', x, [a, S, H]),
      [names[1]!]: new ort.Tensor('int64', m, [a, width]),
      [names[2]!]: new ort.Tensor('int64', cpos, [S]),
    };
    for (let l = 0; l < L; l++) {
      feeds[names[3 + 2 * l]!] = new ort.Tensor(type, keys[l]!, [a, M, numKvHeads, headDim]);
      feeds[names[4 + 2 * l]!] = new ort.Tensor(type, values[l]!, [a, M, numKvHeads, headDim]);
    }
    const out = await this.s.llm.run(feeds);
    this.stats.llmCalls++;
    try {
      const outNames = this.s.llm.outputNames;
      const y = out[outNames[0]!]!;
      const rows = y.dims[1] as number;
      const data = y.data as Float32Array;
      const last = new Float32Array(a * vocabSize);
      for (let r = 0; r < a; r++) last.set(data.subarray((r * rows + rows - 1) * vocabSize, (r * rows + rows) * vocabSize), r * vocabSize);
      const rowSize = numKvHeads * headDim;
      for (let l = 0; l < L; l++) {
        for (const [k, cache] of [[1 + 2 * l, keys[l]!] as const, [2 + 2 * l, values[l]!] as const]) {
          const d = out[outNames[k]!]!;
          const src = rawView(d.data as ArrayBufferView);
          const dst = rawView(cache);
          const bytes = cache.BYTES_PER_ELEMENT;
          for (let r = 0; r < a; r++) {
            const first = Math.max(0, pads[r]! - pos); // padding rows of this call stay zero
            if (first >= S) continue;
            const from = ((r * S + first) * rowSize) * bytes;
            const to = ((r * M + pos + first) * rowSize) * bytes;
            dst.set(src.subarray(from, from + (S - first) * rowSize * bytes), to);
          }
        }
      }
      return { data: last };
    } finally {
      for (const t of Object.values(out)) t.dispose();
    }
  }

  /** Greedy decoding by recomputing the whole sequence each step with empty caches (no KV reuse): the reference the cached path must equal. */
  async generateRecompute(p: NanoPrompt, guard: RepetitionGuard | null = NANO_REPETITION_GUARD): Promise<NanoGenerated> {
    const { hiddenSize: H, maxTotalLen: M, numLayers: L, numKvHeads, headDim, vocabSize } = this.info;
    const ids = chatMlIds(this.tokenizer);
    const res: NanoGenerated = { ids: [], stop: 'budget' };
    let rows = p.embeds;
    const len0 = p.fitted.ids.length;
    if (p.fitted.maxNewTokens <= 0) return res;
    for (;;) {
      const S = rows.length / H;
      const keys = Array.from({ length: L }, () => this.cacheBuffer(M * numKvHeads * headDim));
      const values = Array.from({ length: L }, () => this.cacheBuffer(M * numKvHeads * headDim));
      const mask = new BigInt64Array(M).fill(1n);
      if (this.positions === 'sherpa' && res.ids.length > 0) mask[len0] = 0n; // the empty row after the prompt
      const { data } = await this.step(rows, S, mask, 1, 0, keys, values, [0]);
      const tok = argmaxFinite(data, 0, vocabSize);
      if (!acceptToken(res, tok, ids, guard, len0, p.fitted.maxNewTokens, M)) return res;
      const e = await this.embed([BigInt64Array.of(BigInt(tok))], 1);
      const hole = this.positions === 'sherpa' && res.ids.length === 1 ? H : 0; // a zero row at len0 before the first generated token
      const grown = new Float32Array(rows.length + hole + H);
      grown.set(rows);
      grown.set(e, rows.length + hole);
      rows = grown;
    }
  }

  async release(): Promise<void> {
    await releaseAll(this.s);
  }
}


function rawView(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** A float tensor's values as float32 (float16 converted). */
function toFloat32(t: ort.Tensor): Float32Array {
  if (t.type === 'float32') return (t.data as Float32Array).slice();
  if (t.type === 'float16') {
    const bits = new Uint16Array(rawView(t.data as ArrayBufferView).slice().buffer);
    return Float32Array.from(bits, halfBits);
  }
  throw new Error(`expected a float tensor, got ${t.type}`);
}
