/**
 * The task module on stub repositories (no Redis): claims, the payload,
 * cancelling and a job's state read from its task.
 */
import type { NewTask, ServedModel, TaskSnapshot } from '@voxfleet/queue';
import type { CachedResult, JobRecord, TaskOutcome } from '@voxfleet/storage';
import { describe, expect, it } from 'vitest';
import { TaskService, finalRecord, type TaskDeps } from '../src/jobs/tasks.js';

const MD5 = 'a'.repeat(32);
const MODEL: ServedModel = { id: 'm@0123456789ab/fp32', name: 'm' };
const RESULT = { text: 'hello', language: null, segments: [], durationSec: 1, modelId: MODEL.id };

/** In-memory stand-ins for the queue, result store, result cache, cancel signals and events. */
function stubs() {
  const s = {
    tasks: new Map<string, TaskSnapshot>(),
    outcomes: new Map<string, TaskOutcome>(),
    cached: new Map<string, CachedResult>(),
    inflight: new Map<string, string>(),
    added: [] as NewTask[],
    cancelRequests: [] as string[],
    finished: [] as string[],
    released: [] as string[],
    forgotten: [] as string[],
    deletedBlobs: [] as string[],
    /** what `takeBack` answers */
    takeBack: 'removed' as 'removed' | 'running' | 'gone',
  };
  const deps: TaskDeps = {
    retentionSec: 60,
    shareCache: false,
    queue: (model: string) => ({
      name: `transcribe-${model}`,
      get: async (id: string) => s.tasks.get(id) ?? null,
      add: async (t: NewTask[]) => void s.added.push(...t),
      takeBack: async () => s.takeBack,
      removeFinished: async (id: string) => void s.tasks.delete(id),
    }),
    results: {
      get: async (id) => s.outcomes.get(id) ?? null,
      // the outcome script's rule for an unfenced write: a final outcome already stored stands
      commit: async (id, o) => {
        if (s.outcomes.has(id)) return 'done';
        s.outcomes.set(id, o);
        return 'written';
      },
      delete: async (id) => void s.outcomes.delete(id),
    },
    cache: {
      lookupOrClaim: async (key, candidate) => {
        const hit = s.cached.get(key);
        if (hit) return { hit };
        const holder = s.inflight.get(key) ?? candidate;
        s.inflight.set(key, holder);
        return { hit: null, taskId: holder, claimed: holder === candidate };
      },
      releaseInflight: async (key, taskId) => {
        if (s.inflight.get(key) === taskId) s.inflight.delete(key);
        s.released.push(taskId);
      },
      delete: async (key) => void s.cached.delete(key),
    },
    cancels: { request: async (taskId) => void s.cancelRequests.push(taskId) },
    events: { taskFinished: async (taskId) => void s.finished.push(taskId) },
    stats: { forgetRuns: async (taskId) => void s.forgotten.push(taskId) },
    blobs: { delete: async (key) => void s.deletedBlobs.push(key) },
    served: async () => MODEL,
    defaultModel: 'm',
  };
  return { s, deps, tasks: new TaskService(deps) };
}

/** A task key for cache key `cacheKey` on model "m". */
const keyOf = (cacheKey: string) => ({ cacheKey, modelName: 'm', scope: 'o', model: MODEL });

function snapshot(id: string, state: TaskSnapshot['state'], extra: Partial<TaskSnapshot> = {}): TaskSnapshot {
  const data = { v: 2 as const, itn: null, cacheScope: 'o', blobKey: 'ab/blob', md5: MD5, bytes: 10, filename: 'a.wav', durationSec: 2.5, language: null, modelId: MODEL.id, modelName: MODEL.name, cacheKey: 'c'.repeat(40), submittedAt: 1 };
  return { id, data, state, progress: 0, processedOn: null, finishedOn: null, failedReason: null, ...extra };
}

function record(tasks: TaskService, taskId = 't-1'): JobRecord {
  const key = tasks.key({ md5: MD5, language: null, modelName: 'm', served: MODEL, owner: 'o' });
  const r = tasks.newRecord({ key, audio: { md5: MD5, bytes: 10, durationSec: 1.23456, filename: 'a.wav', format: 'wav', codec: 'pcm_s16le' }, language: null, priority: null, owner: 'o', now: 1000 });
  return { ...r, taskId, blobKey: 'ab/blob' };
}

