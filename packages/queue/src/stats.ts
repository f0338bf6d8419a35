/**
 * Fleet-wide counters in one Redis hash (plus a batch-size histogram), written
 * by the workers and read by the gateway's /metrics, the tests and the
 * benchmarks. The field names live here only.
 */
import type { Redis } from 'ioredis';
import { fleetKeys, type FleetKeys } from './keys.js';

export type TaskOutcomeStatus = 'completed' | 'failed' | 'cancelled';

export interface BatchStat {
  size: number;
  /** real model frames in the batch */
  frames: number;
  /** batch size × longest item, in model frames */
  paddedFrames: number;
}

export interface FleetStatsSnapshot {
  tasks: Record<TaskOutcomeStatus, number>;
  batches: number;
  batchItems: number;
  batchFrames: number;
  batchPaddedFrames: number;
  /** per worker: the largest padded size of a batch of more than one item */
  paddedFramesMax: Record<string, number>;
  /** batch size → batches of that size */
  batchSizes: Record<number, number>;
}

const MAX_PREFIX = 'batch_padded_frames_max:';

export class FleetStats {
  private readonly keys: FleetKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = fleetKeys(prefix);
  }

  /** One inference batch; `newMaxPadded` when this worker's largest multi-item batch grew. */
  async recordBatch(workerId: string, b: BatchStat, newMaxPadded = false): Promise<void> {
    const m = this.redis
      .multi()
      .hincrby(this.keys.stats, 'batches', 1)
      .hincrby(this.keys.stats, 'batch_items', b.size)
      .hincrby(this.keys.stats, 'batch_frames', b.frames)
      .hincrby(this.keys.stats, 'batch_padded_frames', b.paddedFrames)
      .hincrby(this.keys.batchSizes, String(b.size), 1);
    if (newMaxPadded) m.hset(this.keys.stats, `${MAX_PREFIX}${workerId}`, b.paddedFrames);
    await m.exec();
  }

  /** A task's outcome; `replacing`: the status it had (counted then) and no longer has: the task moves from that count to `status`'s. */
  /** the hash whose `tasks_<status>` fields count outcomes: the worker's outcome write counts itself there (ResultStore.commit) */
  get countersKey(): string {
    return this.keys.stats;
  }

  /** Counts a run of the task starting now; returns how many runs it has had (1 on the first). */
  async countRun(taskId: string, ttlSec: number): Promise<number> {
    const r = await this.redis.multi().incr(this.keys.taskRuns(taskId)).expire(this.keys.taskRuns(taskId), ttlSec).exec();
    return Number(r?.[0]?.[1] ?? 1);
  }

  /** Forgets an erased task's run count. */
  async forgetRuns(taskId: string): Promise<void> {
    await this.redis.del(this.keys.taskRuns(taskId));
  }

  async runs(taskId: string): Promise<number> {
    return Number((await this.redis.get(this.keys.taskRuns(taskId))) ?? 0);
  }

  async read(): Promise<FleetStatsSnapshot> {
    const [raw, sizes] = await Promise.all([this.redis.hgetall(this.keys.stats), this.redis.hgetall(this.keys.batchSizes)]);
    const n = (f: string): number => Number(raw[f] ?? 0);
    const paddedFramesMax: Record<string, number> = {};
    for (const [k, v] of Object.entries(raw)) if (k.startsWith(MAX_PREFIX)) paddedFramesMax[k.slice(MAX_PREFIX.length)] = Number(v);
    return {
      tasks: { completed: n('tasks_completed'), failed: n('tasks_failed'), cancelled: n('tasks_cancelled') },
      batches: n('batches'),
      batchItems: n('batch_items'),
      batchFrames: n('batch_frames'),
      batchPaddedFrames: n('batch_padded_frames'),
      paddedFramesMax,
      batchSizes: Object.fromEntries(Object.entries(sizes).map(([k, v]) => [Number(k), Number(v)])),
    };
  }
}
