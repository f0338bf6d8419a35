/**
 * The stack under test: `npm start`'s supervisor (apps/stack/src/start.ts)
 * as a child process on loopback, with its own var directory and free ports,
 * two API keys (two tenants) and an admin password. Used by the chaos runner
 * and by the chaos tests. Waits are bounded by a number of polls.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@voxfleet/config';
import { freePort } from '@voxfleet/testkit';
import type { StackState } from '../apps/stack/src/state.js';

export const POLL_MS = 100;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface StackOptions {
  workers?: number;
  /** extra environment for every process (e.g. lock settings) */
  env?: Record<string, string>;
  /** reuse this var directory (and its ports) instead of a new one */
  reuse?: StackHandle;
}

export interface StackHandle {
  proc: ChildProcess;
  varDir: string;
  url: string;
  env: Record<string, string>;
  apiKeys: [string, string];
  admin: { user: string; password: string };
  /** everything the supervisor and its children printed so far */
  output(): string;
  state(): Promise<StackState>;
  /** pid of a child (redis, gateway, worker, worker-2, …) as the supervisor recorded it */
  pidOf(name: string): Promise<number>;
  redisPassword(): Promise<string>;
  /** the supervisor's exit code once it has exited */
  exited: Promise<number | null>;
}

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Polls `check` up to `polls` times (POLL_MS apart); true once it holds. */
export async function poll(check: () => boolean | Promise<boolean>, polls: number): Promise<boolean> {
  for (let i = 0; i < polls; i++) {
    if (await Promise.resolve(check()).catch(() => false)) return true;
    await sleep(POLL_MS);
  }
  return false;
}

/** Starts the supervisor and resolves once it printed "VoxFleet is running" (at most `polls` polls). */
export async function startStack(opts: StackOptions = {}, polls = 3000): Promise<StackHandle> {
  const prior = opts.reuse;
  const varDir = prior?.varDir ?? (await mkdtemp(join(tmpdir(), 'voxfleet-chaos-')));
  const apiKeys: [string, string] = prior?.apiKeys ?? [`vf_chaos_a_${randomBytes(12).toString('hex')}`, `vf_chaos_b_${randomBytes(12).toString('hex')}`];
  const admin = prior?.admin ?? { user: 'admin', password: randomBytes(16).toString('base64url') };
  const env: Record<string, string> = prior?.env ?? {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    VOXFLEET_VAR_DIR: varDir,
    VOXFLEET_HOST: '127.0.0.1',
    VOXFLEET_PORT: String(await freePort()),
    VOXFLEET_REDIS_PORT: String(await freePort()),
    VOXFLEET_API_KEYS: apiKeys.join(','),
    VOXFLEET_ADMIN_USER: admin.user,
    VOXFLEET_ADMIN_PASSWORD: admin.password,
    VOXFLEET_PROVIDER: 'cpu',
    VOXFLEET_THREADS: '1',
    VOXFLEET_WORKERS: String(opts.workers ?? 1),
    VOXFLEET_RESTART_DELAY_MS: '500',
    // the metrics listeners' fixed default ports would clash between stacks
    VOXFLEET_METRICS_PORT: 'off',
    ...opts.env,
  };
  const proc = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'apps/stack/src/start.ts')], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  proc.channel?.unref(); // the channel only tells the supervisor when this process is gone
  let out = '';
  // Whole lines only: stdout and stderr chunks must not interleave inside a line.
  const keep = (): ((b: Buffer) => void) => {
    let partial = '';
    return (b) => {
      const text = partial + b.toString();
      const nl = text.lastIndexOf('\n');
      if (nl < 0) {
        partial = text;
        return;
      }
      out += text.slice(0, nl + 1);
      partial = text.slice(nl + 1);
    };
  };
  proc.stdout!.on('data', keep());
  proc.stderr!.on('data', keep());
  proc.stdout!.on('error', () => {});
  proc.stderr!.on('error', () => {});
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  const up = await poll(() => done || out.includes('VoxFleet is running'), polls);
  if (!up || done) {
    proc.kill('SIGKILL');
    await exited;
    if (!prior) await rm(varDir, { recursive: true, force: true });
    throw new Error(`the stack did not come up:\n${out.slice(-4000)}`);
  }
  const state = async (): Promise<StackState> => JSON.parse(await readFile(join(varDir, 'stack.json'), 'utf8')) as StackState;
  return {
    proc,
    varDir,
    url: `http://127.0.0.1:${env.VOXFLEET_PORT}`,
    env,
    apiKeys,
    admin,
    output: () => out,
    state,
    async pidOf(name) {
      const pid = (await state()).children[name]?.pid;
      if (!pid) throw new Error(`no ${name} in the stack's state file`);
      return pid;
    },
    redisPassword: async () => (await readFile(join(varDir, 'redis-password'), 'utf8')).trim(),
    exited,
  };
}

/** Stops the stack (SIGTERM to the supervisor) and waits for it; `clean` also removes its var directory. */
export async function stopStack(s: StackHandle, clean = true): Promise<number | null> {
  if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGTERM');
  const code = await s.exited;
  if (clean) await rm(s.varDir, { recursive: true, force: true });
  return code;
}

/** Lines of the stack's output from `from` on that a child (e.g. "worker") printed, without the prefix. */
export function linesOf(out: string, child: string, from = 0): string[] {
  const tag = `[${child}] `;
  return out
    .slice(from)
    .split('\n')
    .filter((l) => l.startsWith(tag))
    .map((l) => l.slice(tag.length));
}

/** `key=value` of a log line (values without spaces). */
export function field(line: string, key: string): string | undefined {
  return new RegExp(`(?:^|\\s)${key}=(\\S+)`).exec(line)?.[1];
}

/** The time at the start of a log line (ISO), in ms. */
export function lineTime(line: string): number {
  return Date.parse(line.slice(0, 24));
}
