/**
 * What `npm run bench -- --model` (bench/model.ts) and its measuring child
 * processes (bench/model-child.ts) share: the clip list every target decodes,
 * the jobs a child runs and what it reports, and CPU accounting from /proc.
 */
import { readFile, readdir } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import type { AsrConfigInput } from '@voxfleet/asr';
import { concatOf, loadClips, rng, type Clip } from './lib.js';

/** concatenations of held-out clips, all under the worker's default 30 s piece limit */
const CONCAT_TARGETS = [12, 18, 24, 28];

/**
 * The clips of one pass, in one fixed shuffled order: the fixture clips (fixtures/heldout +
 * fixtures/audio, 1.5–8.7 s) and the concatenations; `quick`: every fifth fixture clip and one concatenation;
 * `count`: the first `count` of that order (models whose decode is slow on 2 cores: Fun-ASR-Nano, Whisper).
 * `maxSec`: clips longer are left out before that cut — the model's piece limit (worker pieceLimitSec), for the
 * fleet's worker cuts longer audio into VAD pieces while sherpa-onnx and the direct engine take it whole: with
 * random weights every piece decodes to the token budget, so cut clips would give the fleet more work.
 */
export async function passClips(quick: boolean, count?: number, maxSec = Infinity): Promise<Clip[]> {
  const set = await loadClips();
  const held = set.real.filter((c) => c.name.startsWith('heldout-'));
  const concats = (quick ? [18] : CONCAT_TARGETS).map((t, i) => concatOf(held, t, 300 + i, 0.6));
  const fixtures = quick ? set.real.filter((_, i) => i % 5 === 0) : set.real;
  const r = rng(11);
  return [...fixtures, ...concats]
    .map((c) => ({ c, k: r() }))
    .sort((a, b) => a.k - b.k)
    .map((x) => x.c)
    .filter((c) => c.sec <= maxSec)
    .slice(0, count ?? Infinity);
}

export type Precision = 'fp32' | 'int8';

interface JobBase {
  dir: string;
  quick: boolean;
  passes: number;
  /** passClips' count */
  clips?: number;
  /** passClips' maxSec (JSON has no Infinity: absent = no limit) */
  maxClipSec?: number;
}

/** sherpa-onnx's OfflineRecognizer: `streams` decodeAsync calls in flight, `threads` onnxruntime threads each */
export interface SherpaJob extends JobBase {
  target: 'sherpa';
  family: string;
  file: string;
  precision: Precision;
  streams: number;
  threads: number;
}

/** VoxFleet's AsrEngine in process: `engines` engines × `threads` threads; each run at a batch size */
export interface DirectJob extends JobBase {
  target: 'direct';
  precision: Precision;
  engines: number;
  threads: number;
  /** engine settings the comparison needs (e.g. Fun-ASR-Nano's repetition guard off, for sherpa-onnx's work) */
  engine?: Partial<AsrConfigInput>;
}

export type ChildJob = SherpaJob | DirectJob;

/** parent → child (over the IPC channel): time one pass (direct: at this batch size), or exit */
export type ToChild = { cmd: 'run'; batch?: number; maxFrames?: number } | { cmd: 'exit' };
/** child → parent */
export type FromChild =
  | { type: 'ready'; loadMs: number[]; versions?: Record<string, string> }
  | { type: 'result'; run: Measured; rssMiB: number }
  | { type: 'error'; message: string };

/** CPU seconds over the timed section, from /proc */
export interface CpuUse {
  /** the measured process(es), all threads */
  ownSec: number;
  /** every process on the machine (busy time of all cores) */
  machineSec: number;
}

/** one timed pass: its wall time and the share of the machine's CPU other processes took meanwhile */
export interface Attempt {
  wallSec: number;
  rtfx: number;
  othersShare: number;
}

