/**
 * npm run bench -- --model <dir>|full-sense-voice|full-parakeet-tdt|full-funasr-nano|full-whisper|full-whisper-v3 [--quick] [--precisions int8,fp32] [--rounds 3] [--clips N]
 *                  [--sherpa 1x2,2x1] [--direct 1x1,1x2,2x1] [--batches 1,2,4,8] [--fleets 2x1,1x2] [--levels 1,8,16]
 *                  [--passes 1] [--upload-rate 16000] [--batch-max N] [--batch-wait-ms N] [--worker-concurrency N] [--max-frames N]
 *
 * VoxFleet against sherpa-onnx on one production-family model directory (a
 * sherpa-onnx export, or `full-sense-voice`: the full-size SenseVoice-Small
 * test graph from @voxfleet/testkit's ensureTestGraph). In one run, on the
 * same clips (model-shared.ts passClips), for each precision:
 *
 * 1. sherpa-onnx's OfflineRecognizer (sherpa-onnx-node) at the machine's thread
 *    budget, S streams in flight × T onnxruntime threads (`--sherpa`), each
 *    setting a process of its own (model-child.ts);
 * 2. VoxFleet's AsrEngine in process (`--direct` engines × threads, each at every
 *    `--batches` size): the ceiling the fleet approaches;
 * 3. the fleet: real redis-server, gateway, `--fleets` workers × threads on the
 *    model, multipart uploads answered by long-poll, closed-loop load at each of
 *    `--levels`.
 *
 * Round 1 measures every setting once. The machine is shared and its speed
 * drifts (other engineers' runs; on this VM also by ±15 % with nothing else
 * visible on it), so rounds 2…R measure again, interleaved, what the ratios
 * compare: every sherpa-onnx setting, the best direct setting and the fleet's
 * headline setting (the first `--fleets` at the last `--levels`); each row keeps
 * its fastest pass and lists them all. Every timed pass starts when the machine
 * is quiet (waitQuiet) and records the CPU other processes took meanwhile.
 *
 * Reported: RTFx (audio s ÷ wall s), clips/s, latency p50/p95, batch sizes,
 * CPU of the measured processes and of the whole machine, model load times
 * (never on the clock; warm-up never timed), fleet ÷ sherpa, direct ÷ sherpa,
 * fleet ÷ direct. Results: bench/results/bench-model-*.json and (a full run with
 * every target) BENCHMARKS.md, block `bench:model`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModelSpec, signInt8Weights, signedInt8Exact, type AsrConfigInput, type ModelVariant } from '@voxfleet/asr';
import { REPO_ROOT, workerConfigFromEnv } from '@voxfleet/config';
import { FleetStats } from '@voxfleet/queue';
import { ensureTestGraph, type Client, type TestGraphKind } from '@voxfleet/testkit';
import { pieceLimitSec } from '@voxfleet/worker';
import { closedLoop, machine, pcts, startStack, wavPayload, type Clip, type Pcts, type Req, type Stack } from './lib.js';
import { cpuMeter, passClips, threadCpuSec, threadSplit, waitQuiet, type Attempt, type ChildJob, type FromChild, type Measured, type Precision, type ToChild } from './model-shared.js';
import { f0, f1, f2, updateBenchmarks, writeJson } from './report.js';

const HEADING = '### Production model against sherpa-onnx (`npm run bench -- --model`)';

const t00 = performance.now();
const log = (msg: string): void => console.error(`[bench:model ${((performance.now() - t00) / 1000).toFixed(0)}s] ${msg}`);

/** "2x1,1x2" → [[2, 1], [1, 2]]; "none" skips a target (for investigations: such a run leaves BENCHMARKS.md alone) */
function pairs(v: string): [number, number][] {
  if (v === 'none') return [];
  return v.split(',').map((p) => {
    const [a, b] = p.toLowerCase().split('x').map(Number);
    if (!Number.isInteger(a) || !Number.isInteger(b) || a! < 1 || b! < 1) throw new Error(`"${p}" is not NxM`);
    return [a!, b!];
  });
}
const numbers = (v: string): number[] => v.split(',').map(Number);
const plural = (n: number, w: string): string => `${n} ${w}${n > 1 ? 's' : ''}`;

// ---------------------------------------------------------------- the model

interface ModelInfo {
  dir: string;
  name: string;
  kind: string;
  /** sherpa-onnx's name of the family */
  family: string;
  /** per precision: the main file (sherpa-onnx's `model`: a transducer's encoder, Nano's llm), bytes of every file it runs on, and their names */
  files: Record<string, { file: string; bytes: number; all?: string[] }>;
  /** elements of the fp32 graph's initializers */
  parameters: number | null;
}

