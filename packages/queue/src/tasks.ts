/**
 * The transcription queue as the gateway uses it: add tasks (one or many),
 * look one up, take one back while it waits, tell which tasks have left the
 * queue, count states. BullMQ stays behind this class (and `createWorker`):
 * its key layout is known here only. `bull` is exposed for Bull Board alone.
 */
import { Queue, type JobsOptions, type JobState } from 'bullmq';
import type { Redis } from 'ioredis';
import type { QueueConfig } from '@voxfleet/config';
import { isRedisUnavailable, withTimeout } from './connections.js';
import type { TranscribeJob, TranscribeReturn } from './payload.js';

export interface NewTask {
  id: string;
  payload: TranscribeJob;
  /** BullMQ priority: 1 first … higher later */
  priority: number;
}

export type TaskState = JobState | 'unknown';

/** A task as the queue knows it now. */
export interface TaskSnapshot {
  id: string;
  data: TranscribeJob;
  state: TaskState;
  progress: number;
  /** when a worker (last) picked it up */
  processedOn: number | null;
  finishedOn: number | null;
  failedReason: string | null;
}

export const QUEUE_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

const NOT_STARTED: ReadonlySet<TaskState> = new Set(['waiting', 'prioritized', 'delayed', 'waiting-children']);

export function jobOptions(cfg: QueueConfig, retentionSec: number, priority?: number): JobsOptions {
  return {
    attempts: cfg.attempts,
    backoff: { type: 'exponential', delay: cfg.backoffMs },
    removeOnComplete: { age: retentionSec, count: 10_000 },
    removeOnFail: { age: retentionSec, count: 10_000 },
    ...(priority !== undefined ? { priority } : {}),
  };
}

/**
 * A run's hold on its task: BullMQ's lock on the job, holding the token of
 * the run that owns it. BullMQ sets it when a worker takes the job, renews it
 * while the run goes on, deletes it when the job completes or fails; it
 * expires when the worker stops renewing (cut off, stuck), and holds another
 * token once a later run took the job back up. An outcome written only while
 * the lock holds the run's token (ResultStore.commit) is the owner's.
 */
export interface RunFence {
  key: string;
  token: string;
}

/** The fence of a run of `job` holding `token`; null without a token (a run outside a BullMQ worker: nothing to fence). */
export function runFence(job: { id?: string | undefined; queueQualifiedName: string }, token: string | undefined): RunFence | null {
  if (!token || !job.id) return null;
  // BullMQ's layout: the job hash is `<prefix>:<queue>:<id>`, its lock `…:<id>:lock` (prepareJobForProcessing.lua).
  return { key: `${job.queueQualifiedName}:${job.id}:lock`, token };
}

export interface TaskQueueOptions {
  /**
   * Each call fails with RedisUnavailableError after this long instead of
   * waiting for Redis (the gateway: an HTTP request answers 503). Unset: calls
   * wait as long as Redis is away (a worker's queue).
   */
  timeoutMs?: number;
}

export class TaskQueue {
  readonly bull: Queue<TranscribeJob, TranscribeReturn>;

  constructor(
    private readonly cfg: QueueConfig,
    private readonly connection: Redis,
    private readonly retentionSec: number,
    private readonly opts: TaskQueueOptions = {},
  ) {
    this.bull = new Queue<TranscribeJob, TranscribeReturn>(cfg.name, { connection });
    // BullMQ re-emits the connection's errors on the queue and, with no listener, prints each one to
    // stderr (a Redis outage or failover: one per reconnect attempt). The connection's owner logs them already.
    this.bull.on('error', () => {});
  }

  /** `p` bounded by the configured timeout (if any). */
  private bounded<T>(what: string, p: Promise<T>): Promise<T> {
    return this.opts.timeoutMs === undefined ? p : withTimeout(p, this.opts.timeoutMs, what);
  }

  get name(): string {
    return this.cfg.name;
  }

  /** Adds tasks in one round trip. Idempotent by id: a task another gateway added already is left as it is. */
  async add(tasks: NewTask[]): Promise<void> {
    if (tasks.length === 0) return;
    await this.bounded('queue add', this.bull.addBulk(tasks.map((t) => ({ name: 'transcribe', data: t.payload, opts: { ...jobOptions(this.cfg, this.retentionSec, t.priority), jobId: t.id } }))));
  }

  async get(taskId: string): Promise<TaskSnapshot | null> {
    const job = await this.bounded('queue get', this.bull.getJob(taskId));
    if (!job) return null;
    const state = await this.bounded('queue state', job.getState());
    return {
      id: taskId,
      data: job.data,
      state,
      progress: typeof job.progress === 'number' ? job.progress : 0,
      processedOn: job.processedOn ?? null,
      finishedOn: job.finishedOn ?? null,
      failedReason: job.failedReason ?? null,
    };
  }

  /**
   * Takes a task out of the queue if no worker has started it: `removed`,
   * `running` (a worker holds it: cancel it there) or `gone`.
   */
  async takeBack(taskId: string): Promise<'removed' | 'running' | 'gone'> {
    const job = await this.bounded('queue get', this.bull.getJob(taskId));
    if (!job) return 'gone';
    if (!NOT_STARTED.has(await this.bounded('queue state', job.getState()))) return 'running';
    try {
      await this.bounded('queue remove', job.remove());
      return 'removed';
    } catch (err) {
      if (isRedisUnavailable(err)) throw err;
      return 'running'; // picked up meanwhile (locked)
    }
  }

  /** Removes a finished task (completed or failed) from the queue; a task a worker holds is left alone. */
  async removeFinished(taskId: string): Promise<void> {
    const job = await this.bounded('queue get', this.bull.getJob(taskId));
    if (!job) return;
    const state = await this.bounded('queue state', job.getState());
    if (state === 'completed' || state === 'failed') await this.bounded('queue remove', job.remove()).catch(() => undefined);
  }

  /** The tasks of `taskIds` that are no longer in the queue at all (finished and removed, or lost). */
  async missing(taskIds: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < taskIds.length; i += 1000) {
      const part = taskIds.slice(i, i + 1000);
      const pipe = this.connection.pipeline();
      for (const t of part) pipe.exists(this.bull.toKey(t));
      ((await this.bounded('queue exists', pipe.exec())) ?? []).forEach(([, n], k) => Number(n) === 0 && out.add(part[k]!));
    }
    return out;
  }

  /** Ids of the tasks workers hold now. */
  async activeIds(): Promise<Set<string>> {
    return new Set(await this.bounded('queue active', this.bull.getRanges(['active'], 0, -1)));
  }

  async counts(): Promise<Record<QueueState, number>> {
    const c = await this.bounded('queue counts', this.bull.getJobCounts(...QUEUE_STATES));
    return Object.fromEntries(QUEUE_STATES.map((s) => [s, c[s] ?? 0])) as Record<QueueState, number>;
  }

  /** Tasks no worker has picked up yet (waiting or prioritized). */
  async backlog(): Promise<number> {
    return this.bounded('queue backlog', this.bull.getJobCountByTypes('wait', 'prioritized'));
  }

  /** Removes finished tasks older than `graceMs`; returns how many. */
  async clean(graceMs: number, limit = 1000): Promise<number> {
    const done = await this.bull.clean(graceMs, limit, 'completed');
    const failed = await this.bull.clean(graceMs, limit, 'failed');
    return done.length + failed.length;
  }

  async close(): Promise<void> {
    await this.bull.close();
  }
}
