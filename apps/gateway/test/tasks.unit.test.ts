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
    /** what `takeBack` answers */
    takeBack: 'removed' as 'removed' | 'running' | 'gone',
  };
  const deps: TaskDeps = {
    retentionSec: 60,
    queue: {
      name: 'transcribe',
      get: async (id) => s.tasks.get(id) ?? null,
      add: async (t) => void s.added.push(...t),
      takeBack: async () => s.takeBack,
    },
    results: {
      get: async (id) => s.outcomes.get(id) ?? null,
      set: async (id, o) => void s.outcomes.set(id, o),
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
    },
    cancels: { request: async (taskId) => void s.cancelRequests.push(taskId) },
    events: { taskFinished: async (taskId) => void s.finished.push(taskId) },
    model: async () => MODEL,
  };
  return { s, tasks: new TaskService(deps) };
}

function snapshot(id: string, state: TaskSnapshot['state'], extra: Partial<TaskSnapshot> = {}): TaskSnapshot {
  const data = { v: 2 as const, blobKey: 'ab/blob', md5: MD5, bytes: 10, filename: 'a.wav', durationSec: 2.5, language: null, modelId: MODEL.id, modelName: MODEL.name, cacheKey: 'c'.repeat(40), submittedAt: 1 };
  return { id, data, state, progress: 0, processedOn: null, finishedOn: null, failedReason: null, ...extra };
}

function record(tasks: TaskService, taskId = 't-1'): JobRecord {
  const key = tasks.key(MD5, null, MODEL);
  const r = tasks.newRecord({ key, audio: { md5: MD5, bytes: 10, durationSec: 1.23456, filename: 'a.wav', format: 'wav', codec: 'pcm_s16le' }, language: null, priority: null, owner: 'o', now: 1000 });
  return { ...r, taskId, blobKey: 'ab/blob' };
}

describe('task module', () => {
  it('keys a task on the audio, the model identity and the options; no model keys on the queue', () => {
    const { tasks } = stubs();
    const k = tasks.key(MD5, null, MODEL);
    expect(k.model).toBe(MODEL);
    expect(tasks.key(MD5, null, MODEL).cacheKey).toBe(k.cacheKey);
    expect(tasks.key(MD5, 'en', MODEL).cacheKey).not.toBe(k.cacheKey);
    expect(tasks.key(MD5, null, { ...MODEL, id: 'm@0123456789ab/fp16' }).cacheKey).not.toBe(k.cacheKey);
    expect(tasks.key(MD5, null, null).cacheKey).not.toBe(k.cacheKey);
  });

  it('claims: a cache hit, a task of its own, one in flight to attach to, one just finished', async () => {
    const { s, tasks } = stubs();
    s.cached.set('hit', { result: RESULT, taskId: 't-old', cachedAt: 1 });
    expect(await tasks.claim('hit')).toMatchObject({ kind: 'hit', hit: { taskId: 't-old' } });

    const own = await tasks.claim('k1');
    expect(own).toMatchObject({ kind: 'own', claimed: true });
    const taskId = (own as { taskId: string }).taskId;
    expect(taskId).toMatch(/^t-k1-/);

    // the same key again while the task is queued: attach, with the queued payload's blob and duration
    s.tasks.set(taskId, snapshot(taskId, 'waiting'));
    expect(await tasks.claim('k1')).toEqual({ kind: 'attach', taskId, audio: { blobKey: 'ab/blob', durationSec: 2.5 } });

    // left the queue with an outcome (before its claim was released): attach to the outcome
    s.tasks.delete(taskId);
    s.outcomes.set(taskId, { status: 'cancelled', completedAt: 1 });
    expect(await tasks.claim('k1')).toEqual({ kind: 'attach', taskId, audio: null });

    // claimed but neither queued nor finished: create it under the claimed id
    s.outcomes.delete(taskId);
    expect(await tasks.claim('k1')).toEqual({ kind: 'own', taskId, claimed: false });
  });

  it('builds the payload from the record: keys and metadata, never audio bytes', () => {
    const { tasks } = stubs();
    const r = record(tasks);
    const t = tasks.task(r, MODEL, 50);
    expect(t).toMatchObject({ id: 't-1', priority: 50 });
    expect(t.payload).toEqual({
      v: 2,
      blobKey: 'ab/blob',
      md5: MD5,
      bytes: 10,
      filename: 'a.wav',
      durationSec: 1.235,
      language: null,
      modelId: MODEL.id,
      modelName: 'm',
      cacheKey: r.cacheKey,
      submittedAt: 1000,
    });
    expect(tasks.task({ ...r, priority: 3 }, null, 50)).toMatchObject({ priority: 3, payload: { modelId: null, modelName: null } });
  });

  it('cancels: a waiting task leaves the queue with a cancelled outcome; a running one is signalled; a gone one is left', async () => {
    const { s, tasks } = stubs();
    s.inflight.set('k', 't-1');
    await tasks.cancel('t-1', 'k');
    expect(s.outcomes.get('t-1')).toMatchObject({ status: 'cancelled' });
    expect(s.inflight.has('k')).toBe(false);
    expect(s.finished).toEqual(['t-1']);
    expect(s.cancelRequests).toEqual([]);

    s.takeBack = 'running';
    await tasks.cancel('t-2', 'k2');
    expect(s.cancelRequests).toEqual(['t-2']);
    expect(s.outcomes.has('t-2')).toBe(false);

    s.takeBack = 'gone';
    await tasks.cancel('t-3', 'k3');
    expect(s.cancelRequests).toEqual(['t-2']);
    expect(s.finished).toEqual(['t-1']);
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
