/**
 * The batch tracker: moves a batch's counters as its tasks finish, finishes
 * the batch when nothing is pending and delivers its callback; cancels what
 * is pending (`sweep`); gives up on a batch whose ingesting gateway died.
 * Runs every second over the active batches, and on demand for a GET. Any
 * gateway may track any batch: the batch lock serialises them.
 */
import type { BatchConfig, Logger } from '@voxfleet/config';
import type { TaskQueue } from '@voxfleet/queue';
import { isFinalBatch, type BatchMeta, type BatchStore, type CounterDelta, type JobRecord, type JobStore, type ResultStore, type TaskOutcome } from '@voxfleet/storage';
import { deliverCallback } from './callback.js';
import { add, countFinal } from './tally.js';
import { finalRecord, lostRecord, type TaskService } from '../jobs/tasks.js';

const LOST_CHECK_MS = 30_000;
const INGEST_STALE_MS = 120_000;
const CHUNK = 1000;

/** What the tracker uses (narrow, so unit tests can stub it). */
export interface TrackerDeps {
  store: Pick<BatchStore, 'active' | 'withLock' | 'get' | 'save' | 'deactivate' | 'pending' | 'settle' | 'counters' | 'cancelRequested' | 'requestCancel'>;
  jobs: Pick<JobStore, 'getMany' | 'detach'>;
  results: Pick<ResultStore, 'getMany'>;
  /** a model's queue */
  queue: (model: string) => Pick<TaskQueue, 'missing' | 'activeIds'>;
  tasks: Pick<TaskService, 'cancel' | 'modelOf'>;
  batch: BatchConfig;
  /** the callback signing secret for an owner (null: callbacks unavailable) */
  secretFor: (owner: string) => string | null;
  /** the batch is being ingested by this process */
  ingestingHere: (id: string) => boolean;
  /** the body a callback carries: the batch as GET shows it */
  viewOf: (meta: BatchMeta) => Promise<unknown>;
  log: Logger;
}

async function inChunks<T, R>(items: T[], fn: (part: T[]) => Promise<R[]>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(...(await fn(items.slice(i, i + CHUNK))));
  return out;
}

export class BatchTracker {
  private readonly lostCheckedAt = new Map<string, number>();
  private readonly deliveries = new Set<AbortController>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;

  constructor(private readonly d: TrackerDeps) {}

  /** Tracks every active batch each `intervalMs`. */
  start(intervalMs = 1000): void {
    this.timer = setInterval(() => void this.tick(), intervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    for (const c of this.deliveries) c.abort();
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      for (const id of await this.d.store.active()) await this.reconcile(id, false);
    } catch (err) {
      this.d.log.warn('batch tracker failed', { message: (err as Error).message });
    } finally {
      this.ticking = false;
    }
  }

  /** Moves the batch's counters for the tasks that finished; finishes the batch when nothing is pending. */
  async reconcile(id: string, wait: boolean): Promise<void> {
    const { store } = this.d;
    await store.withLock(
      id,
      async () => {
        const meta = await store.get(id);
        if (!meta || isFinalBatch(meta.status)) return store.deactivate(id);
        const left = await this.settlePending(id, this.d.queue(this.d.tasks.modelOf({ model: meta.options.model })));
        if (meta.status === 'processing' && left === 0) {
          await this.finish({ ...meta, status: (await store.cancelRequested(id)) ? 'cancelled' : 'completed' });
        } else if (meta.status === 'ingesting' && !this.d.ingestingHere(id)) {
          if (Date.now() - (await store.counters(id)).beat > INGEST_STALE_MS) {
            // The gateway ingesting it stopped (crash or restart): give up on it.
            this.d.log.warn('batch ingest interrupted', { batch: id });
            await store.requestCancel(id);
            void this.failInterrupted(id).catch((err: Error) => this.d.log.warn('failing an interrupted batch failed (the next round retries)', { batch: id, message: err.message }));
          }
        }
      },
      { wait },
    );
  }

  /** Settles the pending jobs whose tasks have an outcome (or are lost); returns how many stay pending. */
  private async settlePending(id: string, queue: Pick<TaskQueue, 'missing' | 'activeIds'>): Promise<number> {
    const { store, results, jobs } = this.d;
    const pending = await store.pending(id);
    const jobIds = Object.keys(pending);
    if (jobIds.length === 0) return 0;
    const taskIds = [...new Set(Object.values(pending))];
    const outcomes = new Map<string, TaskOutcome>();
    const collect = async (ids: string[]): Promise<void> => {
      (await inChunks(ids, (part) => results.getMany(part))).forEach((o, k) => o && outcomes.set(ids[k]!, o));
    };
    await collect(taskIds);
    let lost = new Set<string>();
    const now = Date.now();
    if (now - (this.lostCheckedAt.get(id) ?? 0) > LOST_CHECK_MS) {
      this.lostCheckedAt.set(id, now);
      lost = await queue.missing(taskIds.filter((t) => !outcomes.has(t)));
      // A task may finish between the two reads: its outcome exists now.
      await collect([...lost]);
      for (const t of outcomes.keys()) lost.delete(t);
    }
    const done = jobIds.filter((j) => outcomes.has(pending[j]!) || lost.has(pending[j]!));
    const delta: CounterDelta = {};
    const saved: JobRecord[] = [];
    (await inChunks(done, (part) => jobs.getMany(part))).forEach((r) => {
      if (!r) return add(delta, 'failed');
      let next = r;
      if (!r.final) {
        const o = outcomes.get(r.taskId);
        next = o ? finalRecord(r, o) : lostRecord(r, now);
        saved.push(next);
      }
      countFinal(delta, next);
    });
    const left = jobIds.length - done.length;
    let processing = 0;
    if (left > 0) {
      const active = await queue.activeIds();
      const doneSet = new Set(done);
      for (const j of jobIds) if (!doneSet.has(j) && active.has(pending[j]!)) processing++;
    }
    await store.settle(id, { saved, done, delta, processing });
    return left;
  }

