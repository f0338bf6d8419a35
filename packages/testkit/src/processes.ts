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

export interface SpawnOptions {
  /** a command the process runs under, e.g. `['ip', 'netns', 'exec', ns]` (another host: netns.ts) */
  wrap?: string[];
}

/** Spawns an app's entry (`node --import tsx <main>`) and resolves once its output matches `ready`. */
async function spawnApp(what: string, main: string, env: Record<string, string>, ready: RegExp, opts: SpawnOptions) {
  const [cmd, ...pre] = [...(opts.wrap ?? []), process.execPath];
  const proc = spawn(cmd!, [...pre, '--import', 'tsx', join(REPO_ROOT, main)], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  for (const s of [proc.stdout!, proc.stderr!]) s.on('error', (err: Error) => (out += `\n[${what} output: ${err.message}]\n`));
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code) => resolve(code));
    proc.once('error', (err) => {
      out += `\n[spawn failed: ${err.message}]\n`;
      resolve(null);
    });
  });
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const t = setInterval(() => {
      const m = ready.exec(out);
      if (m) {
        clearInterval(t);
        resolve(m);
      }
    }, 50);
    void exited.then((code) => {
      clearInterval(t);
      reject(new Error(`${what} exited with ${code} before ready:\n${out}`));
    });
  });
  return { proc, match, output: () => out, exited, stop: () => stopProcess(proc, 'SIGTERM') };
}

/** Spawns `apps/worker/src/main.ts` and resolves once it reports ready (model loaded). */
export async function spawnWorker(id: string, env: Record<string, string>, opts: SpawnOptions = {}): Promise<TestWorker> {
  const w = await spawnApp(`worker ${id}`, 'apps/worker/src/main.ts', { ...env, VOXFLEET_WORKER_ID: id }, /\bready\b.*workerId=/, opts);
  return { id, proc: w.proc, output: w.output, exited: w.exited, stop: w.stop };
}

export interface TestGatewayProcess {
  /** the URL it printed (`listening url=…`) */
  url: string;
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/**
 * Spawns `apps/gateway/src/main.ts` as its own process (where the in-process `startGatewayWith` cannot
 * go: another host) and resolves once it listens. `env` gives it everything (VOXFLEET_HOST, _PORT, …).
 */
export async function spawnGateway(env: Record<string, string>, opts: SpawnOptions = {}): Promise<TestGatewayProcess> {
  const g = await spawnApp('gateway', 'apps/gateway/src/main.ts', env, /\blistening url=(\S+)/, opts);
  return { url: g.match[1]!, proc: g.proc, output: g.output, exited: g.exited, stop: g.stop };
}

/** Stops what a test started (any part may be missing if set-up failed) and removes its var dir. */
export async function stopStack(parts: { worker?: TestWorker; gw?: { close(): Promise<void> }; redis?: TestRedis; varDir?: string }): Promise<void> {
  await parts.worker?.stop();
  await parts.gw?.close();
  await parts.redis?.stop();
  if (parts.varDir) await rm(parts.varDir, { recursive: true, force: true });
}
