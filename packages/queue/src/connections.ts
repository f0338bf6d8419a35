/** Redis connections and the BullMQ worker factory, configured the one way the fleet needs them. */
import { Worker, type Processor, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { QueueConfig, RedisConfig } from '@voxfleet/config';
import type { TranscribeJob, TranscribeReturn } from './payload.js';

/** Redis client suited to BullMQ (blocking commands need `maxRetriesPerRequest: null`). */
export function createRedis(cfg: RedisConfig, name: string, opts: { lazyConnect?: boolean } = {}): Redis {
  return new Redis(cfg.url, {
    maxRetriesPerRequest: null,
    connectionName: `voxfleet-${name}`,
    lazyConnect: opts.lazyConnect ?? false,
  });
}

export function createWorker(
  cfg: QueueConfig,
  connection: Redis,
  processor: Processor<TranscribeJob, TranscribeReturn>,
  opts: Omit<WorkerOptions, 'connection'> = {},
): Worker<TranscribeJob, TranscribeReturn> {
  return new Worker<TranscribeJob, TranscribeReturn>(cfg.name, processor, { connection, ...opts });
}