  /** Marks the batch final (caller holds the lock) and starts its callback. */
  async finish(meta: BatchMeta): Promise<void> {
    const next: BatchMeta = {
      ...meta,
      finishedAt: Date.now(),
      ...(meta.options.callbackUrl ? { callback: { status: 'pending', attempts: 0, lastError: null, deliveredAt: null } } : {}),
    };
    await this.d.store.save(next);
    this.lostCheckedAt.delete(meta.id);
    if (next.options.callbackUrl) void this.sendCallback(next);
  }

  /** Finishes the batch under its lock unless it is final already; `patch` sees the current meta. */
  async finishLocked(id: string, patch: (cur: BatchMeta) => BatchMeta | null): Promise<void> {
    await this.d.store.withLock(id, async () => {
      const cur = await this.d.store.get(id);
      if (!cur || isFinalBatch(cur.status)) return;
      const next = patch(cur);
      if (next) await this.finish(next);
    });
  }

  private async sendCallback(meta: BatchMeta): Promise<void> {
    const { batch: cfg, store } = this.d;
    const secret = this.d.secretFor(meta.owner);
    const url = meta.options.callbackUrl;
    if (!secret || !url) return;
    const ctrl = new AbortController();
    this.deliveries.add(ctrl);
    try {
      const body = JSON.stringify({ event: 'batch.finished', batch: await this.d.viewOf(meta) });
      const updateState = async (state: NonNullable<BatchMeta['callback']>): Promise<void> => {
        const cur = await store.get(meta.id);
        if (cur) await store.save({ ...cur, callback: state });
      };
      const r = await deliverCallback(url, body, {
        secret,
        attempts: cfg.callbackAttempts,
        backoffMs: cfg.callbackBackoffMs,
        timeoutMs: cfg.callbackTimeoutMs,
        allowPrivate: cfg.callbackAllowPrivate,
        event: 'batch.finished',
        signal: ctrl.signal,
        onAttempt: (attempt, error) =>
          updateState({ status: error === null ? 'delivered' : attempt >= cfg.callbackAttempts ? 'failed' : 'pending', attempts: attempt, lastError: error, deliveredAt: error === null ? Date.now() : null }),
      });
      if (!r.delivered) this.d.log.warn('batch callback failed', { batch: meta.id, attempts: r.attempts, error: r.lastError });
    } catch (err) {
      this.d.log.warn('batch callback failed', { batch: meta.id, message: (err as Error).message });
    } finally {
      this.deliveries.delete(ctrl);
    }
  }

  /** Cancels every pending job of the batch (idempotent); tasks nobody else wants leave the queue or are aborted. */
  async sweep(id: string): Promise<void> {
    const { store, jobs, tasks } = this.d;
    const toCancel: JobRecord[] = [];
    await store.withLock(id, async () => {
      const ids = Object.keys(await store.pending(id));
      if (ids.length === 0) return;
      const delta: CounterDelta = {};
      const saved: JobRecord[] = [];
      const now = Date.now();
      (await inChunks(ids, (part) => jobs.getMany(part))).forEach((r) => {
        if (!r) return add(delta, 'cancelled');
        if (r.final) return countFinal(delta, r);
        const cancelled: JobRecord = { ...r, status: 'cancelled', final: true, completedAt: now };
        saved.push(cancelled);
        countFinal(delta, cancelled);
        toCancel.push(r);
      });
      await store.settle(id, { saved, done: ids, delta, processing: 0 });
    });
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < toCancel.length) {
        const r = toCancel[next++]!;
        if ((await jobs.detach(r.taskId, r.id)) === 0) await tasks.cancel(r);
      }
    };
    await Promise.all(Array.from({ length: 8 }, lane));
  }

  private async failInterrupted(id: string): Promise<void> {
    await this.sweep(id);
    await this.d.store.withLock(id, async () => {
      const meta = await this.d.store.get(id);
      if (!meta || isFinalBatch(meta.status)) return;
      const rest = meta.entries.total - (await this.d.store.counters(id)).ingested;
      if (rest > 0) await this.d.store.settle(id, { saved: [], done: [], delta: { failed: rest, ingested: rest } });
      await this.finish({ ...meta, status: 'failed', error: { code: 'ingest_interrupted', message: 'the gateway ingesting this archive stopped before it finished' } });
    });
  }
}
