/** A throw-away redis-server for end-to-end tests: a free port on loopback, a temp dir, no persistence. */
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

/** Starts `redis-server` (from PATH; `.ci/run` installs it) and resolves once it answers PING. */
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

/** A numeric hash field (0 when missing), e.g. the fleet's stats counters. */
export async function hstat(client: Redis, key: string, field: string): Promise<number> {
  return Number((await client.hget(key, field)) ?? 0);
}
