/**
 * A throw-away Redis Sentinel deployment for tests: a primary, a replica
 * (`replicaof`) and three sentinels (quorum 2) on free loopback ports, each
 * in its own directory under one temp dir, each from a config file of its own
 * (sentinels rewrite theirs, and Sentinel's `CONFIG REWRITE` of a data node
 * needs one). The data nodes run as production should: AOF on, `noeviction`.
 * Sentinel's timings are short (down after 1 s) so a failover takes seconds.
 *
 * Nodes keep their port and directory across `kill` + `restart`, so a killed
 * primary comes back with its AOF; Sentinel then turns it into a replica of
 * the promoted one (after about 8 s: Sentinel waits that long before it
 * reconfigures a former primary that reports itself as primary).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, stopProcess } from './processes.js';

export interface SentinelNode {
  /** `primary`, `replica` (their roles at the start), `sentinel-1` … */
  name: string;
  port: number;
  dir: string;
  conf: string;
  proc: ChildProcess | null;
  /** redis-server's (or redis-sentinel's) output so far, for failure messages */
  output: () => string;
}

export interface TestSentinelRedis {
  /** the master name the sentinels monitor */
  masterName: string;
  /** VOXFLEET_REDIS_SENTINELS and VOXFLEET_REDIS_SENTINEL_NAME for the fleet's processes */
  env: Record<string, string>;
  primary: SentinelNode;
  replica: SentinelNode;
  sentinels: SentinelNode[];
  /** a direct connection to one node (retrying while it starts), for inspecting it */
  client(node: SentinelNode): Redis;
  /** the port of the primary the sentinels name now (asks each in turn until one answers) */
  primaryPort(): Promise<number>;
  /** resolves with the new primary's port once every sentinel names a primary other than `oldPort` and that node says it is one */
  waitForFailover(oldPort: number, timeoutMs?: number): Promise<number>;
  /** waits until `node` is a replica of the current primary with its link up */
  waitForReplica(node: SentinelNode, timeoutMs?: number): Promise<void>;
  /** SIGKILL (no shutdown, no last AOF write beyond what the OS has) */
  kill(node: SentinelNode): Promise<void>;
  /** starts a node again from its config file, on its port, with its data */
  restart(node: SentinelNode): Promise<void>;
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string | (() => string), timeoutMs: number, probe: () => Promise<T | null | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== null && v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
    await sleep(100);
  }
}

/** One short-lived connection: answers or fails within a second, never retries. */
async function ask<T>(port: number, fn: (c: Redis) => Promise<T>): Promise<T> {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000, commandTimeout: 1000 });
  c.on('error', () => {}); // refused while the node is down: the caller's promise says so
  try {
    await c.connect();
    return await fn(c);
  } finally {
    c.disconnect();
  }
}

const infoField = (info: string, field: string): string | undefined => new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();