/** Σ elements over the initializers of an ONNX file (ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.dims = 1). */
export async function countParameters(file: string): Promise<number> {
  const buf = await readFile(file);
  let pos = 0;
  const varint = (): number => {
    let v = 0;
    for (let mul = 1; ; mul *= 128) {
      const b = buf[pos++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
    }
  };
  /** calls `each(field, wire, end)` for the fields of [pos, end); a length-delimited field is skipped afterwards whatever `each` read */
  const fields = (end: number, each: (field: number, wire: number, fieldEnd: number) => void): void => {
    while (pos < end) {
      const key = varint();
      const wire = key & 7;
      if (wire === 2) {
        const fieldEnd = varint() + pos;
        each(key >>> 3, wire, fieldEnd);
        pos = fieldEnd;
      } else if (wire === 0) {
        const at = pos;
        each(key >>> 3, wire, at);
        if (pos === at) varint();
      } else pos += wire === 1 ? 8 : wire === 5 ? 4 : 0;
    }
  };
  let total = 0;
  fields(buf.length, (f, w, graphEnd) => {
    if (f !== 7 || w !== 2) return;
    fields(graphEnd, (g, gw, tensorEnd) => {
      if (g !== 5 || gw !== 2) return;
      let n = 1;
      fields(tensorEnd, (t, tw, dimsEnd) => {
        if (t !== 1) return;
        if (tw === 0) n *= varint();
        else while (pos < dimsEnd) n *= varint();
      });
      total += n;
    });
  });
  return total;
}

/** VoxFleet's model kind → sherpa-onnx's family (testkit's SherpaRecognizer kind, or its Whisper recognizer) */
const SHERPA_FAMILY: Record<string, string> = {
  'sense-voice': 'sense-voice',
  'funasr-nano-ctc': 'funasr-nano-ctc',
  paraformer: 'paraformer',
  'nemo-ctc': 'nemo-ctc',
  'nemo-transducer': 'parakeet-tdt',
  'funasr-nano': 'funasr-nano',
  whisper: 'whisper',
  'whisper-v3': 'whisper',
};

/** `--model full-<kind>`: the full-size random-weight test graphs (@voxfleet/testkit ensureTestGraph, generated into var/) */
const FULL_GRAPHS: Record<string, TestGraphKind> = {
  'full-sense-voice': 'sense-voice',
  'full-parakeet-tdt': 'parakeet-tdt',
  'full-funasr-nano': 'funasr-nano',
  'full-whisper': 'whisper',
  'full-whisper-v3': 'whisper-v3',
};

/** every file a variant runs on: its graphs, and the external data beside them (encoder.weights, llm.fp32.data) */
function variantFiles(v: ModelVariant): string[] {
  const graphs = v.parts ? Object.values(v.parts) : v.nano ? Object.values(v.nano) : v.whisper ? Object.values(v.whisper) : [v.file];
  return graphs.flatMap((g) => [g, ...['.weights', '.data'].map((x) => g.replace(/\.onnx$/, x)).filter((f) => existsSync(f))]);
}

async function modelInfo(arg: string): Promise<ModelInfo> {
  const full = FULL_GRAPHS[arg];
  const dir = full ? await ensureTestGraph(full, 'full') : resolve(process.env.INIT_CWD ?? process.cwd(), arg);
  const spec = await loadModelSpec({ modelPath: dir });
  const family = spec.kind === 'paraformer' && spec.timestamps === 'cif-peaks' ? 'paraformer-ts' : SHERPA_FAMILY[spec.kind];
  if (!family) throw new Error(`${dir}: a ${spec.kind} model has no sherpa-onnx counterpart to compare with`);
  const files: ModelInfo['files'] = {};
  for (const v of spec.variants) {
    const all = variantFiles(v);
    let bytes = 0;
    for (const f of all) bytes += (await stat(f)).size;
    files[v.precision] = { file: basename(v.file), bytes, ...(all.length > 1 ? { all: all.map((f) => basename(f)) } : {}) };
  }
  const fp32 = spec.variants.find((v) => v.precision === 'fp32');
  let parameters: number | null = null;
  if (fp32) {
    parameters = 0;
    for (const f of variantFiles(fp32).filter((x) => x.endsWith('.onnx'))) parameters += await countParameters(f);
  }
  return { dir, name: spec.name, kind: spec.kind, family, files, parameters };
}

/**
 * A copy of the int8 file with its weights re-signed the way VoxFleet's engine loads them (int8-weights.ts),
 * for a sherpa-onnx reference on equal kernels; undefined where the engine would not re-sign (no VNNI/AMX, or
 * nothing to rewrite).
 */
async function signedCopy(info: ModelInfo, precision: Precision): Promise<string | undefined> {
  if (!signedInt8Exact()) return undefined;
  const spec = await loadModelSpec({ modelPath: info.dir });
  const v = spec.variants.find((x) => x.precision === precision);
  if (!v) return undefined;
  const dir = await mkdtemp(join(tmpdir(), 'voxfleet-bench-signed-'));
  let signedAny = false;
  const graphs = new Set(variantFiles(v).filter((f) => f.endsWith('.onnx')).map((f) => basename(f)));
  // every graph of the variant re-signed, everything else in the directory (tokens, tokenizer, other precisions) linked
  for (const name of await readdir(info.dir)) {
    const signed = graphs.has(name) ? signInt8Weights(await readFile(join(info.dir, name))) : null;
    if (signed) {
      await writeFile(join(dir, name), signed.bytes);
      signedAny = true;
    } else await symlink(join(info.dir, name), join(dir, name));
  }
  if (signedAny) return dir;
  await rm(dir, { recursive: true, force: true });
  return undefined;
}

/**
 * What a family's comparison needs so both runtimes do the same work. Fun-ASR-Nano: VoxFleet's repetition guard
 * stops a looping sequence, sherpa-onnx has none, and random weights loop at once — so the guard is off for the
 * direct and fleet targets and every sequence decodes to the stop token or the position budget, as sherpa-onnx's do.
 */
const EQUAL_WORK: Record<string, { engine: Partial<AsrConfigInput>; env: Record<string, string>; note: string }> = {
  'funasr-nano': {
    engine: { nanoRepetitionGuard: 'off' },
    env: { VOXFLEET_NANO_REPETITION_GUARD: 'off' },
    note: "VoxFleet runs with VOXFLEET_NANO_REPETITION_GUARD=off here, so each sequence decodes to the stop token or the 512-position budget as sherpa-onnx's do (the guard would stop the random graph's loops after 24 tokens: less work, not a faster decoder); ",
  },
};

// ---------------------------------------------------------------- rows

interface Row {
  target: 'sherpa-onnx' | 'VoxFleet direct' | 'VoxFleet fleet';
  /** e.g. "2 streams × 1 thread", "2 engines × 1 thread, batch 4", "2 workers × 1 thread" */
  setting: string;
  /** total onnxruntime threads */
  threads: number;
  /** streams, engines or the fleet's closed-loop concurrency */
  concurrency: number;
  requests: number;
  failed: number;
  wallSec: number;
  audioSec: number;
  rtfx: number;
  reqPerSec: number;
  latencyMs: Pcts;
  batchSizes?: Record<string, number>;
  padding?: number;
  loadMs: number[];
  cpu: { ownSec: number; machineSec: number; perProcess?: Record<string, number>; workerThreads?: { main: number; busiest: number; rest: number }[] };
  loadavg: { before: number[]; after: number[] };
  /** every timed pass of this row, in order (the row shows the fastest) */
  tries: Attempt[];
  /** clips whose text equals sherpa-onnx's first run (same precision), of the pass */
  sameTextAsSherpa?: [number, number];
  frontEndMs?: number;
  inferenceMs?: number;
  /** fleet: per job split (p50/p95/p99 ms) */
  split?: Record<string, Pcts>;
  rssMiB?: number;
  note?: string;
}

const othersShare = (wallSec: number, cpu: { ownSec: number; machineSec: number }): number => Math.max(0, cpu.machineSec - cpu.ownSec) / (wallSec * cpus().length);

function fromMeasured(target: Row['target'], setting: string, threads: number, concurrency: number, m: Measured, loadMs: number[], rssMiB: number): Row {
  return {
    target,
    setting,
    threads,
    concurrency,
    requests: m.items,
    failed: 0,
    wallSec: m.wallSec,
    audioSec: m.audioSec,
    rtfx: m.audioSec / m.wallSec,
    reqPerSec: m.items / m.wallSec,
    latencyMs: pcts(m.latencyMs),
    ...(m.batchSizes ? { batchSizes: m.batchSizes } : {}),
    ...(m.paddedFrames ? { padding: 1 - m.frames! / m.paddedFrames } : {}),
    loadMs,
    cpu: m.cpu,
    loadavg: m.loadavg,
    tries: [],
    ...(m.frontEndMs !== undefined ? { frontEndMs: m.frontEndMs, inferenceMs: m.inferenceMs } : {}),
    rssMiB,
  };
}

function sameTexts(texts: string[], ref: string[] | undefined): [number, number] | undefined {
  if (!ref) return undefined;
  let same = 0;
  for (let i = 0; i < ref.length; i++) if (texts[i] === ref[i]) same++;
  return [same, ref.length];
}

// ---------------------------------------------------------------- sherpa-onnx and direct: child processes

/** A model-child.ts process: loads its model once, then times a pass whenever asked. */
class ChildTarget {
  private constructor(
    private readonly proc: ChildProcess,
    readonly loadMs: number[],
    readonly versions: Record<string, string>,
    private readonly next: () => Promise<FromChild>,
  ) {}

  static async start(job: ChildJob): Promise<ChildTarget> {
    const streams = job.target === 'sherpa' ? job.streams : 1;
    const proc = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench/model-child.ts'), JSON.stringify(job)], {
      cwd: REPO_ROOT,
      // libuv's pool runs sherpa-onnx's decodeAsync calls: a thread for every stream, set before the pool starts
      env: { ...process.env, UV_THREADPOOL_SIZE: String(Math.max(4, streams + 2)) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const inbox: FromChild[] = [];
    let wake: (() => void) | undefined;
    let exited: string | undefined;
    proc.on('message', (m: FromChild) => {
      inbox.push(m);
      wake?.();
    });
    proc.once('exit', (code) => {
      exited = `${job.target} child exited with ${code}`;
      wake?.();
    });
    const next = async (): Promise<FromChild> => {
      while (inbox.length === 0) {
        if (exited) throw new Error(exited);
        await new Promise<void>((r) => (wake = r));
      }
      return inbox.shift()!;
    };
    const ready = await next();
    if (ready.type !== 'ready') throw new Error(`${job.target} child: ${ready.type === 'error' ? ready.message : ready.type}`);
    return new ChildTarget(proc, ready.loadMs, ready.versions ?? {}, next);
  }

  async run(batch?: number, maxFrames?: number): Promise<{ run: Measured; rssMiB: number }> {
    this.proc.send({ cmd: 'run', ...(batch ? { batch } : {}), ...(maxFrames ? { maxFrames } : {}) } satisfies ToChild);
    const m = await this.next();
    if (m.type !== 'result') throw new Error(m.type === 'error' ? m.message : `unexpected ${m.type}`);
    return m;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.send({ cmd: 'exit' } satisfies ToChild);
    await gone;
  }
}

// ---------------------------------------------------------------- the fleet

export interface FleetSettings {
  batchMax: number;
  batchWaitMs: number;
  /** jobs a worker holds at once (BullMQ concurrency) */
  concurrency: number;
  maxFrames: number;
}

/** One request: multipart upload, then long-poll until final; the transcript's text kept by request. */
async function sendJob(api: Client, r: Req, texts: Map<Req, string>) {
  const created = await api.upload(r.bytes, `${r.clip.name}.wav`);
  if (created.status !== 202 && created.status !== 200) return { ok: false, error: `upload ${created.status} ${JSON.stringify(created.body)}` };
  const job = created.body.status === 'completed' ? created.body : await api.waitFinal(created.body.id, 60);
  if (job.status !== 'completed') return { ok: false, error: `${job.status} ${JSON.stringify(job.error)}` };
  texts.set(r, String(job.result?.text ?? ''));
  const p = job.processing ?? {};
  return { ok: true, queueMs: p.queueMs, decodeMs: p.decodeMs, batchWaitMs: p.batchWaitMs, inferenceMs: p.inferenceMs, workerMs: p.workerMs, batchSizes: p.batchSizes };
}

let tag = (Date.now() & 0xfffff) << 10;
/** the pass, `passes` times, as uploads with unique bytes (no cache hits) */
function requests(clips: Clip[], passes: number, rate: number): Req[] {
  return Array.from({ length: passes }, () => clips)
    .flat()
    .map((clip) => ({ clip, bytes: wavPayload(clip.samples, tag++, rate) }));
}

/** redis-server, gateway and `workers` worker processes × `threads` threads on the model, kept up between levels. */
class FleetTarget {
  private readonly texts = new Map<Req, string>();
  private constructor(
    private readonly stack: Stack,
    readonly setting: string,
    readonly threads: number,
    private readonly named: [string, number][],
  ) {}

  static async start(info: ModelInfo, precision: Precision, workers: number, threads: number, s: FleetSettings, warm: Clip[], uploadRate: number): Promise<FleetTarget> {
    const env = {
      ...EQUAL_WORK[info.kind]?.env,
      VOXFLEET_MODEL: info.dir,
      VOXFLEET_MODELS: info.name,
      VOXFLEET_PROVIDER: 'cpu',
      VOXFLEET_PRECISION: precision,
      VOXFLEET_THREADS: String(threads),
      VOXFLEET_BATCH_MAX: String(s.batchMax),
      VOXFLEET_BATCH_WAIT_MS: String(s.batchWaitMs),
      VOXFLEET_WORKER_CONCURRENCY: String(s.concurrency),
      VOXFLEET_BATCH_MAX_FRAMES: String(s.maxFrames),
    };
    const stack = await startStack({ workers, env });
    try {
      const redisPid = Number(/process_id:(\d+)/.exec(await stack.redis.client.info('server'))?.[1]);
      const named: [string, number][] = [...stack.workers.map((w, i): [string, number] => [`worker ${i + 1}`, w.proc.pid!]), ['gateway', stack.gateway.pid!], ['redis-server', redisPid]];
      const t = new FleetTarget(stack, `${plural(workers, 'worker')} × ${plural(threads, 'thread')}`, workers * threads, named);
      await closedLoop(requests(warm, 1, uploadRate), warm.length, (q) => sendJob(stack.api, q, t.texts)); // warm-up, not timed
      return t;
    } catch (err) {
      await stack.stop();
      throw err;
    }
  }

  get loadMs(): number[] {
    return this.stack.workerColdStartMs;
  }

  /** one pass at closed-loop concurrency `c` */
  async run(c: number, clips: Clip[], passes: number, uploadRate: number, sherpaTexts?: string[]): Promise<Row> {
    const { stack, named } = this;
    const stats = new FleetStats(stack.redis.client, 'voxfleet');
    const reqs = requests(clips, passes, uploadRate);
    const before = await stats.read();
    const threads0 = await Promise.all(stack.workers.map((w) => threadCpuSec(w.proc.pid!)));
    const meter = await cpuMeter(named.map(([, pid]) => pid));
    const client0 = process.cpuUsage();
    const r = await closedLoop(reqs, c, (q) => sendJob(stack.api, q, this.texts));
    const m = await meter.stop();
    const clientCpu = process.cpuUsage(client0);
    const threads1 = await Promise.all(stack.workers.map((w) => threadCpuSec(w.proc.pid!)));
    const after = await stats.read();
    const ok = r.samples.filter((x) => x.ok);
    const sizes: Record<string, number> = {};
    for (const [k, v] of Object.entries(after.batchSizes)) {
      const d = v - (before.batchSizes[Number(k)] ?? 0);
      if (d > 0) sizes[k] = d;
    }
    const frames = after.batchFrames - before.batchFrames;
    const padded = after.batchPaddedFrames - before.batchPaddedFrames;
    const split = (k: 'queueMs' | 'decodeMs' | 'batchWaitMs' | 'inferenceMs'): Pcts => pcts(ok.map((x) => x[k]).filter((x): x is number => typeof x === 'number'));
    const perProcess: Record<string, number> = Object.fromEntries(named.map(([n], i) => [n, m.perPid[i]!]));
    perProcess['bench client'] = (clientCpu.user + clientCpu.system) / 1e6;
    const row: Row = {
      target: 'VoxFleet fleet',
      setting: this.setting,
      threads: this.threads,
      concurrency: c,
      requests: r.samples.length,
      failed: r.samples.length - ok.length,
      wallSec: r.wallSec,
      audioSec: r.audioSec,
      rtfx: ok.reduce((a, x) => a + x.clipSec, 0) / r.wallSec,
      reqPerSec: ok.length / r.wallSec,
      latencyMs: pcts(ok.map((x) => x.e2eMs)),
      batchSizes: sizes,
      ...(padded > 0 ? { padding: 1 - frames / padded } : {}),
      loadMs: this.loadMs,
      cpu: {
        ownSec: Object.values(perProcess).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0),
        machineSec: m.machineSec,
        perProcess,
        workerThreads: stack.workers.map((w, i) => threadSplit(w.proc.pid!, threads0[i]!, threads1[i]!)),
      },
      loadavg: m.loadavg,
      tries: [],
      split: {
        queue: split('queueMs'),
        decode: split('decodeMs'),
        batchWait: split('batchWaitMs'),
        inference: split('inferenceMs'),
        rest: pcts(ok.map((x) => x.e2eMs - (x.queueMs ?? 0) - (x.workerMs ?? 0))),
      },
      ...(r.samples.some((x) => !x.ok) ? { note: [...new Set(r.samples.filter((x) => !x.ok).map((x) => x.error ?? '?'))].slice(0, 3).join('; ') } : {}),
    };
    const sent = reqs.slice(0, clips.length);
    const byClip = clips.map((c) => texts(sent, this.texts, c));
    if (sherpaTexts) row.sameTextAsSherpa = sameTexts(byClip, sherpaTexts);
    return row;
  }

  stop(): Promise<void> {
    return this.stack.stop();
  }
}

const texts = (sent: Req[], got: Map<Req, string>, clip: Clip): string => got.get(sent.find((q) => q.clip === clip)!) ?? '';

// ---------------------------------------------------------------- main

/** one direct row: a batch size, optionally within a frame budget */
interface DirectRun {
  batch: number;
  maxFrames?: number;
}

interface Ratios {
  fleetVsSherpa: number;
  /** against sherpa-onnx on the int8 file re-signed as VoxFleet loads it (NaN when not run) */
  fleetVsSherpaSigned: number;
  directVsSherpa: number;
  fleetVsDirect: number;
}
interface PrecisionReport {
  rows: Row[];
  ratios: Ratios;
  /** the rows the ratios compare (absent when a target was skipped) */
  best: { sherpa?: Row; sherpaSigned?: Row; direct?: Row; fleet?: Row };
}

const rtfxOf = (r: Row | undefined): number => r?.rtfx ?? NaN;
const describe = (r: Row | undefined): string => (r ? `${f2(r.rtfx)}, ${r.setting}${r.target === 'VoxFleet fleet' ? ` at c=${r.concurrency}` : ''}` : 'not run');
const fmtSizes = (s: Record<string, number> | undefined): string =>
  s && Object.keys(s).length
    ? Object.entries(s)
        .sort((a, b) => Number(a[0]) - Number(b[0]))
        .map(([k, v]) => `${k}:${v}`)
        .join(' ')
    : '–';
const fmtLoad = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' / ');

