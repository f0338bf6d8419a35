/**
 * Shared pieces of `npm run bench`: the stack (redis-server, worker processes
 * and the gateway, started with @voxfleet/testkit's e2e helpers), request
 * payloads built from the fixtures, a closed-loop load generator, RSS
 * sampling and percentiles.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeFile } from '@voxfleet/audio';
import { REPO_ROOT } from '@voxfleet/config';
import { baseEnv, freePort, rng, spawnWorker, startRedis, stopProcess, wavBytes, Client, type TestRedis, type TestWorker } from '@voxfleet/testkit';

export const SR = 16000;
/** requests are 16-bit WAV at this rate, so the worker decodes them with ffmpeg (resampling), like any upload that is not 16 kHz PCM */
export const UPLOAD_RATE = 22050;
export const API_KEY = 'bench-key-0123456789abcdef';

// ---------------------------------------------------------------- clips

export interface Clip {
  name: string;
  /** 16 kHz mono */
  samples: Float32Array;
  sec: number;
}

async function fixtureClips(): Promise<Clip[]> {
  const out: Clip[] = [];
  for (const dir of ['fixtures/heldout', 'fixtures/audio']) {
    const names = (await readdir(join(REPO_ROOT, dir))).filter((n) => /\.(wav|flac)$/.test(n)).sort();
    for (const n of names) {
      const samples = await decodeFile(join(REPO_ROOT, dir, n));
      out.push({ name: n, samples, sec: samples.length / SR });
    }
  }
  return out;
}

/** clips joined with `gapSec` of near-silence (−60 dBFS noise) */
export function concatClips(parts: Clip[], gapSec: number, seed: number): Float32Array {
  const r = rng(seed);
  const gap = Math.round(gapSec * SR);
  const n = parts.reduce((a, p) => a + p.samples.length, 0) + gap * (parts.length + 1);
  const out = new Float32Array(n);
  let o = 0;
  const noise = (len: number): void => {
    for (let i = 0; i < len; i++) out[o + i] = 0.001 * (r() * 2 - 1);
    o += len;
  };
  noise(gap);
  for (const p of parts) {
    out.set(p.samples, o);
    o += p.samples.length;
    noise(gap);
  }
  return out;
}

export interface ClipSet {
  /** the real fixture clips */
  real: Clip[];
  /** concatenations of held-out clips, 15–60 s (longer than 30 s go through the segmenter) */
  long: Clip[];
  /** ≈10 s concatenations (latency bar) */
  ten: Clip[];
}

/** about `targetSec` (± 1 s) of clips drawn (seeded) from `pool`, joined with `gap` s of near-silence */
export function concatOf(pool: Clip[], targetSec: number, seed: number, gap: number): Clip {
  const r = rng(seed);
  const parts: Clip[] = [];
  let sec = gap;
  while (sec < targetSec - 1) {
    const c = pool[Math.floor(r() * pool.length)]!;
    if (sec + c.sec + gap > targetSec + 1 && parts.length > 0) break;
    parts.push(c);
    sec += c.sec + gap;
  }
  const samples = concatClips(parts, gap, seed);
  return { name: `concat-${targetSec}s-${seed}`, samples, sec: samples.length / SR };
}

export async function loadClips(): Promise<ClipSet> {
  const real = await fixtureClips();
  const held = real.filter((c) => c.name.startsWith('heldout-'));
  const build = (targetSec: number, seed: number, gap: number): Clip => concatOf(held, targetSec, seed, gap);
  const long = [15, 20, 25, 35, 45, 60].map((t, i) => build(t, 100 + i, 0.6));
  const ten = [0, 1, 2, 3, 4, 5].map((i) => build(10, 200 + i, 0.3));
  return { real, long, ten };
}

export { rng };

/** linear resampling to UPLOAD_RATE (payload only; the worker resamples back with ffmpeg) */
function resample(x: Float32Array, to: number): Float32Array {
  const n = Math.round((x.length * to) / SR);
  const out = new Float32Array(n);
  const step = SR / to;
  for (let i = 0; i < n; i++) {
    const p = i * step;
    const k = Math.floor(p);
    const f = p - k;
    out[i] = (x[k] ?? 0) * (1 - f) + (x[k + 1] ?? x[k] ?? 0) * f;
  }
  return out;
}