/** Starts the five processes and resolves once replication is up and every sentinel sees the replica and both other sentinels. */
export async function startSentinelRedis(opts: { masterName?: string } = {}): Promise<TestSentinelRedis> {
  const masterName = opts.masterName ?? 'voxfleet-test';
  const root = await mkdtemp(join(tmpdir(), 'voxfleet-sentinel-'));
  const clients: Redis[] = [];
  const node = async (name: string, lines: (port: number, dir: string) => string[]): Promise<SentinelNode> => {
    const port = await freePort();
    const dir = join(root, name);
    await mkdir(dir);
    const conf = join(dir, name.startsWith('sentinel') ? 'sentinel.conf' : 'redis.conf');
    await writeFile(conf, [...lines(port, dir), ''].join('\n'));
    return { name, port, dir, conf, proc: null, output: () => '' };
  };
  const dataNode = (port: number, dir: string): string[] => [
    `port ${port}`,
    'bind 127.0.0.1',
    `dir ${dir}`,
    'appendonly yes',
    'save ""',
    'maxmemory-policy noeviction',
    // what a primary tells sentinels and replicas about itself: the loopback address the tests use
    'replica-announce-ip 127.0.0.1',
  ];
  const primary = await node('primary', dataNode);
  const replica = await node('replica', (port, dir) => [...dataNode(port, dir), `replicaof 127.0.0.1 ${primary.port}`]);
  const sentinels: SentinelNode[] = [];
  for (let i = 1; i <= 3; i++) {
    sentinels.push(
      await node(`sentinel-${i}`, (port, dir) => [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        'sentinel announce-ip 127.0.0.1',
        `sentinel monitor ${masterName} 127.0.0.1 ${primary.port} 2`,
        `sentinel down-after-milliseconds ${masterName} 1000`,
        `sentinel failover-timeout ${masterName} 10000`,
        `sentinel parallel-syncs ${masterName} 1`,
      ]),
    );
  }

  const launch = (n: SentinelNode): void => {
    const sentinel = n.name.startsWith('sentinel');
    const proc = spawn(sentinel ? 'redis-sentinel' : 'redis-server', [n.conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (b: Buffer): void => {
      out = (out + b.toString()).slice(-20_000);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    proc.on('error', (err) => keep(Buffer.from(`\n[spawn failed: ${err.message}]\n`))); // e.g. redis-sentinel not installed
    n.proc = proc;
    n.output = () => out;
  };
  const all = [primary, replica, ...sentinels];

  const primaryPort = async (): Promise<number> => {
    for (const s of sentinels) {
      try {
        const addr = (await ask(s.port, (c) => c.call('SENTINEL', 'get-master-addr-by-name', masterName))) as [string, string] | null;
        if (addr) return Number(addr[1]);
      } catch {
        /* this sentinel is down or starting: ask the next */
      }
    }
    throw new Error('no sentinel answered get-master-addr-by-name');
  };

  const waitForReplica = async (n: SentinelNode, timeoutMs = 60_000): Promise<void> => {
    await until(`${n.name} (port ${n.port}) to replicate from the primary`, timeoutMs, async () => {
      const port = await primaryPort();
      const info = await ask(n.port, (c) => c.info('replication'));
      return infoField(info, 'role') === 'slave' && infoField(info, 'master_port') === String(port) && infoField(info, 'master_link_status') === 'up' ? true : null;
    });
  };

  const env = {
    VOXFLEET_REDIS_SENTINELS: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
    VOXFLEET_REDIS_SENTINEL_NAME: masterName,
  };

  const handle: TestSentinelRedis = {
    masterName,
    env,
    primary,
    replica,
    sentinels,
    client(n) {
      const c = new Redis({ host: '127.0.0.1', port: n.port, maxRetriesPerRequest: null, retryStrategy: (k) => (k > 100 ? null : 50) });
      c.on('error', () => {}); // refused while the node is down; retried
      clients.push(c);
      return c;
    },
    primaryPort,
    async waitForFailover(oldPort, timeoutMs = 60_000) {
      return until(`the sentinels to promote a replica in place of port ${oldPort}`, timeoutMs, async () => {
        const named = await Promise.all(
          sentinels.map((s) => ask(s.port, (c) => c.call('SENTINEL', 'get-master-addr-by-name', masterName)).then((a) => Number((a as [string, string])[1]), () => null)),
        );
        const port = named[0];
        if (port == null || port === oldPort || named.some((p) => p !== port)) return null;
        const role = await ask(port, (c) => c.info('replication'));
        return infoField(role, 'role') === 'master' ? port : null;
      });
    },
    waitForReplica,
    async kill(n) {
      if (n.proc) await stopProcess(n.proc, 'SIGKILL');
    },
    async restart(n) {
      if (n.proc && n.proc.exitCode === null && n.proc.signalCode === null) throw new Error(`${n.name} is still running`);
      launch(n);
      await until(`${n.name} (port ${n.port}) to answer after a restart`, 20_000, () => ask(n.port, (c) => c.ping()));
    },
    async stop() {
      for (const c of clients) c.disconnect();
      // sentinels first, so none starts a failover while the data nodes stop
      for (const n of [...sentinels, replica, primary]) if (n.proc) await stopProcess(n.proc, 'SIGTERM');
      await rm(root, { recursive: true, force: true });
    },
  };

  try {
    for (const n of all) launch(n);
    for (const n of all) await until(() => `${n.name} (port ${n.port}) to answer PING; its output:\n${n.output()}`, 20_000, () => ask(n.port, (c) => c.ping()));
    await waitForReplica(replica, 20_000);
    // A failover needs the sentinels to know the replica and each other (they meet through the primary's hello channel, every 2 s).
    await until('every sentinel to see the replica and the two other sentinels', 30_000, async () => {
      const ok = await Promise.all(
        sentinels.map((s) =>
          ask(s.port, async (c) => {
            const replicas = (await c.call('SENTINEL', 'replicas', masterName)) as unknown[];
            const peers = (await c.call('SENTINEL', 'sentinels', masterName)) as unknown[];
            return replicas.length === 1 && peers.length === 2;
          }),
        ),
      );
      return ok.every(Boolean) ? true : null;
    });
  } catch (err) {
    await handle.stop().catch(() => undefined);
    throw err;
  }
  return handle;
}
