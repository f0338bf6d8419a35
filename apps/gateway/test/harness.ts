/* eslint-disable @typescript-eslint/no-explicit-any -- test client: JSON bodies are inspected field by field */
/**
 * End-to-end harness: a real redis-server on a free port with a temp dir,
 * worker processes spawned with tsx and the default model, and the gateway
 * on an ephemeral port in this process (real HTTP through fetch).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayConfigFromEnv, REPO_ROOT, type Logger } from '@voxfleet/config';
import { parseWav } from '@voxfleet/audio';
import { Redis } from 'ioredis';
import { startGateway, type RunningGateway } from '../src/index.js';

export const FIXTURES = join(REPO_ROOT, 'fixtures/audio');
export const CLIP = join(FIXTURES, 'en-funasr-example.wav');

export const quietLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface TestRedis {
  url: string;
  client: Redis;
  dir: string;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'voxfleet-e2e-'));
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], {
    stdio: 'ignore',
  });
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: (n) => (n > 100 ? null : 50) });
  client.on('error', () => {}); // refused until redis-server listens; retried
  await client.ping();
  return {
    url,
    client,
    dir,
    async stop() {
      client.disconnect();
      await stopProcess(proc, 'SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function stopProcess(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => {
    proc.once('exit', (code) => resolve(code));
    proc.kill(signal);
  });
}

export interface TestWorker {
  id: string;
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** Stops what a test started (any part may be missing if set-up failed) and removes its var dir. */
export async function stopStack(parts: { worker?: TestWorker; gw?: RunningGateway; redis?: TestRedis; varDir?: string }): Promise<void> {
  await parts.worker?.stop();
  await parts.gw?.close();
  await parts.redis?.stop();
  if (parts.varDir) await rm(parts.varDir, { recursive: true, force: true });
}

export function baseEnv(redisUrl: string, varDir: string): Record<string, string> {
  return {
    VOXFLEET_REDIS_URL: redisUrl,
    VOXFLEET_VAR_DIR: varDir,
    VOXFLEET_PROVIDER: 'cpu',
    VOXFLEET_THREADS: '1',
    VOXFLEET_PRECISION: 'fp32',
  };
}

/** Spawns `apps/worker/src/main.ts` and resolves once it reports ready (model loaded). */
export async function spawnWorker(id: string, env: Record<string, string>): Promise<TestWorker> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'apps/worker/src/main.ts')], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env, VOXFLEET_WORKER_ID: id },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => {
      if (/\bready\b.*workerId=/.test(out)) {
        clearInterval(t);
        resolve();
      }
    }, 50);
    void exited.then((code) => {
      clearInterval(t);
      reject(new Error(`worker ${id} exited with ${code} before ready:\n${out}`));
    });
  });
  return { id, proc, output: () => out, exited, stop: () => stopProcess(proc, 'SIGTERM') };
}

export async function startTestGateway(env: Record<string, string>): Promise<RunningGateway> {
  const cfg = gatewayConfigFromEnv({ VOXFLEET_PORT: '0', VOXFLEET_CLEANUP_INTERVAL_SEC: '0', ...env });
  return startGateway(cfg, quietLogger);
}

export class Client {
  constructor(
    readonly base: string,
    readonly key: string | null,
  ) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.key ? { authorization: `Bearer ${this.key}` } : {}), ...extra };
  }

  async upload(bytes: Uint8Array, filename = 'clip.wav', fields: Record<string, string> = {}, headers: Record<string, string> = {}) {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append('file', new Blob([bytes]), filename);
    const res = await fetch(`${this.base}/v1/jobs`, { method: 'POST', body: form, headers: this.headers(headers) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  /** `POST /v1/batches` with the archive as multipart field `file`. */
  async uploadBatch(bytes: Uint8Array, filename = 'archive.zip', fields: Record<string, string> = {}) {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append('file', new Blob([bytes]), filename);
    const res = await fetch(`${this.base}/v1/batches`, { method: 'POST', body: form, headers: this.headers() });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  /** A raw-body POST (e.g. an archive as `application/gzip`, options in the query string). */
  async postRaw(path: string, bytes: Uint8Array, contentType = 'application/octet-stream') {
    const res = await fetch(`${this.base}${path}`, { method: 'POST', body: bytes, headers: this.headers({ 'content-type': contentType }) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  async getBytes(path: string) {
    const res = await fetch(`${this.base}${path}`, { headers: this.headers() });
    return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type') ?? '' };
  }

  /** Polls `GET /v1/batches/:id` until the batch is final (bounded by polls, not time). */
  async waitBatch(id: string, maxPolls = 1200): Promise<Record<string, any>> {
    for (let i = 0; i < maxPolls; i++) {
      const r = await this.get(`/v1/batches/${id}`);
      if (r.status !== 200) throw new Error(`GET batch ${id}: ${r.status} ${r.text}`);
      if (['completed', 'cancelled', 'failed'].includes(r.body.status)) return r.body;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`batch ${id} did not finish`);
  }

  async get(path: string) {
    const res = await fetch(`${this.base}${path}`, { headers: this.headers() });
    const text = await res.text();
    let body: any = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body, text, contentType: res.headers.get('content-type') ?? '' };
  }

  async del(path: string) {
    const res = await fetch(`${this.base}${path}`, { method: 'DELETE', headers: this.headers() });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  /** Long-polls until the job is final (each call waits up to 20 s server-side). */
  async waitFinal(id: string, maxPolls = 30): Promise<Record<string, any>> {
    for (let i = 0; i < maxPolls; i++) {
      const r = await this.get(`/v1/jobs/${id}?wait=20`);
      if (r.status !== 200) throw new Error(`GET ${id}: ${r.status} ${r.text}`);
      if (['completed', 'failed', 'cancelled'].includes(r.body.status)) return r.body;
    }
    throw new Error(`job ${id} did not finish`);
  }
}

/** 16-bit PCM mono WAV bytes. */
export function wavBytes(samples: Float32Array, sampleRate = 16000): Uint8Array {
  const buf = Buffer.alloc(44 + samples.length * 2);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(36 + samples.length * 2, 4);
  buf.write('WAVE', 8);
  buf.write('fmt ', 12);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(sampleRate, 24);
  buf.writeUInt32LE(sampleRate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(samples.length * 2, 40);
  for (let i = 0; i < samples.length; i++) buf.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[i]! * 32767))), 44 + i * 2);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Samples of a 16 kHz fixture. */
export async function fixtureSamples(name = 'en-funasr-example.wav'): Promise<Float32Array> {
  const wav = parseWav(new Uint8Array(await readFile(join(FIXTURES, name))));
  if (wav.sampleRate !== 16000) throw new Error(`${name} is not 16 kHz`);
  return wav.samples;
}

/** `n` distinct short clips (different lengths of the same speech), so none dedupes against another. */
export function distinctClips(samples: Float32Array, n: number, baseSec = 1.5): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => wavBytes(samples.subarray(0, Math.round((baseSec + i * 0.04) * 16000))));
}

export async function hstat(client: Redis, key: string, field: string): Promise<number> {
  return Number((await client.hget(key, field)) ?? 0);
}
