/** Ports, child processes and the environment of worker processes in end-to-end tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT, type Logger } from '@voxfleet/config';
import type { TestRedis } from './redis.js';

export const quietLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };

/** A TCP port free on 127.0.0.1 right now. */
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

/** Signals a child and resolves with its exit code once it has exited (at once if it already has). */
export function stopProcess(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => {
    proc.once('exit', (code) => resolve(code));
    proc.kill(signal);
  });
}

/** The environment every test process shares: the Redis, a var dir, a small CPU engine. */
export function baseEnv(redisUrl: string, varDir: string): Record<string, string> {
  return {
    VOXFLEET_REDIS_URL: redisUrl,
    VOXFLEET_VAR_DIR: varDir,
    VOXFLEET_PROVIDER: 'cpu',
    VOXFLEET_THREADS: '1',
    VOXFLEET_PRECISION: 'fp32',
    // tests run side by side: no process takes a fixed metrics port unless a test gives it one
    VOXFLEET_METRICS_PORT: 'off',
  };
}

export interface TestWorker {
  id: string;
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
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

/** Stops what a test started (any part may be missing if set-up failed) and removes its var dir. */
export async function stopStack(parts: { worker?: TestWorker; gw?: { close(): Promise<void> }; redis?: TestRedis; varDir?: string }): Promise<void> {
  await parts.worker?.stop();
  await parts.gw?.close();
  await parts.redis?.stop();
  if (parts.varDir) await rm(parts.varDir, { recursive: true, force: true });
}