describe('task module', () => {
  it('keys a task on the audio, the model identity, the options and the tenant; no model keys on the queue', () => {
    const { tasks, deps } = stubs();
    const k = tasks.key({ md5: MD5, language: null, modelName: 'm', served: MODEL, owner: 'tenant-a' });
    expect(k.model).toBe(MODEL);
    expect(k.scope).toBe('tenant-a');
    expect(tasks.key({ md5: MD5, language: null, modelName: 'm', served: MODEL, owner: 'tenant-a' }).cacheKey).toBe(k.cacheKey);
    expect(tasks.key({ md5: MD5, language: 'en', modelName: 'm', served: MODEL, owner: 'tenant-a' }).cacheKey).not.toBe(k.cacheKey);
    expect(tasks.key({ md5: MD5, language: null, modelName: 'm', served: { ...MODEL, id: 'm@0123456789ab/fp16' }, owner: 'tenant-a' }).cacheKey).not.toBe(k.cacheKey);
    expect(tasks.key({ md5: MD5, language: null, modelName: 'm', served: null, owner: 'tenant-a' }).cacheKey).not.toBe(k.cacheKey);
    // tenants never share a cache entry or a task unless the cache is shared
    expect(tasks.key({ md5: MD5, language: null, modelName: 'm', served: MODEL, owner: 'tenant-b' }).cacheKey).not.toBe(k.cacheKey);
    const shared = new TaskService({ ...deps, shareCache: true });
    expect(shared.key({ md5: MD5, language: null, modelName: 'm', served: MODEL, owner: 'tenant-a' }).cacheKey).toBe(shared.key({ md5: MD5, language: null, modelName: 'm', served: MODEL, owner: 'tenant-b' }).cacheKey);
    expect(shared.key({ md5: MD5, language: null, modelName: 'm', served: MODEL, owner: 'tenant-a' }).scope).toBe('');
  });

  it('claims: a cache hit, a task of its own, one in flight to attach to, one just finished', async () => {
    const { s, tasks } = stubs();
    s.cached.set('hit', { result: RESULT, taskId: 't-old', cachedAt: 1 });
    expect(await tasks.claim(keyOf('hit'))).toMatchObject({ kind: 'hit', hit: { taskId: 't-old' } });

    const own = await tasks.claim(keyOf('k1'));
    expect(own).toMatchObject({ kind: 'own', claimed: true });
    const taskId = (own as { taskId: string }).taskId;
    expect(taskId).toMatch(/^t-k1-/);

    // the same key again while the task is queued: attach, with the queued payload's blob and duration
    s.tasks.set(taskId, snapshot(taskId, 'waiting'));
    expect(await tasks.claim(keyOf('k1'))).toEqual({ kind: 'attach', taskId, audio: { blobKey: 'ab/blob', durationSec: 2.5 } });

    // left the queue with an outcome (before its claim was released): attach to the outcome
    s.tasks.delete(taskId);
    s.outcomes.set(taskId, { status: 'cancelled', completedAt: 1 });
    expect(await tasks.claim(keyOf('k1'))).toEqual({ kind: 'attach', taskId, audio: null });

    // claimed but neither queued nor finished: create it under the claimed id
    s.outcomes.delete(taskId);
    expect(await tasks.claim(keyOf('k1'))).toEqual({ kind: 'own', taskId, claimed: false });
  });

  it('builds the payload from the record: keys and metadata, never audio bytes', () => {
    const { tasks } = stubs();
    const r = record(tasks);
    const t = tasks.task(r, tasks.key({ md5: MD5, language: null, modelName: 'm', served: MODEL, owner: 'o' }), 50);
    expect(t).toMatchObject({ id: 't-1', priority: 50 });
    expect(t.payload).toEqual({
      v: 2,
      blobKey: 'ab/blob',
      md5: MD5,
      bytes: 10,
      filename: 'a.wav',
      durationSec: 1.235,
      language: null,
      itn: null,
      modelId: MODEL.id,
      modelName: 'm',
      cacheKey: r.cacheKey,
      cacheScope: 'o',
      submittedAt: 1000,
    });
    expect(tasks.task({ ...r, priority: 3 }, tasks.key({ md5: MD5, language: null, modelName: 'm', served: null, owner: 'o' }), 50)).toMatchObject({ priority: 3, payload: { modelId: null, modelName: null } });
  });

  it('cancels: a waiting task leaves the queue with a cancelled outcome; a running one is signalled; a gone one is left', async () => {
    const { s, tasks } = stubs();
    s.inflight.set('k', 't-1');
    await tasks.cancel({ taskId: 't-1', cacheKey: 'k', blobKey: 'ab/blob-1' });
    expect(s.outcomes.get('t-1')).toMatchObject({ status: 'cancelled' });
    expect(s.inflight.has('k')).toBe(false);
    expect(s.deletedBlobs).toEqual(['ab/blob-1']); // a cancelled task's audio goes at once
    expect(s.finished).toEqual(['t-1']);
    expect(s.cancelRequests).toEqual([]);

    // a late run (its lock lapsed, the task back in the queue) wrote a completed outcome first: it stands
    s.outcomes.set('t-4', { status: 'completed', completedAt: 1 } as never);
    await tasks.cancel({ taskId: 't-4', cacheKey: 'k4', blobKey: 'ab/blob-4' });
    expect(s.outcomes.get('t-4')).toMatchObject({ status: 'completed' });
    expect(s.finished).toEqual(['t-1', 't-4']); // releasing, deleting and telling again are harmless

    s.takeBack = 'running';
    await tasks.cancel({ taskId: 't-2', cacheKey: 'k2', blobKey: 'ab/blob-2' });
    expect(s.cancelRequests).toEqual(['t-2']);
    expect(s.deletedBlobs).toEqual(['ab/blob-1', 'ab/blob-4']); // not t-2's: the worker deletes it when it stops
    expect(s.outcomes.has('t-2')).toBe(false);

    s.takeBack = 'gone';
    await tasks.cancel({ taskId: 't-3', cacheKey: 'k3', blobKey: 'ab/blob-3' });
    expect(s.cancelRequests).toEqual(['t-2']);
    expect(s.finished).toEqual(['t-1', 't-4']);
  });

  it('erases what a finished task left: cached result, queue job, outcome, run count, audio', async () => {
    const { s, tasks } = stubs();
    s.cached.set('ck', { result: RESULT, taskId: 't-9', cachedAt: 1 });
    s.outcomes.set('t-9', { status: 'cancelled', completedAt: 1 });
    s.tasks.set('t-9', snapshot('t-9', 'completed'));
    await tasks.erase({ taskId: 't-9', cacheKey: 'ck', blobKey: 'ab/blob-9' });
    expect(s.cached.has('ck')).toBe(false);
    expect(s.outcomes.has('t-9')).toBe(false);
    expect(s.tasks.has('t-9')).toBe(false);
    expect(s.forgotten).toEqual(['t-9']);
    expect(s.deletedBlobs).toEqual(['ab/blob-9']);
    // a cached job has no task of its own and no blob
    await tasks.erase({ taskId: '', cacheKey: 'ck2', blobKey: '' });
    expect(s.deletedBlobs).toEqual(['ab/blob-9']);
  });

  it("reads a job's state from its task without writing anything", async () => {
    const { s, tasks } = stubs();
    const r = record(tasks);
    const writes = () => s.outcomes.size + s.added.length;

    s.tasks.set('t-1', snapshot('t-1', 'waiting'));
    expect(await tasks.state(r)).toEqual({ record: r, progress: 0, finalised: false });

    s.tasks.set('t-1', snapshot('t-1', 'active', { progress: 40, processedOn: 5000 }));
    expect(await tasks.state(r)).toMatchObject({ record: { status: 'processing', startedAt: 5000 }, progress: 40, finalised: false });

    s.tasks.set('t-1', snapshot('t-1', 'failed', { processedOn: 5000, finishedOn: 6000, failedReason: 'boom' }));
    expect(await tasks.state(r)).toMatchObject({ record: { status: 'failed', final: true, error: { code: 'processing_failed', message: 'boom' } }, finalised: true });

    const outcome: TaskOutcome = { status: 'completed', result: RESULT, startedAt: 5000, completedAt: 6000, processing: { workerId: 'w', batchSizes: [1], inferenceMs: 3, attempts: 1 } };
    s.outcomes.set('t-1', outcome);
    const before = writes();
    expect(await tasks.state(r)).toEqual({ record: finalRecord(r, outcome), progress: 100, finalised: true });
    expect(writes()).toBe(before);

    const final = finalRecord(r, outcome);
    expect(await tasks.state(final)).toEqual({ record: final, progress: 100, finalised: false });

    s.outcomes.clear();
    s.tasks.clear();
    expect(await tasks.state(r)).toMatchObject({ record: { status: 'failed', error: { code: 'lost' } }, finalised: true });
  });

  it('tells a job whose shared task was cancelled by the others to resubmit', () => {
    const { tasks } = stubs();
    expect(finalRecord(record(tasks), { status: 'cancelled', completedAt: 7 })).toMatchObject({ status: 'failed', final: true, error: { code: 'task_cancelled' } });
  });
});
