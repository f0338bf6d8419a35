/**
 * The batch tracker on stub repositories (no Redis): settling pending jobs
 * as their tasks finish or disappear, finishing the batch, sweeping on
 * cancel, giving up on an interrupted ingest.
 */
import { gatewayConfigFromEnv, type Logger } from '@voxfleet/config';
import { COUNTER_FIELDS, type BatchMeta, type CounterDelta, type Counters, type JobRecord, type TaskOutcome } from '@voxfleet/storage';
import { describe, expect, it } from 'vitest';
import { BatchTracker, type TrackerDeps } from '../src/batches/tracker.js';

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };
const RESULT = { text: 'the cat', language: null, segments: [], durationSec: 2, modelId: 'm' };

function meta(status: BatchMeta['status'], extra: Partial<BatchMeta> = {}): BatchMeta {
  return {
    id: 'b_1',
    owner: 'o',
    status,
    createdAt: 1,
    ingestedAt: null,
    finishedAt: null,
    archive: { filename: 'a.zip', bytes: 1, format: 'zip', uncompressedBytes: 1 },
    entries: { total: 3, audio: 3 },
    options: { language: null, priority: null, reference: null, callbackUrl: null },
    ...extra,
  };
}

function job(id: string, taskId: string, extra: Partial<JobRecord> = {}): JobRecord {
  return {
    id,
    taskId,
    cacheKey: `c-${taskId}`,
    blobKey: 'ab/x',
    status: 'queued',
    final: false,
    cached: false,
    createdAt: 1,
    startedAt: null,
    completedAt: null,
    audio: { md5: 'a'.repeat(32), bytes: 1, durationSec: 2, filename: `${id}.wav`, format: 'wav', codec: 'pcm' },
    language: null,
    priority: null,
    owner: 'o',
    batch: { id: 'b_1', path: `${id}.wav` },
    ...extra,
  };
}

/** An in-memory batch store, job store, result store and queue. */
function world(batch: BatchMeta, jobs: JobRecord[]) {
  const w = {
    meta: new Map([[batch.id, batch]]),
    counters: Object.fromEntries(COUNTER_FIELDS.map((f) => [f, 0])) as Counters,
    pending: Object.fromEntries(jobs.map((j) => [j.id, j.taskId])) as Record<string, string>,
    jobs: new Map(jobs.map((j) => [j.id, j])),
    outcomes: new Map<string, TaskOutcome>(),
    queued: new Set(jobs.map((j) => j.taskId)),
    active: new Set<string>(),
    attached: new Map<string, Set<string>>(),
    cancelledTasks: [] as string[],
    active_batches: new Set([batch.id]),
  };
  for (const j of jobs) w.attached.set(j.taskId, new Set([...(w.attached.get(j.taskId) ?? []), j.id]));
  const deps: TrackerDeps = {
    store: {
      active: async () => [...w.active_batches],
      withLock: async (_id, fn) => fn(),
      get: async (id) => w.meta.get(id) ?? null,
      save: async (m) => {
        w.meta.set(m.id, m);
        if (['completed', 'cancelled', 'failed'].includes(m.status)) w.active_batches.delete(m.id);
      },
      deactivate: async (id) => void w.active_batches.delete(id),
      pending: async () => ({ ...w.pending }),
      settle: async (_id, c: { saved: JobRecord[]; done: string[]; delta: CounterDelta; processing?: number }) => {
        for (const r of c.saved) w.jobs.set(r.id, r);
        for (const d of c.done) delete w.pending[d];
        for (const [k, v] of Object.entries(c.delta)) w.counters[k as keyof Counters] += v ?? 0;
        if (c.processing !== undefined) w.counters.processing = c.processing;
      },
      counters: async () => ({ ...w.counters }),
      cancelRequested: async () => w.counters.cancelRequested > 0,
      requestCancel: async () => void (w.counters.cancelRequested = 1),
    },
    jobs: {
      getMany: async (ids) => ids.map((id) => w.jobs.get(id) ?? null),
      detach: async (taskId, id) => {
        const set = w.attached.get(taskId) ?? new Set();
        set.delete(id);
        return set.size;
      },
    },
    results: { getMany: async (ids) => ids.map((id) => w.outcomes.get(id) ?? null) },
    queue: () => ({
      missing: async (ids: string[]) => new Set(ids.filter((id) => !w.queued.has(id))),
      activeIds: async () => new Set(w.active),
    }),
    tasks: { cancel: async (r) => void w.cancelledTasks.push(r.taskId), modelOf: (r) => r.model ?? 'm' },
    batch: gatewayConfigFromEnv({}).batch,
    secretFor: () => null,
    ingestingHere: () => false,
    viewOf: async (m) => m,
    log: quiet,
  };
  return { w, tracker: new BatchTracker(deps) };
}

