/**
 * Everything the gateway and the workers must agree on about the queue:
 * the payload schema (keys and metadata, never audio bytes), job ids, Redis
 * connections, BullMQ factories, pub/sub channels and fleet keys (worker
 * heartbeats, counters).
 */
import { createHash } from 'node:crypto';
import { Queue, QueueEvents, Worker, type JobsOptions, type Processor, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { z } from 'zod';
import type { QueueConfig, RedisConfig } from '@voxfleet/config';

export const PAYLOAD_VERSION = 1;

/** What a worker needs to transcribe one task. The audio itself stays in the blob store. */
export const transcribeJobSchema = z.object({
  v: z.literal(PAYLOAD_VERSION),
  /** blob store key of the uploaded audio */
  blobKey: z.string().min(1),
  md5: z.string().regex(/^[0-9a-f]{32}$/),
  bytes: z.number().int().nonnegative(),
  filename: z.string(),
  durationSec: z.number().nonnegative(),
  /** requested language, or null for the model's own */
  language: z.string().nullable(),
  modelId: z.string().min(1),
  /** result-cache key the worker writes the transcript under */
  cacheKey: z.string().regex(/^[0-9a-f]{32,64}$/),
  submittedAt: z.number().int(),
});
export type TranscribeJob = z.infer<typeof transcribeJobSchema>;

/** What a job returns to BullMQ (small: the transcript itself lives in the result store). */
export interface TranscribeReturn {
  status: 'completed';
  workerId: string;
  textLength: number;
  batchSizes: number[];
}

/** Options that change the transcript; everything in here is part of the cache key. */
export interface OutputOptions {
  language: string | null;
}

/** Result-cache key: MD5 of the audio + model id + the options that change the output. */
export function cacheKeyFor(md5: string, modelId: string, opts: OutputOptions): string {
  const canonical = JSON.stringify({ md5, modelId, language: opts.language ?? null });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 40);
}

/** BullMQ ids may not contain ':' (they become parts of Redis keys). */
export function assertJobId(id: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new Error(`invalid job id "${id}": use [A-Za-z0-9_-] only (no ':')`);
  return id;
}

/**
 * Task (BullMQ job) id for a cache key. All identical uploads in flight share
 * one task; `generation` starts a fresh task once a previous one has finished.
 */
export function taskIdFor(cacheKey: string, generation: string): string {
  return assertJobId(`t-${cacheKey}-${generation}`);
}

export function jobOptions(cfg: QueueConfig, retentionSec: number, priority?: number): JobsOptions {
  return {
    attempts: cfg.attempts,
    backoff: { type: 'exponential', delay: cfg.backoffMs },
    removeOnComplete: { age: retentionSec, count: 10_000 },
    removeOnFail: { age: retentionSec, count: 10_000 },
    ...(priority !== undefined ? { priority } : {}),
  };
}

/** Redis client suited to BullMQ (blocking commands need `maxRetriesPerRequest: null`). */
export function createRedis(cfg: RedisConfig, name: string, opts: { lazyConnect?: boolean } = {}): Redis {
  return new Redis(cfg.url, {
    maxRetriesPerRequest: null,
    connectionName: `voxfleet-${name}`,
    lazyConnect: opts.lazyConnect ?? false,
  });
}

export function createQueue(cfg: QueueConfig, connection: Redis): Queue<TranscribeJob, TranscribeReturn> {
  return new Queue<TranscribeJob, TranscribeReturn>(cfg.name, { connection });
}

export function createQueueEvents(cfg: QueueConfig, redis: RedisConfig): QueueEvents {
  return new QueueEvents(cfg.name, { connection: createRedis(redis, 'queue-events') });
}

export function createWorker(
  cfg: QueueConfig,
  connection: Redis,
  processor: Processor<TranscribeJob, TranscribeReturn>,
  opts: Omit<WorkerOptions, 'connection'> = {},
): Worker<TranscribeJob, TranscribeReturn> {
  return new Worker<TranscribeJob, TranscribeReturn>(cfg.name, processor, { connection, ...opts });
}

/** Redis keys and pub/sub channels shared by the gateway and the workers. */
export function fleetKeys(prefix: string) {
  return {
    /** per-worker heartbeat (JSON WorkerHeartbeat, with a TTL) */
    worker: (id: string) => `${prefix}:workers:${id}`,
    workerPattern: `${prefix}:workers:*`,
    /** fleet-wide counters (hash) */
    stats: `${prefix}:stats`,
    /** histogram of inference batch sizes (hash: size → count) */
    batchSizes: `${prefix}:stats:batch_sizes`,
    /** runs started per task (a task that runs twice shows 2) */
    taskRuns: (taskId: string) => `${prefix}:task-runs:${taskId}`,
    /** `{"taskId"}` or `{"jobId"}`: something reached a final state */
    eventsChannel: `${prefix}:events`,
    /** `{"taskId","reason"}`: abort the task wherever it is running */
    cancelChannel: `${prefix}:cancel`,
    /** set before the cancel message is published: a worker that missed the message (it had fetched the
     * task but not started it yet) still sees the cancel before it completes the task */
    cancelled: (taskId: string) => `${prefix}:cancelled:${taskId}`,
  };
}
export type FleetKeys = ReturnType<typeof fleetKeys>;

export interface WorkerHeartbeat {
  workerId: string;
  pid: number;
  host: string;
  status: 'ready' | 'draining';
  modelId: string;
  provider: string;
  precision: string;
  loadMs: number;
  startedAt: number;
  updatedAt: number;
  maxBatch: number;
  maxWaitMs: number;
  active: number;
}

export interface FleetEvent {
  taskId?: string;
  jobId?: string;
}

/** Heartbeats of live workers (keys expire when a worker stops refreshing them). */
export async function listWorkers(redis: Redis, keys: FleetKeys): Promise<WorkerHeartbeat[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', keys.workerPattern, 'COUNT', 200);
    cursor = next;
    found.push(...batch);
  } while (cursor !== '0');
  if (found.length === 0) return [];
  const values = await redis.mget(...found);
  return values.flatMap((v) => {
    if (!v) return [];
    try {
      return [JSON.parse(v) as WorkerHeartbeat];
    } catch {
      return [];
    }
  });
}