export async function runModel(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      quick: { type: 'boolean', default: false },
      precisions: { type: 'string', default: 'int8,fp32' },
      rounds: { type: 'string' },
      levels: { type: 'string' },
      fleets: { type: 'string' },
      direct: { type: 'string' },
      batches: { type: 'string' },
      sherpa: { type: 'string' },
      passes: { type: 'string', default: '1' },
      'upload-rate': { type: 'string', default: '16000' },
      'batch-max': { type: 'string' },
      'batch-wait-ms': { type: 'string' },
      'worker-concurrency': { type: 'string' },
      'max-frames': { type: 'string' },
      budgets: { type: 'string' },
      clips: { type: 'string' },
    },
  });
  if (!values.model) throw new Error('--model <dir> (or --model full-sense-voice)');
  const quick = values.quick!;
  const cores = cpus().length;
  const precisions = values.precisions!.split(',') as Precision[];
  const rounds = Number(values.rounds ?? (quick ? 1 : 3));
  const levels = numbers(values.levels ?? (quick ? '1,8' : '1,8,16'));
  const fleets = pairs(values.fleets ?? (quick ? `${cores}x1` : `${cores}x1,1x${cores}`));
  const directs = pairs(values.direct ?? (quick ? `${cores}x1,1x${cores}` : `1x1,1x${cores},${cores}x1,${cores}x${cores}`));
  const batches = numbers(values.batches ?? (quick ? '1,4' : '1,2,4,8'));
  const sherpas = pairs(values.sherpa ?? (cores > 1 ? `1x${cores},${cores}x1` : '1x1'));
  const passes = Number(values.passes);
  const uploadRate = Number(values['upload-rate']);
  const settings: FleetSettings = {
    // chosen from the direct sweep (bench/model.ts in BENCHMARKS.md): batches of short clips pay on this graph, of long ones not
    batchMax: Number(values['batch-max'] ?? 4),
    batchWaitMs: Number(values['batch-wait-ms'] ?? 100),
    // as many jobs per worker as a batch holds: enough to fill one, and the rest wait in Redis for whichever worker frees up
    concurrency: Number(values['worker-concurrency'] ?? 4),
    maxFrames: Number(values['max-frames'] ?? 200),
  };

  // the direct sweep: every batch size, then the largest within each frame budget (by default the workers' own)
  const budgets = values.budgets === 'none' ? [] : numbers(values.budgets ?? String(settings.maxFrames));
  const directRuns: DirectRun[] = [...batches.map((batch) => ({ batch })), ...budgets.map((maxFrames) => ({ batch: Math.max(...batches), maxFrames }))];

  const started = new Date();
  const load0 = loadavg();
  log(`load average ${fmtLoad(load0)}; model ${values.model}`);
  const info = await modelInfo(values.model);
  const clipCount = values.clips ? Number(values.clips) : undefined;
  // the fleet's worker cuts audio over its piece limit into VAD pieces, the other targets take it whole: keep to it
  const limit = pieceLimitSec(info.kind, workerConfigFromEnv(process.env).worker.segmentMaxSec);
  const maxClipSec = limit < Math.max(...(await passClips(quick)).map((c) => c.sec)) ? limit : undefined;
  const clips = await passClips(quick, clipCount, maxClipSec);
  const passAudio = clips.reduce((a, c) => a + c.sec, 0);
  log(`${info.name} (${info.kind}, ${info.parameters ?? '?'} parameters); ${clips.length} clips, ${f1(passAudio)} s of audio per pass, ${passes} pass(es), ${rounds} round(s)`);
  const versions: Record<string, string> = {
    node: process.version,
    'onnxruntime-node': (createRequire(join(REPO_ROOT, 'packages/asr/package.json'))('onnxruntime-node/package.json') as { version: string }).version,
  };
  const byPrecision: Record<string, PrecisionReport> = {};
  const warmClips = [...clips].sort((a, b) => b.sec - a.sec).slice(0, 2 * cores);

  for (const precision of precisions) {
    const file = info.files[precision]?.file;
    if (!file) throw new Error(`${info.dir} has no ${precision} file`);
    const rows = new Map<string, Row>();
    let sherpaTexts: string[] | undefined;
    /** records a pass: a new row, or a try of an existing one (kept when faster) */
    const record = (key: string, row: Row): Row => {
      const old = rows.get(key);
      const tries = [...(old?.tries ?? []), { wallSec: row.wallSec, rtfx: row.rtfx, othersShare: othersShare(row.wallSec, row.cpu) }];
      const kept = !old || row.wallSec < old.wallSec ? row : old;
      kept.tries = tries;
      rows.set(key, kept);
      log(`${precision} ${row.target} ${row.setting}${row.target === 'VoxFleet fleet' ? ` c=${row.concurrency}` : ''}: RTFx ${f2(row.rtfx)} (others took ${f0(tries.at(-1)!.othersShare * 100)} % of the machine)${row.failed ? `, ${row.failed} failed: ${row.note}` : ''}`);
      return kept;
    };

    const sherpaTargets: { key: string; t: ChildTarget; streams: number; threads: number; signed: boolean }[] = [];
    const runSherpa = async (s: (typeof sherpaTargets)[number]): Promise<void> => {
      await waitQuiet(log);
      const r = await s.t.run();
      if (!s.signed) sherpaTexts ??= r.run.texts;
      const setting = `${plural(s.streams, 'stream')} × ${plural(s.threads, 'thread')}${s.signed ? ', on the file re-signed as VoxFleet loads it (reference)' : ''}`;
      const row = fromMeasured('sherpa-onnx', setting, s.streams * s.threads, s.streams, r.run, s.t.loadMs, r.rssMiB);
      row.sameTextAsSherpa = sameTexts(r.run.texts, sherpaTexts);
      record(s.key, row);
    };
    const directTargets = new Map<string, { t: ChildTarget; engines: number; threads: number }>();
    const runDirect = async (key: string, v: DirectRun): Promise<void> => {
      const d = directTargets.get(key)!;
      await waitQuiet(log);
      const r = await d.t.run(v.batch, v.maxFrames);
      const batching = v.maxFrames ? `batch ≤ ${v.batch} within ${v.maxFrames} frames` : `batch ${v.batch}`;
      const row = fromMeasured('VoxFleet direct', `${plural(d.engines, 'engine')} × ${plural(d.threads, 'thread')}, ${batching}`, d.engines * d.threads, d.engines, r.run, d.t.loadMs, r.rssMiB);
      row.sameTextAsSherpa = sameTexts(r.run.texts, sherpaTexts);
      if (row.threads > cores) row.note = `${row.threads} threads on ${cores} cores: over the budget, not counted as best`;
      record(`${key}/${v.batch}/${v.maxFrames ?? ''}`, row);
    };
    const fleetTargets = new Map<string, FleetTarget>();
    const runFleet = async (key: string, c: number): Promise<void> => {
      await waitQuiet(log);
      record(`${key}/${c}`, await fleetTargets.get(key)!.run(c, clips, passes, uploadRate, sherpaTexts));
    };
    const inBudget = (r: Row): boolean => r.threads <= cores;
    const bestKey = (prefix: string): string | undefined =>
      [...rows]
        .filter(([k, r]) => k.startsWith(prefix) && inBudget(r))
        .sort((a, b) => (b[1].failed === 0 ? 1 : 0) - (a[1].failed === 0 ? 1 : 0) || b[1].rtfx - a[1].rtfx)[0]?.[0];

    // int8: sherpa-onnx also on a copy re-signed as VoxFleet's engine loads it, to show what the kernels alone give
    const signedDir = precision === 'int8' && sherpas.length ? await signedCopy(info, precision) : undefined;
    try {
      // ---- round 1: every setting once
      for (const dir of [info.dir, ...(signedDir ? [signedDir] : [])]) {
        const signed = dir === signedDir;
        for (const [streams, threads] of sherpas) {
          log(`sherpa-onnx ${precision}${signed ? ' (re-signed copy)' : ''}: ${plural(streams, 'stream')} × ${plural(threads, 'thread')}: loading`);
          const t = await ChildTarget.start({ target: 'sherpa', dir, family: info.family, file, precision, streams, threads, quick, passes, clips: clipCount, maxClipSec });
          Object.assign(versions, t.versions);
          const s = { key: `${signed ? 'sherpa-signed' : 'sherpa'}/${streams}x${threads}`, t, streams, threads, signed };
          sherpaTargets.push(s);
          await runSherpa(s);
        }
      }
      for (const [engines, threads] of directs) {
        log(`VoxFleet direct ${precision}: ${plural(engines, 'engine')} × ${plural(threads, 'thread')}: loading`);
        const key = `direct/${engines}x${threads}`;
        const engine = EQUAL_WORK[info.kind]?.engine;
        directTargets.set(key, { t: await ChildTarget.start({ target: 'direct', dir: info.dir, precision, engines, threads, quick, passes, clips: clipCount, maxClipSec, ...(engine ? { engine } : {}) }), engines, threads });
        for (const v of directRuns) await runDirect(key, v);
      }
      const directBest = bestKey('direct/');
      for (const [key, d] of directTargets) if (!directBest?.startsWith(`${key}/`)) await d.t.stop().then(() => directTargets.delete(key));
      for (const [i, [workers, threads]] of fleets.entries()) {
        log(`fleet ${precision}: ${plural(workers, 'worker')} × ${plural(threads, 'thread')}, batch ≤ ${settings.batchMax}, wait ≤ ${settings.batchWaitMs} ms, ${settings.concurrency} jobs per worker: starting`);
        const key = `fleet/${workers}x${threads}`;
        fleetTargets.set(key, await FleetTarget.start(info, precision, workers, threads, settings, warmClips, uploadRate));
        for (const c of levels) await runFleet(key, c);
        if (i > 0 || rounds === 1) await fleetTargets.get(key)!.stop().then(() => fleetTargets.delete(key));
      }
      // ---- rounds 2…R: what the ratios compare, interleaved in a rotating order
      const headline = fleets.length ? `fleet/${fleets[0]![0]}x${fleets[0]![1]}` : undefined;
      const repeat: (() => Promise<void>)[] = [
        ...sherpaTargets.map((s) => () => runSherpa(s)),
        ...(directBest ? [() => runDirect(directBest.split('/').slice(0, 2).join('/'), { batch: Number(directBest.split('/')[2]), ...(directBest.split('/')[3] ? { maxFrames: Number(directBest.split('/')[3]) } : {}) })] : []),
        ...(headline ? [() => runFleet(headline, levels.at(-1)!)] : []),
      ];
      for (let round = 2; round <= rounds; round++) {
        log(`${precision}: round ${round} of ${rounds}`);
        for (let k = 0; k < repeat.length; k++) await repeat[(k + round) % repeat.length]!();
      }
    } finally {
      for (const s of sherpaTargets) await s.t.stop();
      for (const d of directTargets.values()) await d.t.stop();
      for (const f of fleetTargets.values()) await f.stop();
      if (signedDir) await rm(signedDir, { recursive: true, force: true });
    }

    const all = [...rows.values()];
    const bestOf = (prefix: string): Row | undefined => {
      const k = bestKey(prefix);
      return k ? rows.get(k) : undefined;
    };
    const headlineRow = fleets.length ? rows.get(`fleet/${fleets[0]![0]}x${fleets[0]![1]}/${levels.at(-1)}`) : undefined;
    const best = { sherpa: bestOf('sherpa/'), sherpaSigned: bestOf('sherpa-signed/'), direct: bestOf('direct/'), fleet: headlineRow };
    const ratios: Ratios = {
      fleetVsSherpa: rtfxOf(best.fleet) / rtfxOf(best.sherpa),
      fleetVsSherpaSigned: rtfxOf(best.fleet) / rtfxOf(best.sherpaSigned),
      directVsSherpa: rtfxOf(best.direct) / rtfxOf(best.sherpa),
      fleetVsDirect: rtfxOf(best.fleet) / rtfxOf(best.direct),
    };
    byPrecision[precision] = { rows: all, ratios, best };
    log(`${precision}: fleet ÷ sherpa ${f2(ratios.fleetVsSherpa)}×, direct ÷ sherpa ${f2(ratios.directVsSherpa)}×, fleet ÷ direct ${f2(ratios.fleetVsDirect)}×`);
  }

  // ---------------------------------------------------------------- report
  const load1 = loadavg();
  const m = machine();
  const meta: Meta = {
    date: started.toISOString(),
    mode: quick ? 'quick' : 'full',
    command: `npm run bench -- ${argv.join(' ')}`,
    machine: { ...m, ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, freeGiBAtStart: Math.round((freemem() / 2 ** 30) * 10) / 10, gpu: 'none' },
    loadavg: { start: load0, end: load1 },
    versions,
    model: info,
    clips: { count: clips.length, audioSecPerPass: passAudio, passes, names: clips.map((c) => c.name), uploadRate, ...(clipCount ? { subset: clipCount } : {}), ...(maxClipSec ? { maxSec: maxClipSec } : {}) },
    rounds,
    durationSec: (performance.now() - t00) / 1000,
  };
  const summary = Object.entries(byPrecision).map(
    ([p, r]) =>
      `${p}: fleet ÷ sherpa-onnx ${f2(r.ratios.fleetVsSherpa)}× (fleet ${describe(r.best.fleet)}; sherpa-onnx ${describe(r.best.sherpa)}); ` +
      (r.best.sherpaSigned ? `fleet ÷ sherpa-onnx on the re-signed file ${f2(r.ratios.fleetVsSherpaSigned)}× (${describe(r.best.sherpaSigned)}); ` : '') +
      `direct ÷ sherpa-onnx ${f2(r.ratios.directVsSherpa)}× (direct ${describe(r.best.direct)}); fleet ÷ direct ${f2(r.ratios.fleetVsDirect)}×`,
  );
  console.log('\n' + summary.join('\n'));
  const file = await writeJson(quick ? 'bench-model-quick' : 'bench-model', { ...meta, settings, results: byPrecision });
  const complete = Object.values(byPrecision).every((r) => r.best.sherpa && r.best.direct && r.best.fleet);
  // SenseVoice keeps the block it always had; every other family a block of its own
  const blockName = info.kind === 'sense-voice' ? 'model' : (`model-${info.kind}` as const);
  const heading = info.kind === 'sense-voice' ? HEADING : `### Production model against sherpa-onnx: ${info.kind} (\`npm run bench -- --model\`)`;
  if (!quick && complete) await updateBenchmarks(blockName, markdown(meta, byPrecision, settings, file, cores), heading);
  log(`wrote ${file}${!quick && complete ? ' and BENCHMARKS.md' : ''} in ${f0((performance.now() - t00) / 1000)} s`);
}

