/**
 * ResultStore.commit (the COMMIT_OUTCOME script) on redis-server: which
 * run's outcome lands. The fence key stands for BullMQ's job lock (its value a
 * run's token); the worker's side of it runs in apps/worker/test/late-run.test.ts.
 * One case sends the script through a connection that loses its reply, so
 * ioredis sends it again after reconnecting (what a worker's connection does
 * on a blip): the run that wrote the outcome is answered `written` again.
 */
import { lossyProxy, startRedis, type TestRedis } from '@voxfleet/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResultCache, ResultStore, type TaskOutcome } from '../src/index.js';

const PREFIX = 'commit-test';

const failed: TaskOutcome = { status: 'failed', error: { code: 'processing_failed', message: 'x' }, startedAt: 1, completedAt: 2 };
const resultOf = (workerId: string) => ({ text: `text from ${workerId}`, language: null, segments: [], durationSec: 1, modelId: 'm' });
const completedBy = (workerId: string): TaskOutcome => ({
  status: 'completed',
  result: resultOf(workerId),
  startedAt: 1,
  completedAt: 2,
  processing: { workerId, batchSizes: [1], inferenceMs: 1, attempts: 1 },
});
const cancelled: TaskOutcome = { status: 'cancelled', completedAt: 3 };

describe('ResultStore.commit (redis-server)', () => {
  let redis: TestRedis;
  let n = 0;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  const store = (): ResultStore => new ResultStore(redis.client, PREFIX, 600);
  /** a task id and its fence (the lock), held by `holder` (null: no lock) */
  async function task(holder: string | null) {
    const taskId = `t-${++n}`;
    const key = `${PREFIX}:lock:${taskId}`;
    if (holder) await redis.client.set(key, holder);
    return { taskId, lock: key, as: (token: string) => ({ key, token }) };
  }

  it('the same write sent twice (its reply lost) answers written both times, as the run that wrote it', async () => {
    const t = await task('run-1');
    const entry = new ResultCache(redis.client, PREFIX, 600).entry('ck-twice', { result: resultOf('a'), taskId: t.taskId, cachedAt: 3 });
    expect(await store().commit(t.taskId, completedBy('a'), { fence: t.as('run-1'), cache: entry })).toBe('written');
    expect(await store().commit(t.taskId, completedBy('a'), { fence: t.as('run-1'), cache: entry })).toBe('written');
    // even once its lock is gone (BullMQ has not completed the job yet: the answer still reached nobody)
    await redis.client.del(t.lock);
    expect(await store().commit(t.taskId, completedBy('a'), { fence: t.as('run-1'), cache: entry })).toBe('written');
    // another run's write is not this run's
    expect(await store().commit(t.taskId, completedBy('b'), { fence: t.as('run-2') })).toBe('done');
    // this run's own failure after its own completed outcome: the completed outcome stands
    expect(await store().commit(t.taskId, failed, { fence: t.as('run-1') })).toBe('done');
    expect(await store().get(t.taskId)).toEqual(completedBy('a'));
    expect(await redis.client.ttl(`${PREFIX}:outcome:${t.taskId}:run`)).toBeGreaterThan(500);
  });

  it('a reply lost on the wire: ioredis sends the script again after reconnecting and the writer is answered written', async () => {
    const t = await task('run-1');
    const proxy = await lossyProxy(redis.url);
    const lossy = new Redis(proxy.port, '127.0.0.1', { maxRetriesPerRequest: null, retryStrategy: () => 20 });
    lossy.on('error', () => {});
    try {
      await lossy.ping();
      const lost = proxy.armLoss();
      const answer = new ResultStore(lossy, PREFIX, 600).commit(t.taskId, completedBy('a'), { fence: t.as('run-1') });
      await lost;
      expect(await answer).toBe('written');
      expect(proxy.cut).toBe(1);
      expect(await store().get(t.taskId)).toEqual(completedBy('a'));
    } finally {
      lossy.disconnect();
      await proxy.close();
    }
  });

  it('a lock gone with no outcome stored (lapsed, nobody took the task over): the write lands', async () => {
    const t = await task(null);
    expect(await store().commit(t.taskId, completedBy('a'), { fence: t.as('run-1') })).toBe('written');
    expect(await store().get(t.taskId)).toEqual(completedBy('a'));
    const f = await task(null);
    expect(await store().commit(f.taskId, failed, { fence: f.as('run-1') })).toBe('written');
  });

  it('a lock gone after the task ended (a final outcome stored): refused', async () => {
    for (const prior of [completedBy('b'), failed, cancelled]) {
      const t = await task('run-2');
      expect(await store().commit(t.taskId, prior, { fence: t.as('run-2') })).toBe('written');
      await redis.client.del(t.lock); // BullMQ deletes the lock as it completes or fails the job
      for (const late of [completedBy('a'), failed, cancelled]) expect(await store().commit(t.taskId, late, { fence: t.as('run-1') })).toBe('done');
      expect(await store().get(t.taskId)).toEqual(prior);
    }
  });

  it('a lock that holds another run\'s token: refused, outcome or not', async () => {
    const t = await task('run-2');
    expect(await store().commit(t.taskId, completedBy('a'), { fence: t.as('run-1') })).toBe('lost');
    expect(await store().get(t.taskId)).toBeNull();
    expect(await store().commit(t.taskId, failed, { fence: t.as('run-2') })).toBe('written');
    expect(await store().commit(t.taskId, completedBy('a'), { fence: t.as('run-1') })).toBe('lost');
    expect(await store().get(t.taskId)).toEqual(failed);
  });

  it('another run\'s final outcome is not overwritten, but a completed one replaces a failed one (replaced, once)', async () => {
    const t = await task('run-1');
    expect(await store().commit(t.taskId, failed, { fence: t.as('run-1') })).toBe('written');
    // run 1 lost its lock before BullMQ failed the job; run 2 holds the task now
    await redis.client.set(t.lock, 'run-2');
    expect(await store().commit(t.taskId, { ...failed, completedAt: 9 }, { fence: t.as('run-2') })).toBe('done');
    expect(await store().commit(t.taskId, cancelled, { fence: t.as('run-2') })).toBe('done');
    expect(await store().get(t.taskId)).toEqual(failed);
    expect(await store().commit(t.taskId, completedBy('b'), { fence: t.as('run-2') })).toBe('replaced');
    // sent again: answered as it was, so the counters move once
    expect(await store().commit(t.taskId, completedBy('b'), { fence: t.as('run-2') })).toBe('replaced');
    expect(await store().get(t.taskId)).toEqual(completedBy('b'));
    // a cancelled outcome is not replaced
    const c = await task('run-2');
    expect(await store().commit(c.taskId, cancelled, { fence: c.as('run-1') })).toBe('lost');
    await store().set(c.taskId, cancelled);
    expect(await store().commit(c.taskId, completedBy('b'), { fence: c.as('run-2') })).toBe('done');
  });

  it('a landed write counts itself in the counters hash in the same script: once, a replaced failure moved to completed, nothing for a refused or re-sent write', async () => {
    const counters = `${PREFIX}:counters:${++n}`;
    const count = async (): Promise<Record<string, string>> => redis.client.hgetall(counters);
    const t = await task('run-1');
    const entry = new ResultCache(redis.client, PREFIX, 600).entry('ck-count', { result: resultOf('a'), taskId: t.taskId, cachedAt: 3 });
    expect(await store().commit(t.taskId, failed, { fence: t.as('run-1'), counters })).toBe('written');
    expect(await count()).toEqual({ tasks_failed: '1' });
    // the same write sent again (its reply lost): answered as before, not counted twice
    expect(await store().commit(t.taskId, failed, { fence: t.as('run-1'), counters })).toBe('written');
    // another run's write, refused: nothing counted
    expect(await store().commit(t.taskId, completedBy('b'), { fence: t.as('run-2'), counters })).toBe('lost');
    expect(await count()).toEqual({ tasks_failed: '1' });
    // the next attempt's completed outcome replaces the failure (fence and cache keys after the counters key)
    await redis.client.set(t.lock, 'run-3');
    expect(await store().commit(t.taskId, completedBy('c'), { fence: t.as('run-3'), cache: entry, counters })).toBe('replaced');
    expect(await count()).toEqual({ tasks_failed: '0', tasks_completed: '1' });
    expect(await redis.client.get(entry.key)).not.toBeNull();
    expect(await store().commit(t.taskId, cancelled, { fence: t.as('run-3'), counters })).toBe('done');
    expect(await count()).toEqual({ tasks_failed: '0', tasks_completed: '1' });
    // unfenced, with a cache entry: counted too
    const u = await task(null);
    expect(await store().commit(u.taskId, completedBy('d'), { fence: null, counters })).toBe('written');
    expect(await count()).toEqual({ tasks_failed: '0', tasks_completed: '2' });
  });

  it('an unfenced set or delete forgets which run wrote the outcome', async () => {
    const t = await task('run-1');
    expect(await store().commit(t.taskId, cancelled, { fence: t.as('run-1') })).toBe('written');
    await store().set(t.taskId, cancelled);
    expect(await redis.client.exists(`${PREFIX}:outcome:${t.taskId}:run`)).toBe(0);
    expect(await store().commit(t.taskId, cancelled, { fence: t.as('run-1') })).toBe('done');
    expect(await store().commit(t.taskId, failed, { fence: t.as('run-1') })).toBe('done');
    const d = await task('run-1');
    expect(await store().commit(d.taskId, failed, { fence: d.as('run-1') })).toBe('written');
    await store().delete(d.taskId);
    expect(await redis.client.exists(`${PREFIX}:outcome:${d.taskId}`, `${PREFIX}:outcome:${d.taskId}:run`)).toBe(0);
  });
});