/** 16-bit PCM mono WAV; the least significant bits of the first 32 samples carry `tag`, so every request has its own MD5 (no cache hits) */
export function wavPayload(samples: Float32Array, tag: number, rate = UPLOAD_RATE): Uint8Array {
  const bytes = wavBytes(rate === SR ? samples : resample(samples, rate), rate);
  const pcm = new DataView(bytes.buffer, bytes.byteOffset + 44);
  for (let i = 0; i < 32 && i * 2 + 1 < pcm.byteLength; i++) pcm.setInt16(i * 2, (pcm.getInt16(i * 2, true) & ~1) | ((tag >>> i) & 1), true);
  return bytes;
}

export interface Req {
  clip: Clip;
  bytes: Uint8Array;
}

let tagCounter = (Date.now() & 0xffff) << 12;
/** `n` requests cycling through `clips` in a shuffled order, each with unique bytes */
export function makeRequests(clips: Clip[], n: number, seed: number): Req[] {
  const r = rng(seed);
  const order = clips.map((c) => ({ c, k: r() })).sort((a, b) => a.k - b.k).map((x) => x.c);
  return Array.from({ length: n }, (_, i) => {
    const clip = order[i % order.length]!;
    return { clip, bytes: wavPayload(clip.samples, tagCounter++) };
  });
}

/** the throughput mix: real clips with every fifth request a long concatenation */
export function mixRequests(set: ClipSet, n: number, seed: number): Req[] {
  const shortReqs = makeRequests(set.real, n, seed);
  const longReqs = makeRequests(set.long, Math.ceil(n / 5), seed + 1);
  return shortReqs.map((s, i) => (i % 5 === 4 ? longReqs[Math.floor(i / 5)]! : s));
}

// ---------------------------------------------------------------- stats

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}

export function mean(xs: number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

export interface Pcts {
  p50: number;
  p95: number;
  p99: number;
}
export function pcts(xs: number[]): Pcts {
  return { p50: percentile(xs, 50), p95: percentile(xs, 95), p99: percentile(xs, 99) };
}

// ---------------------------------------------------------------- RSS

/** resident set size of a process in MiB (Linux /proc) */
export async function rssMiB(pid: number): Promise<number> {
  try {
    const s = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(s);
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** samples the RSS of `pids` every `everyMs` until stopped; per pid mean and peak */
export function sampleRss(pids: number[], everyMs = 200) {
  const samples = new Map<number, number[]>(pids.map((p) => [p, []]));
  let busy = false;
  const t = setInterval(() => {
    if (busy) return;
    busy = true;
    void Promise.all(pids.map(async (p) => samples.get(p)!.push(await rssMiB(p)))).finally(() => (busy = false));
  }, everyMs);
  return {
    stop(): { meanMiB: number; peakMiB: number; perPid: { pid: number; meanMiB: number; peakMiB: number }[] } {
      clearInterval(t);
      const perPid = pids.map((pid) => {
        const xs = samples.get(pid)!.filter((x) => Number.isFinite(x));
        return { pid, meanMiB: mean(xs), peakMiB: xs.length ? Math.max(...xs) : NaN };
      });
      return { meanMiB: mean(perPid.map((p) => p.meanMiB)), peakMiB: Math.max(...perPid.map((p) => p.peakMiB)), perPid };
    },
  };
}

// ---------------------------------------------------------------- load generator

export interface Sample {
  clipSec: number;
  name: string;
  e2eMs: number;
  ok: boolean;
  /** worker-side split, when the target reports it */
  queueMs?: number;
  decodeMs?: number;
  batchWaitMs?: number;
  inferenceMs?: number;
  workerMs?: number;
  batchSizes?: number[];
  error?: string;
}

export interface LoadResult {
  concurrency: number;
  wallSec: number;
  audioSec: number;
  samples: Sample[];
}

/** Closed loop: `concurrency` clients, each sends its next request as soon as the previous one is answered. */
export async function closedLoop(reqs: Req[], concurrency: number, send: (r: Req) => Promise<Omit<Sample, 'clipSec' | 'name' | 'e2eMs'>>): Promise<LoadResult> {
  let next = 0;
  const samples: Sample[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= reqs.length) return;
        const r = reqs[i]!;
        const s = performance.now();
        let out: Omit<Sample, 'clipSec' | 'name' | 'e2eMs'>;
        try {
          out = await send(r);
        } catch (err) {
          out = { ok: false, error: err instanceof Error ? err.message : String(err) };
        }
        samples.push({ clipSec: r.clip.sec, name: r.clip.name, e2eMs: performance.now() - s, ...out });
      }
    }),
  );
  const wallSec = (performance.now() - t0) / 1000;
  return { concurrency, wallSec, audioSec: reqs.reduce((a, r) => a + r.clip.sec, 0), samples };
}