export interface Measured {
  /** batch size and frame budget (direct) */
  batch?: number;
  maxFrames?: number;
  wallSec: number;
  audioSec: number;
  items: number;
  /** per clip: time from its decode (or its batch) starting until its result */
  latencyMs: number[];
  cpu: CpuUse;
  loadavg: { before: number[]; after: number[] };
  /** per clip of the pass, by index in the pass order (the first pass) */
  texts: string[];
  /** direct: summed engine timing */
  frontEndMs?: number;
  inferenceMs?: number;
  frames?: number;
  paddedFrames?: number;
  batchSizes?: Record<string, number>;
}

// ---------------------------------------------------------------- CPU from /proc

/** clock ticks per second of /proc's CPU times (USER_HZ: 100 on every Linux build Node runs on) */
const HZ = 100;

/** busy ticks of all cores (user + nice + system + irq + softirq + steal) */
export async function machineBusySec(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / HZ;
}

/** user + system CPU seconds of a process (all its threads; NaN once it is gone) */
export async function processCpuSec(pid: number, path = `/proc/${pid}/stat`): Promise<number> {
  try {
    const s = await readFile(path, 'utf8');
    const fields = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime and stime are fields 14 and 15
    return (Number(fields[11]) + Number(fields[12])) / HZ;
  } catch {
    return NaN;
  }
}

/** A CPU meter over a set of pids and the whole machine. */
export async function cpuMeter(pids: number[]): Promise<{ stop(): Promise<{ perPid: number[]; ownSec: number; machineSec: number; loadavg: { before: number[]; after: number[] } }> }> {
  const before = await Promise.all(pids.map((p) => processCpuSec(p)));
  const m0 = await machineBusySec();
  const l0 = loadavg();
  return {
    async stop() {
      const after = await Promise.all(pids.map((p) => processCpuSec(p)));
      const m1 = await machineBusySec();
      const perPid = after.map((a, i) => a - before[i]!);
      return { perPid, ownSec: perPid.reduce((x, y) => x + (Number.isFinite(y) ? y : 0), 0), machineSec: m1 - m0, loadavg: { before: l0, after: loadavg() } };
    },
  };
}

/** CPU seconds per thread of a process, by thread id (the main thread's id is the pid) */
export async function threadCpuSec(pid: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  let tids: string[];
  try {
    tids = await readdir(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tids) {
    const sec = await processCpuSec(Number(t), `/proc/${pid}/task/${t}/stat`);
    if (Number.isFinite(sec)) out.set(Number(t), sec);
  }
  return out;
}

/** Where a process's CPU went between two threadCpuSec readings: its main thread, its busiest other thread, the rest. */
export function threadSplit(pid: number, before: Map<number, number>, after: Map<number, number>): { main: number; busiest: number; rest: number } {
  const d = [...after].map(([t, v]) => [t, v - (before.get(t) ?? 0)] as const);
  const main = d.find(([t]) => t === pid)?.[1] ?? 0;
  const others = d.filter(([t]) => t !== pid).map(([, v]) => v).sort((a, b) => b - a);
  return { main, busiest: others[0] ?? 0, rest: others.slice(1).reduce((a, b) => a + b, 0) };
}

/** share of the machine's cores busy over `ms` */
export async function machineBusyShare(ms = 1000): Promise<number> {
  const b0 = await machineBusySec();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return (await machineBusySec() - b0) / (((performance.now() - t0) / 1000) * cpus().length);
}

/**
 * Waits (up to `maxSec`) until the machine is quiet — under `threshold` of its cores busy over a second, this
 * process's idle helpers included — so a timed section starts when other engineers' runs leave the CPU alone.
 */
export async function waitQuiet(say: (m: string) => void, maxSec = 120, threshold = 0.15): Promise<void> {
  const t0 = performance.now();
  let share = await machineBusyShare();
  if (share < threshold) return;
  say(`machine busy (${(share * 100).toFixed(0)} % of the cores); waiting up to ${maxSec} s for it to quieten`);
  while (share >= threshold && performance.now() - t0 < maxSec * 1000) share = await machineBusyShare(2000);
  say(share < threshold ? `quiet after ${((performance.now() - t0) / 1000).toFixed(0)} s` : `still ${(share * 100).toFixed(0)} % busy after ${maxSec} s: measuring anyway`);
}
