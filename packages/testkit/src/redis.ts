/**
 * A throw-away redis-server for end-to-end tests: a free port on loopback, a temp dir, no persistence.
 * Options run it as a host of a multi-host test would: on another address, under a command prefix
 * (`ip netns exec <ns>`, netns.ts), with AOF and a password.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, stopProcess } from './processes.js';

export interface TestRedis {
  url: string;
  client: Redis;
  dir: string;
  stop(): Promise<void>;
}

export interface RedisOptions {
  /** the address it binds (127.0.0.1) */
  host?: string;
  /** its port (a free one on loopback) */
  port?: number;
  /** a command the server runs under, e.g. `['ip', 'netns', 'exec', ns]` */
  wrap?: string[];
  /** AOF on (`appendfsync everysec`), as production runs it */
  appendonly?: boolean;
  /** `requirepass` (put in the URL) */
  password?: string;
}

/** Starts `redis-server` (from PATH; `.ci/run` installs it) and resolves once it answers PING. */
export async function startRedis(opts: RedisOptions = {}): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'voxfleet-e2e-'));
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? (await freePort());
  const args = ['--port', String(port), '--bind', host, '--dir', dir, '--save', '', '--appendonly', opts.appendonly ? 'yes' : 'no', '--maxmemory-policy', 'noeviction'];
  if (opts.appendonly) args.push('--appendfsync', 'everysec');
  if (opts.password) args.push('--requirepass', opts.password);
  const [cmd, ...pre] = [...(opts.wrap ?? []), 'redis-server'];
  const proc = spawn(cmd!, [...pre, ...args], { stdio: 'ignore' });
  proc.on('error', () => {}); // not installed: the PING below fails and says so
  const url = `redis://${opts.password ? `:${encodeURIComponent(opts.password)}@` : ''}${host}:${port}`;
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

/** A numeric hash field (0 when missing), e.g. the fleet's stats counters. */
export async function hstat(client: Redis, key: string, field: string): Promise<number> {
  return Number((await client.hget(key, field)) ?? 0);
}