const completed = (startedAt = 10): TaskOutcome => ({ status: 'completed', result: RESULT, startedAt, completedAt: startedAt + 5, processing: { workerId: 'w', batchSizes: [2], inferenceMs: 4, attempts: 1 } });

describe('batch tracker', () => {
  it('settles jobs as their tasks finish, counts what is processing, and finishes the batch when nothing is pending', async () => {
    const { w, tracker } = world(meta('processing'), [job('j1', 't1'), job('j2', 't2'), job('j3', 't3')]);
    w.outcomes.set('t1', completed());
    w.outcomes.set('t2', { status: 'failed', error: { code: 'undecodable_audio', message: 'bad' }, startedAt: 10, completedAt: 11 });
    w.active.add('t3');
    await tracker.reconcile('b_1', true);
    expect(Object.keys(w.pending)).toEqual(['j3']);
    expect(w.counters).toMatchObject({ completed: 1, failed: 1, processing: 1, audioDoneMs: 2000 });
    expect(w.jobs.get('j1')).toMatchObject({ status: 'completed', final: true, result: RESULT });
    expect(w.jobs.get('j2')).toMatchObject({ status: 'failed', error: { code: 'undecodable_audio' } });
    expect(w.meta.get('b_1')!.status).toBe('processing');

    w.active.clear();
    w.outcomes.set('t3', completed());
    await tracker.reconcile('b_1', true);
    expect(w.counters).toMatchObject({ completed: 2, failed: 1, processing: 0 });
    expect(w.meta.get('b_1')).toMatchObject({ status: 'completed', finishedAt: expect.any(Number) });
    expect(w.active_batches.has('b_1')).toBe(false);
  });

  it('marks jobs whose task left the queue without an outcome as lost', async () => {
    const { w, tracker } = world(meta('processing'), [job('j1', 't1'), job('j2', 't2')]);
    w.queued.delete('t2'); // gone, no outcome
    await tracker.reconcile('b_1', true);
    expect(w.jobs.get('j2')).toMatchObject({ status: 'failed', error: { code: 'lost' } });
    expect(w.counters.failed).toBe(1);
    expect(Object.keys(w.pending)).toEqual(['j1']);
  });

  it('a batch cancelled while processing finishes as cancelled', async () => {
    const { w, tracker } = world(meta('processing'), [job('j1', 't1')]);
    w.counters.cancelRequested = 1;
    w.outcomes.set('t1', { status: 'cancelled', completedAt: 3 });
    await tracker.reconcile('b_1', true);
    expect(w.meta.get('b_1')!.status).toBe('cancelled');
    // a task cancelled under a job that still wanted it: the job fails with task_cancelled
    expect(w.jobs.get('j1')).toMatchObject({ status: 'failed', error: { code: 'task_cancelled' } });
  });

  it('sweeps: cancels every pending job and each task nobody else wants', async () => {
    const shared = job('j3', 't1'); // another job (j1) shares task t1
    const { w, tracker } = world(meta('processing'), [job('j1', 't1'), job('j2', 't2'), shared]);
    w.attached.get('t1')!.add('other-job');
    await tracker.sweep('b_1');
    expect(w.pending).toEqual({});
    expect([...w.jobs.values()].every((j) => j.status === 'cancelled' && j.final)).toBe(true);
    expect(w.counters).toMatchObject({ cancelled: 3, processing: 0 });
    // t1 is still wanted by a job outside the batch: only t2 is cancelled
    expect(w.cancelledTasks).toEqual(['t2']);
  });

  it('gives up on a batch whose ingesting gateway stopped beating', async () => {
    const { w, tracker } = world(meta('ingesting'), [job('j1', 't1')]);
    w.counters.ingested = 1;
    w.counters.beat = Date.now() - 10 * 60_000;
    await tracker.reconcile('b_1', true);
    for (let i = 0; i < 50 && w.meta.get('b_1')!.status === 'ingesting'; i++) await new Promise((r) => setTimeout(r, 5));
    expect(w.meta.get('b_1')).toMatchObject({ status: 'failed', error: { code: 'ingest_interrupted' } });
    // the two entries never ingested count as failed, the pending job as cancelled
    expect(w.counters).toMatchObject({ failed: 2, ingested: 3, cancelled: 1 });
  });

  it('leaves a finished batch alone and drops it from the work list', async () => {
    const { w, tracker } = world(meta('completed'), [job('j1', 't1')]);
    await tracker.reconcile('b_1', true);
    expect(w.active_batches.has('b_1')).toBe(false);
    expect(Object.keys(w.pending)).toEqual(['j1']);
  });
});
