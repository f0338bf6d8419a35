/**
 * Redis connections and the BullMQ worker factory, configured the one way the
 * fleet needs them, and how the fleet tells "Redis is not answering" from
 * other errors.
 *
 * What each role does while Redis is away (ioredis 6; see its Redis.js
 * `sendCommand` and redis/event_handler.js `closeHandler` / `readyHandler`):
 *
 * - `bullmq` (default) — BullMQ workers, queues a worker uses, subscribers:
 *   `maxRetriesPerRequest: null` (BullMQ's blocking commands need it), commands
 *   wait in the offline queue and unanswered ones are re-sent after the
 *   reconnect. Nothing our code awaits fails; it waits for Redis.
 * - `producer` — the BullMQ queue behind an HTTP request (the gateway's adds
 *   and look-ups): still `maxRetriesPerRequest: null`, but once connected, a
 *   command issued while disconnected is rejected at once instead of queued
 *   (`enableOfflineQueue: false`, BullMQ's "failing fast when Redis is down"
 *   pattern). A command already sent when the connection drops is re-sent on
 *   reconnect, so callers bound their wait (`withTimeout`; TaskQueue does).
 * - `client` — our own reads and writes behind an HTTP request: commands
 *   issued while disconnected are rejected at once (after the first connect),
 *   commands in flight when the connection drops are rejected at once
 *   (`maxRetriesPerRequest: 0`, and never re-sent), and any command fails
 *   after `commandTimeoutMs` (a Redis that accepts connections but does not
 *   answer). Reconnects keep being tried every ≤ 1 s.
 *
 * The offline queue is on until the first connect in every role, so commands
 * issued while a process starts wait for Redis as they always did.
 *
 * With Redis Sentinel configured (`cfg.sentinel`), every connection of every
 * role asks the sentinels for the current primary on each (re)connect, so a
 * failover looks like the outage above: the old primary's connections drop,
 * the reconnects land on the promoted replica (ioredis checks the role it
 * reaches and moves on from a replica). This function is the only place that
 * opens a connection to the fleet's Redis; BullMQ's own extra connections are
 * `duplicate()`s of ours, so they inherit all of this.
 */