/** one request through the fleet: multipart upload, then long-poll (?wait=) until final */
export async function sendFleet(api: Client, r: Req): Promise<Omit<Sample, 'clipSec' | 'name' | 'e2eMs'>> {
  const created = await api.upload(r.bytes, `${r.clip.name}.wav`);
  if (created.status !== 202 && created.status !== 200) return { ok: false, error: `upload ${created.status} ${JSON.stringify(created.body)}` };
  const job = created.body.status === 'completed' ? created.body : await api.waitFinal(created.body.id, 60);
  if (job.status !== 'completed') return { ok: false, error: `${job.status} ${JSON.stringify(job.error)}` };
  const p = job.processing ?? {};
  return { ok: true, queueMs: p.queueMs, decodeMs: p.decodeMs, batchWaitMs: p.batchWaitMs, inferenceMs: p.inferenceMs, workerMs: p.workerMs, batchSizes: p.batchSizes };
}

// ---------------------------------------------------------------- processes

const childEnv = (env: Record<string, string>): Record<string, string> => ({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env });

/** Spawns a TypeScript entry with tsx (inheriting this process's niceness); resolves when `ready` matches its output. */
export async function spawnTs(entry: string, args: string[], env: Record<string, string>, ready: RegExp): Promise<{ proc: ChildProcess; output: () => string; readyMs: number }> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, ['--import', 'tsx', entry, ...args], { cwd: REPO_ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => {
      if (ready.test(out)) {
        clearInterval(t);
        resolve();
      }
    }, 20);
    proc.once('exit', (code) => {
      clearInterval(t);
      reject(new Error(`${entry} exited with ${code} before ready:\n${out.slice(-3000)}`));
    });
  });
  return { proc, output: () => out, readyMs: performance.now() - t0 };
}

export interface Stack {
  redis: TestRedis;
  workers: TestWorker[];
  gateway: ChildProcess;
  api: Client;
  varDir: string;
  /** per worker: process start → ready (model loaded, consuming) */
  workerColdStartMs: number[];
  gatewayColdStartMs: number;
  stop(): Promise<void>;
}

export interface StackOptions {
  workers: number;
  env?: Record<string, string>;
}

/** redis-server on a free port, N worker processes (testkit `spawnWorker`), the gateway as its own process */
export async function startStack(opts: StackOptions): Promise<Stack> {
  const varDir = await mkdtemp(join(tmpdir(), 'voxfleet-bench-'));
  const redis = await startRedis();
  const env = {
    ...baseEnv(redis.url, varDir),
    VOXFLEET_BATCH_MAX: '8',
    VOXFLEET_BATCH_WAIT_MS: '100',
    VOXFLEET_API_KEYS: API_KEY,
    VOXFLEET_MAX_UPLOAD_BYTES: String(1024 * 1024 * 1024),
    VOXFLEET_CLEANUP_INTERVAL_SEC: '0',
    VOXFLEET_MAX_WAIT_SEC: '60',
    ...opts.env,
  };
  const workerColdStartMs: number[] = [];
  const workers: TestWorker[] = [];
  // one at a time, so each cold start is measured without the others loading beside it
  for (let i = 0; i < opts.workers; i++) {
    const t0 = performance.now();
    workers.push(await spawnWorker(`bw${i + 1}`, env));
    workerColdStartMs.push(performance.now() - t0);
  }
  const port = await freePort();
  const gw = await spawnTs(join(REPO_ROOT, 'apps/gateway/src/main.ts'), [], { ...env, VOXFLEET_PORT: String(port) }, /listening/);
  const api = new Client(`http://127.0.0.1:${port}`, API_KEY);
  return {
    redis,
    workers,
    gateway: gw.proc,
    api,
    varDir,
    workerColdStartMs,
    gatewayColdStartMs: gw.readyMs,
    async stop() {
      await Promise.all(workers.map((w) => w.stop()));
      await stopProcess(gw.proc, 'SIGTERM');
      await redis.stop();
      await rm(varDir, { recursive: true, force: true });
    },
  };
}

export function machine() {
  const c = cpus();
  return { cpu: c[0]?.model ?? 'unknown', cores: c.length };
}
