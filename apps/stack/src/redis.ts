/**
 * The embedded Redis of `npm start`: its data directory (var/redis, 0700,
 * files 0600: the AOF holds transcripts), its password (var/redis-password,
 * 0600, made on first start and kept), its config file (0600, so the
 * password is not on a command line `ps` shows), and what a start does about
 * a Redis an earlier run left behind: one whose pid file or data directory
 * is ours is stopped (it is restarted as this supervisor's child); a port
 * held by anything else is a clear error, never an EADDRINUSE crash.
 *
 * The direct connections here reach the embedded Redis on its loopback port
 * only (to identify or stop a leftover one of ours); the fleet's Redis —
 * embedded, external or behind Sentinel — is reached through `createRedis`.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { RedisConfig } from '@voxfleet/config';
import { createRedis, withTimeout } from '@voxfleet/queue';
import { commandLine, identify, portFree, portHolder, terminate } from './procs.js';

export const PASSWORD_FILE = 'redis-password';

export interface RedisPaths {
  dataDir: string;
  conf: string;
  pidFile: string;
  passwordFile: string;
}

export function redisPaths(varDir: string): RedisPaths {
  const dataDir = join(varDir, 'redis');
  return { dataDir, conf: join(dataDir, 'redis.conf'), pidFile: join(dataDir, 'redis.pid'), passwordFile: join(varDir, PASSWORD_FILE) };
}

/** A start that cannot go on, with the reason to print (no stack trace). */
export class StackError extends Error {
  override readonly name = 'StackError';
}

/** The password in `file`, or a new one written there (0600) if it has none. */
export async function loadOrCreatePassword(file: string): Promise<{ password: string; generated: boolean }> {
  const existing = await readFile(file, 'utf8').then(
    (t) => t.trim(),
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    },
  );
  if (existing.length >= 16) {
    await chmod(file, 0o600);
    return { password: existing, generated: false };
  }
  const password = randomBytes(24).toString('base64url');
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  await chmod(file, 0o600); // an existing (too short) file keeps its mode on overwrite
  return { password, generated: true };
}

/** Directories 0700, files 0600, below and including `dir` (Redis's own files; links are left alone). */
export async function makePrivate(dir: string): Promise<void> {
  await chmod(dir, 0o700);
  for (const name of await readdir(dir)) {
    const p = join(dir, name);
    const st = await lstat(p);
    if (st.isDirectory()) await makePrivate(p);
    else if (st.isFile()) await chmod(p, 0o600);
  }
}

const quoted = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export function redisConf(p: RedisPaths, port: number, password: string): string {
  return [
    '# Written by `npm start` (apps/stack/src/redis.ts) at every start: edits are overwritten.',
    `port ${port}`,
    'bind 127.0.0.1',
    'protected-mode yes',
    `dir ${quoted(p.dataDir)}`,
    `pidfile ${quoted(p.pidFile)}`,
    'appendonly yes',
    'maxmemory-policy noeviction',
    'daemonize no',
    `requirepass ${password}`,
    '',
  ].join('\n');
}

/** Data directory, password and config file ready for `redis-server <conf>`. */
export async function prepareRedis(varDir: string, port: number): Promise<{ paths: RedisPaths; password: string; generated: boolean; url: string }> {
  const paths = redisPaths(varDir);
  await mkdir(paths.dataDir, { recursive: true, mode: 0o700 });
  await makePrivate(paths.dataDir);
  const { password, generated } = await loadOrCreatePassword(paths.passwordFile);
  await writeFile(paths.conf, redisConf(paths, port, password), { mode: 0o600 });
  await chmod(paths.conf, 0o600);
  return { paths, password, generated, url: `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}` };
}

/** Asks the Redis on `port` for its data directory (with `password`, then without); null if it does not answer that. */
async function dataDirOf(port: number, password: string): Promise<string | null> {
  for (const pw of [password, undefined]) {
    const c = new Redis({ host: '127.0.0.1', port, password: pw, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000, commandTimeout: 2000 });
    c.on('error', () => {});
    try {
      await c.connect();
      const r = (await c.call('CONFIG', 'GET', 'dir')) as string[];
      return r[1] ?? null;
    } catch {
      /* not with this password, or not Redis */
    } finally {
      c.disconnect();
    }
  }
  return null;
}

async function shutdownAt(port: number, password: string): Promise<void> {
  const c = new Redis({ host: '127.0.0.1', port, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  await c.connect().catch(() => undefined);
  await c.call('SHUTDOWN').catch(() => undefined); // the connection closes as it shuts down
  c.disconnect();
}

/**
 * Makes `port` free for our Redis: stops a Redis an earlier run of ours left
 * (found by its pid file, or by answering with our data directory); a port
 * held by anything else throws a StackError naming the holder.
 */
export async function clearLeftoverRedis(p: RedisPaths, port: number, password: string, say: (msg: string) => void): Promise<void> {
  const pid = Number((await readFile(p.pidFile, 'utf8').catch(() => '')).trim());
  if (pid > 0 && (await commandLine(pid)).some((a) => a.includes('redis-server'))) {
    say(`stopping the Redis an earlier start left running (pid ${pid})`);
    await terminate(await identify(pid), 15_000);
  }
  if (await portFree(port)) return;
  const dir = await dataDirOf(port, password);
  if (dir === p.dataDir) {
    say(`stopping the Redis an earlier start left running on port ${port}`);
    await shutdownAt(port, password);
    for (let i = 0; i < 300 && !(await portFree(port)); i++) await new Promise((r) => setTimeout(r, 50));
    if (await portFree(port)) return;
  }
  const holder = await portHolder(port);
  throw new StackError(
    `port ${port} (the embedded Redis, VOXFLEET_REDIS_PORT) is in use by ${holder ? `another program: pid ${holder.pid} (${holder.command})` : 'another program'}` +
      `${dir ? `, a Redis with its data in ${dir}` : ''}. Stop it, or start with another port: VOXFLEET_REDIS_PORT=<port> npm start`,
  );
}

/** Whether the fleet's Redis (as the gateway and workers will reach it: directly or through the sentinels) answers PING. */
export async function redisAnswers(cfg: RedisConfig): Promise<boolean> {
  const c = createRedis(cfg, 'stack-probe', { role: 'client' });
  c.on('error', () => {}); // refused or not there yet: the caller asks again
  try {
    return (await withTimeout(c.ping(), 2000, 'ping')) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}