import { Worker, type Processor, type WorkerOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { QueueConfig, RedisConfig } from '@voxfleet/config';
import type { TranscribeJob, TranscribeReturn } from './payload.js';

export type RedisRole = 'bullmq' | 'producer' | 'client';

/** Reconnect delay after the n-th failed attempt: 100 ms, 200 ms, … at most 1 s. */
const reconnectDelay = (attempt: number): number => Math.min(attempt * 100, 1000);

/**
 * Sentinel options: the sentinels and the master name, with the data nodes' credentials, db and TLS
 * taken from `cfg.url` (its host and port are not used: the sentinels name the primary).
 */
function sentinelOptions(cfg: RedisConfig): RedisOptions {
  const s = cfg.sentinel!;
  const url = new URL(cfg.url);
  const db = url.pathname.replace(/^\//, '');
  return {
    sentinels: s.nodes.map((n) => ({ host: n.host, port: n.port })),
    name: s.name,
    role: 'master',
    ...(s.password ? { sentinelPassword: s.password } : {}),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(/^\d+$/.test(db) ? { db: Number(db) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {}, enableTLSForSentinelMode: true } : {}),
    // A sentinel that does not answer is skipped for the next one instead of holding up the (re)connect.
    sentinelCommandTimeout: Math.max(500, Math.min(cfg.commandTimeoutMs, 2000)),
    // Every sentinel unreachable: ask them all again soon (a failover takes seconds), never give up.
    sentinelRetryStrategy: reconnectDelay,
  };
}

/**
 * Sentinel's `+switch-master`, watched once per process and deployment: on a
 * failover every connection still on the old primary reconnects at once (and
 * so asks the sentinels for the new one). Without it, a connection to a primary
 * that stays up through a failover (`SENTINEL FAILOVER`, a partition) keeps
 * writing there until Sentinel demotes it, about 8 s later, and those writes
 * are lost in its resync. (ioredis's own `failoverDetector` does this with
 * sentinel connections per client that have no error listener, so a sentinel
 * that is down prints an "Unhandled error event" per client and reconnect.)
 */
class FailoverWatch {
  private readonly clients = new Set<Redis>();
  private subscribers: Redis[] = [];

  constructor(private readonly sentinel: NonNullable<RedisConfig['sentinel']>) {}

  /** Follows `redis` (and the connections BullMQ duplicates from it) until it ends. */
  track(redis: Redis): Redis {
    this.clients.add(redis);
    redis.once('end', () => {
      this.clients.delete(redis);
      if (this.clients.size === 0) this.close();
    });
    const duplicate = redis.duplicate.bind(redis);
    redis.duplicate = ((override?: Partial<RedisOptions>) => this.track(duplicate(override))) as Redis['duplicate'];
    if (this.subscribers.length === 0) this.open();
    return redis;
  }

  private open(): void {
    const s = this.sentinel;
    this.subscribers = s.nodes.map((n) => {
      const sub = new Redis({
        host: n.host,
        port: n.port,
        ...(s.password ? { password: s.password } : {}),
        enableReadyCheck: false, // a sentinel is no data node: no INFO loading check
        maxRetriesPerRequest: null,
        retryStrategy: reconnectDelay,
      });
      // One sentinel down is what Sentinel is for: the others report the switch; this one is retried.
      sub.on('error', () => {});
      // The watch must never keep a process alive that has closed its own connections.
      sub.on('connect', () => (sub.stream as { unref?: () => void } | undefined)?.unref?.());
      sub.subscribe('+switch-master').catch(() => undefined); // re-sent by ioredis on every reconnect
      sub.on('message', (_channel: string, message: string) => this.switched(message));
      return sub;
    });
  }

  private close(): void {
    for (const sub of this.subscribers) sub.disconnect();
    this.subscribers = [];
  }

  /** `<master name> <old ip> <old port> <new ip> <new port>`: each sentinel sends it, so a second one finds nothing to do. */
  private switched(message: string): void {
    const [name, , , host, port] = message.split(' ');
    if (name !== this.sentinel.name || !host || !port) return;
    for (const c of this.clients) {
      const stream = c.stream as { remoteAddress?: string; remotePort?: number } | undefined;
      const onNew = stream?.remotePort === Number(port) && (stream.remoteAddress === host || stream.remoteAddress === `::ffff:${host}`);
      if (c.status === 'ready' && !onNew) c.disconnect(true); // reconnect: commands in flight are re-sent or fail as in an outage
    }
  }
}

/** One watch per Sentinel deployment (sentinels, name and password) in this process. */
const watches = new Map<string, FailoverWatch>();
const watchFor = (sentinel: NonNullable<RedisConfig['sentinel']>): FailoverWatch => {
  const key = JSON.stringify(sentinel);
  let w = watches.get(key);
  if (!w) watches.set(key, (w = new FailoverWatch(sentinel)));
  return w;
};

/**
 * A primary demoted while we stay connected (a manual failover, a partition healing) answers writes
 * with READONLY: drop the connection so the next one asks the sentinels again. `resend`: the command
 * did not run, so BullMQ's connections send it again to the new primary; a `client` call fails (503).
 */
const reconnectOnReadonly = (resend: boolean) => (err: Error): boolean | 1 | 2 => (err.message.startsWith('READONLY') ? (resend ? 2 : 1) : false);

/** Redis client for one role (default `bullmq`: what BullMQ's blocking connections need). */
export function createRedis(cfg: RedisConfig, name: string, opts: { lazyConnect?: boolean; role?: RedisRole } = {}): Redis {
  const role = opts.role ?? 'bullmq';
  const base: RedisOptions = {
    connectionName: `voxfleet-${name}`,
    lazyConnect: opts.lazyConnect ?? false,
    retryStrategy: reconnectDelay,
    // Only behind sentinels: a plain URL that names a replica is a configuration error, not a failover to follow.
    ...(cfg.sentinel ? { reconnectOnError: reconnectOnReadonly(role !== 'client') } : {}),
  };
  const byRole: Record<RedisRole, RedisOptions> = {
    bullmq: { maxRetriesPerRequest: null },
    producer: { maxRetriesPerRequest: null },
    client: { maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false, commandTimeout: cfg.commandTimeoutMs, connectTimeout: Math.max(1000, cfg.commandTimeoutMs) },
  };
  const options = { ...base, ...byRole[role] };
  const redis = cfg.sentinel ? watchFor(cfg.sentinel).track(new Redis({ ...sentinelOptions(cfg), ...options })) : new Redis(cfg.url, options);
  if (role !== 'bullmq') redis.once('ready', () => (redis.options.enableOfflineQueue = false));
  return redis;
}

/** Where connections go, for start-up logs (no secrets): the URL's host, or the sentinels and master name. */
export function describeRedis(cfg: RedisConfig): string {
  if (!cfg.sentinel) {
    const u = new URL(cfg.url);
    return `${u.protocol}//${u.host}${u.pathname.length > 1 ? u.pathname : ''}`;
  }
  return `sentinel master "${cfg.sentinel.name}" via ${cfg.sentinel.nodes.map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`)).join(',')}`;
}

export function createWorker(
  cfg: QueueConfig,
  connection: Redis,
  processor: Processor<TranscribeJob, TranscribeReturn>,
  opts: Omit<WorkerOptions, 'connection'> = {},
): Worker<TranscribeJob, TranscribeReturn> {
  return new Worker<TranscribeJob, TranscribeReturn>(cfg.name, processor, { connection, ...opts });
}

/** Redis did not answer in time, or is not connected: try again shortly. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
  constructor(what: string, cause?: unknown) {
    super(`Redis is unavailable (${what})`, cause === undefined ? undefined : { cause });
  }
}

/** `p`, or a RedisUnavailableError once `ms` have passed (the call itself is not cancelled). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisUnavailableError(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

// What ioredis (and Node's sockets) say when Redis is away; Redis's own "try later" replies.
const UNAVAILABLE_MESSAGES = [
  'Command timed out',
  "Stream isn't writeable",
  'Connection is closed',
  'Reached the max retries per request limit',
  'LOADING ',
  'MASTERDOWN ',
  'BUSY ',
  'TRYAGAIN ',
  // during a Sentinel failover: a demoted primary, a primary refusing writes without its replicas, a
  // blocking call cut by the role change, no sentinel answering (all of them: try again shortly)
  'READONLY ',
  'NOREPLICAS ',
  'UNBLOCKED ',
  'All sentinels are unreachable',
];
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTCONN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Whether `err` (or what it wraps) means Redis is unreachable or not answering now, as opposed to a bug or bad input. */
export function isRedisUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof RedisUnavailableError || e.name === 'MaxRetriesPerRequestError') return true;
    const code = (e as NodeJS.ErrnoException).code;
    if (code && UNAVAILABLE_CODES.has(code)) return true;
    if (UNAVAILABLE_MESSAGES.some((m) => e instanceof Error && e.message.startsWith(m))) return true;
  }
  return false;
}