interface Meta {
  date: string;
  mode: string;
  command: string;
  machine: { cpu: string; cores: number; ramGiB: number; freeGiBAtStart: number; gpu: string };
  loadavg: { start: number[]; end: number[] };
  versions: Record<string, string>;
  model: ModelInfo;
  clips: { count: number; audioSecPerPass: number; passes: number; names: string[]; uploadRate: number; subset?: number; maxSec?: number };
  rounds: number;
  durationSec: number;
}

/** BENCHMARKS.md's block (a run with every target) */
function markdown(meta: Meta, byPrecision: Record<string, PrecisionReport>, s: FleetSettings, file: string, cores: number): string {
  const mi = meta.model;
  const md: string[] = [];
  const mib = (b: number): string => `${f0(b / 2 ** 20)} MiB`;
  const v = meta.versions;
  md.push(
    `Run ${meta.date.slice(0, 16).replace('T', ' ')} UTC, \`${meta.command}\`, ${meta.machine.cpu} × ${meta.machine.cores} cores, ${meta.machine.ramGiB} GiB RAM, no GPU (none was lent to this task); ` +
      `load average ${fmtLoad(meta.loadavg.start)} at the start and ${fmtLoad(meta.loadavg.end)} at the end (${f0(meta.durationSec / 60)} min). Raw data: \`${file.slice(REPO_ROOT.length + 1)}\`. ` +
      `Node ${v.node}, onnxruntime-node ${v['onnxruntime-node']}; sherpa-onnx-node ${v['sherpa-onnx-node'] ?? '?'} with its own onnxruntime ${v['sherpa-onnx onnxruntime'] ?? '?'}.`,
  );
  md.push('');
  md.push(
    `Model: \`${mi.name}\` (${mi.kind}${mi.parameters ? `, ${(mi.parameters / 1e6).toFixed(1)} M parameters` : ''}; ${Object.entries(mi.files)
      .map(([p, f]) => `${p} ${(f.all ?? [f.file]).map((x) => `\`${x}\``).join(' + ')} ${mib(f.bytes)}`)
      .join(', ')}). ` +
      `Clips: ${meta.clips.count} per pass, ${f1(meta.clips.audioSecPerPass)} s of audio — ${meta.clips.subset ? `the first ${meta.clips.subset} of the fixed shuffled list of ` : ''}the fixture clips (fixtures/heldout + fixtures/audio, 1.5–8.7 s) and concatenations of held-out clips (12–28 s; ${meta.clips.maxSec ? `those over ${meta.clips.maxSec} s left out: the worker cuts longer audio for this model into VAD pieces, which sherpa-onnx and the direct engine would take whole — unequal work with random weights, every piece decoding to the budget` : 'all under 30 s, so nothing is cut by the VAD'}); ${plural(meta.clips.passes, 'pass')} per measurement; every target the same clips.`,
  );
  md.push('');
  md.push(
    `Targets: **sherpa-onnx** — its OfflineRecognizer, S decodes in flight (decodeAsync on libuv's pool; sherpa-onnx-node has no batched offline decode) × T onnxruntime threads, S × T = ${cores}, the clips in one fixed shuffled order; ` +
      `**direct** — VoxFleet's AsrEngine in process, E engines × T threads, the clips sorted by length and cut into batches of B (or of at most B within a frame budget: size × longest ≤ F model frames — the engine's own unit, 60 ms for SenseVoice —, as the workers' micro-batcher cuts them), the engines taking the next batch as they free up (the ceiling); ` +
      `**fleet** — redis-server, the gateway and W worker processes × T threads on this machine, each clip a ${meta.clips.uploadRate === 16000 ? '16 kHz 16-bit PCM WAV (read in process, no ffmpeg)' : `${meta.clips.uploadRate} Hz 16-bit WAV (decoded and resampled by ffmpeg)`} multipart upload with unique bytes (no cache hits), answered by long-poll, closed loop at concurrency c over the same fixed order; ` +
      `worker settings: VOXFLEET_BATCH_MAX=${s.batchMax}, VOXFLEET_BATCH_WAIT_MS=${s.batchWaitMs} (adaptive), VOXFLEET_WORKER_CONCURRENCY=${s.concurrency}, VOXFLEET_BATCH_MAX_FRAMES=${s.maxFrames}. ` +
      `int8 only: sherpa-onnx once more on a copy of the file whose weights are re-signed the way VoxFleet's engine loads them (see below), a reference for what the kernels alone give. ` +
      `sherpa-onnx and direct get the clips already decoded (16 kHz Float32), each setting in a process of its own. Model load is never on the clock (the "load" column: recognizer or engine construction, worker process start → ready) and every target warms up on the longest clips first, not timed. ` +
      `Round 1 measures every row once; rounds 2–${meta.rounds} measure again, interleaved, every sherpa-onnx setting, the best direct row and the fleet's headline row (${byPrecision[Object.keys(byPrecision)[0]!]!.best.fleet?.setting} at the highest concurrency); a row shows its fastest pass, and its "passes" column lists the RTFx of each with the share of the machine other processes took meanwhile.`,
  );
  for (const [p, r] of Object.entries(byPrecision)) {
    md.push('');
    md.push(`**${p}**`);
    md.push('');
    md.push('| target | setting | c | clips | RTFx | clips/s | latency p50 / p95 ms | batch sizes (count) | padding | same text as sherpa-onnx | CPU s: measured / machine ¹ | audio s per CPU s | passes: RTFx (others) | load ms |');
    md.push('| --- | --- | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | --- | ---: | --- | --- |');
    for (const x of r.rows) {
      const mark = x === r.best.sherpa || x === r.best.direct || x === r.best.fleet ? '**' : '';
      md.push(
        `| ${x.target} | ${x.setting}${x.note ? ` (${x.note})` : ''} | ${x.concurrency} | ${x.requests}${x.failed ? ` (${x.failed} failed)` : ''} | ${mark}${f2(x.rtfx)}${mark} | ${f2(x.reqPerSec)} | ${f0(x.latencyMs.p50)} / ${f0(x.latencyMs.p95)} | ${fmtSizes(x.batchSizes)} | ${x.padding !== undefined ? f2(x.padding) : '–'} | ${x.sameTextAsSherpa ? `${x.sameTextAsSherpa[0]}/${x.sameTextAsSherpa[1]}` : '–'} | ${f1(x.cpu.ownSec)} / ${f1(x.cpu.machineSec)} | ${f2(x.audioSec / x.cpu.ownSec)} | ${x.tries.map((t) => `${f2(t.rtfx)} (${f0(t.othersShare * 100)} %)`).join(', ')} | ${x.loadMs.map(f0).join(', ')} |`,
      );
    }
    md.push('');
    md.push(
      `${p}: **fleet ÷ sherpa-onnx ${f2(r.ratios.fleetVsSherpa)}×** (fleet ${describe(r.best.fleet)}; sherpa-onnx's best ${describe(r.best.sherpa)}); ` +
        (r.best.sherpaSigned ? `fleet ÷ sherpa-onnx on the re-signed copy ${f2(r.ratios.fleetVsSherpaSigned)}× (${describe(r.best.sherpaSigned)}); ` : '') +
        `direct ÷ sherpa-onnx ${f2(r.ratios.directVsSherpa)}× (${describe(r.best.direct)}); fleet ÷ direct ${f2(r.ratios.fleetVsDirect)}×.`,
    );
    const fl = r.rows.filter((x) => x.target === 'VoxFleet fleet');
    if (fl.length) {
      md.push('');
      md.push(`Fleet profile (${p}; per job, p50 / p95 ms; CPU seconds over the pass):`);
      md.push('');
      md.push('| fleet | c | queue wait | batch wait | batch run (front-end + inference) | decode | upload + gateway + long-poll | CPU s by process | worker threads: main / busiest (engine) / rest, CPU s |');
      md.push('| --- | ---: | --- | --- | --- | --- | --- | --- | --- |');
      for (const x of fl) {
        const sp = x.split!;
        const pp = (k: string): string => `${f0(sp[k]!.p50)} / ${f0(sp[k]!.p95)}`;
        md.push(
          `| ${x.setting} | ${x.concurrency} | ${pp('queue')} | ${pp('batchWait')} | ${pp('inference')} | ${pp('decode')} | ${pp('rest')} | ${Object.entries(x.cpu.perProcess ?? {})
            .map(([k, val]) => `${k} ${f1(val)}`)
            .join(', ')} | ${(x.cpu.workerThreads ?? []).map((t) => `${f1(t.main)} / ${f1(t.busiest)} / ${f1(t.rest)}`).join('; ')} |`,
        );
      }
    }
    const d = r.best.direct;
    if (d?.frontEndMs !== undefined) md.push('', `Direct (${d.setting}): front-end ${f1(d.frontEndMs / 1000)} s and inference + decoding ${f1(d.inferenceMs! / 1000)} s of engine time for ${f1(d.audioSec)} s of audio.`);
  }
  md.push('');
  md.push(
    `¹ CPU seconds over the timed pass: of the measured processes (sherpa-onnx's or the direct engines' process; for the fleet its workers, gateway, redis-server and the load generator) and of the whole machine (everyone's, other engineers' work included); "audio s per CPU s" is the audio over the first. ` +
      'Every pass starts once the machine is quiet (under 15 % of its cores busy over a second, or after 2 minutes of waiting).',
  );
  md.push('');
  const bar = Object.entries(byPrecision)
    .map(([p, r]) => `${p} ${f2(r.ratios.fleetVsSherpa)}× — ${r.ratios.fleetVsSherpa >= 1 ? '**met**' : '**not met**'}`)
    .join('; ');
  const signedBar = Object.entries(byPrecision)
    .filter(([, r]) => r.best.sherpaSigned)
    .map(([p, r]) => `${p} ${f2(r.ratios.fleetVsSherpaSigned)}× — ${r.ratios.fleetVsSherpaSigned >= 1 ? 'met' : 'not met'}`)
    .join('; ');
  md.push(`Bar (a benchmark figure, not a test assertion): fleet RTFx ≥ sherpa-onnx's on the same machine and model files: ${bar}.${signedBar ? ` Against sherpa-onnx on the re-signed int8 copy (equal kernels; not how sherpa-onnx runs the export): ${signedBar}.` : ''}`);
  md.push('');
  md.push(
    (EQUAL_WORK[mi.kind]?.note ?? '') +
    "Known differences: VoxFleet's engine loads an int8 file's uint8 MatMul weights re-signed to int8 (packages/asr/src/int8-weights.ts: data type and a XOR of 0x80 in memory, the file and model identity unchanged; outputs bit for bit the same, which the same-text column confirms for sherpa-onnx on the re-signed copy too), so onnxruntime runs its u8×s8 kernels — on this CPU (VNNI and AMX) about three times the u8×u8 ones sherpa-onnx runs on the export as it ships; most of the int8 lead is that, and the reference row shows sherpa-onnx given the same representation. " +
      'The graph has random (seeded) weights — its speed is realistic, its text is not (the "same text" column only checks that both runtimes computed the same thing); ' +
      "dynamic int8 quantizes each MatMul's activations with one scale over the whole batch, so batched int8 transcripts differ slightly from one-at-a-time ones (parity with sherpa-onnx holds one at a time, packages/asr/test/parity.test.ts); " +
      `the fleet's uploads are 16-bit WAV, so its input differs from the Float32 clips by the 16-bit rounding, which can change a random-weight model's tokens; sherpa-onnx runs on its own onnxruntime ${v['sherpa-onnx onnxruntime'] ?? '?'}, VoxFleet on onnxruntime-node ${v['onnxruntime-node']}.`,
  );
  return md.join('\n');
}
