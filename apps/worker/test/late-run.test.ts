/**
 * A late run, on redis-server with real BullMQ workers and the real
 * repositories (no network namespaces, no Redis stubs): worker "a" takes a task
 * and stops renewing its lock (skipLockRenewal — what a host cut off from
 * Redis looks like from the server), its lock expires, worker "b"'s stalled
 * check puts the task back and "b" runs it (run 2). When "a"'s run ends late —
 * after "b" completed the task, or while "b" still holds it — its outcome is
 * dropped: the outcome, the cache entry and the fleet's tasks_completed are
 * "b"'s, written once (chaos/test/multihost.test.ts: the same across hosts).
 * When nobody took the task over, "a"'s late run writes its outcome and the
 * run BullMQ starts again ends on it; a failure "a" wrote so is replaced by a
 * later run's transcript, counted once; and a run whose outcome reply is lost
 * (its connection sends the script again) is still its owner. The script's
 * cases one by one: packages/storage/test/commit.test.ts.
 */
import type { Logger } from '@voxfleet/config';
import { CancelSignals, FleetEvents, FleetStats, cacheKeyFor, type TranscribeJob, type TranscribeReturn } from '@voxfleet/queue';
import { ResultCache, ResultStore, type TaskOutcome } from '@voxfleet/storage';
import { lossyProxy, startRedis, type TestRedis } from '@voxfleet/testkit';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createProcessor, type AudioRun } from '../src/processor.js';

const PREFIX = 'voxfleet';
const MODEL = { id: 'm@aaaaaaaaaaaa+greedy/fp32', name: 'm' };
const MD5 = 'e'.repeat(32);
const A_LOCK_MS = 800;

interface Gate {
  /** resolves once the run reached the audio step */
  reached: Promise<void>;
  open(): void;
}

function gate(): Gate & { enter(): Promise<void> } {
  let reach!: () => void;
  let open!: () => void;
  const reached = new Promise<void>((r) => (reach = r));
  const opened = new Promise<void>((r) => (open = r));
  return {
    reached,
    open,
    enter: () => {
      reach();
      return opened;
    },
  };
}

const runOf = (text: string): AudioRun => ({
  transcript: { text, segments: [{ start: 0, end: 1, text }], tokens: [], durationSec: 1 },
  durationSec: 1,
  segments: 1,
  batchSizes: [1],
  decodeMs: 1,
  batchWaitMs: 1,
  inferenceMs: 1,
  tags: {},
});

async function until(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('a late run whose lock was lost (real redis-server, real BullMQ workers)', () => {
  let redis: TestRedis;
  const closers: (() => Promise<unknown>)[] = [];
  let n = 0;

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  });
  afterAll(async () => {
    await redis?.stop();
  });

  const results = (): ResultStore => new ResultStore(redis.client, PREFIX, 600);
  const cache = (): ResultCache => new ResultCache(redis.client, PREFIX, 600);
  const stats = (): FleetStats => new FleetStats(redis.client, PREFIX);

  /** A BullMQ worker running the real processor on the real repositories; its audio step waits on `audio`. */
  function startWorker(id: string, queue: string, audio: Gate & { enter(): Promise<void> }, opts: { cutOff: boolean; audioFails?: boolean; results?: ResultStore }) {
    const logs: { msg: string; fields: Record<string, unknown> | undefined }[] = [];
    const record = (msg: string, fields?: Record<string, unknown>): void => void logs.push({ msg, fields });
    const log: Logger = { info: record, warn: record, error: record };
    const processor = createProcessor({
      workerId: id,
      queue,
      model: MODEL,
      blobs: { withFile: (_k, use) => use('/nowhere.wav'), delete: async () => {} },
      results: opts.results ?? results(),
      cache: cache(),
      stats: stats(),
      events: new FleetEvents(redis.client, PREFIX),
      cancels: new CancelSignals(redis.client, PREFIX, 600),
      transcribeAudio: async () => {
        audioCalls.push(id);
        await audio.enter();
        if (opts.audioFails) throw new Error(`engine of ${id} failed`);
        return runOf(`text from ${id}`);
      },
      retentionSec: 600,
      log,
    });
    let returned: (r: TranscribeReturn) => void;
    const finished = new Promise<TranscribeReturn>((r) => (returned = r));
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const worker = new Worker<TranscribeJob, TranscribeReturn>(
      queue,
      async (job: Job, token?: string, signal?: AbortSignal) => {
        const r = await processor(job, token, signal);
        returned(r);
        return r;
      },
      {
        connection,
        concurrency: 1,
        // cut off: no lock renewal, no stalled checks of its own; its lock expires after A_LOCK_MS
        ...(opts.cutOff ? { skipLockRenewal: true, skipStalledCheck: true, lockDuration: A_LOCK_MS } : { lockDuration: 10_000, stalledInterval: 200 }),
      },
    );
    // the cut-off worker's completion is refused by BullMQ (its lock is gone): expected here
    worker.on('error', () => {});
    closers.push(async () => {
      await worker.close(true);
      connection.disconnect();
    });
    return { worker, logs, finished };
  }

  async function addTask(queueName: string, attempts = 3): Promise<{ taskId: string; cacheKey: string; queue: Queue }> {
    const queue = new Queue<TranscribeJob>(queueName, { connection: redis.client });
    closers.push(() => queue.close());
    const cacheKey = cacheKeyFor({ md5: MD5, modelId: MODEL.id, options: { language: null }, queue: queueName, scope: `scope-${queueName}` });
    const data: TranscribeJob = { v: 2, itn: null, cacheScope: `scope-${queueName}`, blobKey: 'ab/blob', md5: MD5, bytes: 10, filename: 'a.wav', durationSec: 1, language: null, modelId: MODEL.id, modelName: MODEL.name, cacheKey, submittedAt: Date.now() };
    const taskId = `t-late-${queueName}`;
    await queue.add('transcribe', data, { jobId: taskId, attempts });
    // the gateway's in-flight claim on the cache key, which the run that writes the outcome lets go of
    await cache().claimInflight(cacheKey, taskId, 600);
    return { taskId, cacheKey, queue };
  }

  const tasksCompleted = async (): Promise<number> => (await stats().read()).tasks.completed;
  const audioCalls: string[] = [];

  /** A new task taken up by the cut-off worker "a", whose run waits at its audio until told to go on. */
  async function taskHeldByCutOffWorker(opts: { attempts?: number; audioFails?: boolean } = {}) {
    const queueName = `late-${++n}`;
    const before = await tasksCompleted();
    const { taskId, cacheKey, queue } = await addTask(queueName, opts.attempts);
    const aAudio = gate();
    const a = startWorker('a', queueName, aAudio, { cutOff: true, ...(opts.audioFails ? { audioFails: true } : {}) });
    await aAudio.reached;
    return { queueName, before, taskId, cacheKey, queue, aAudio, a };
  }
  const lockOf = (queueName: string, taskId: string): string => `bull:${queueName}:${taskId}:lock`;

  it('a run that ends after another worker completed its task writes nothing and counts nothing', async () => {
    const { queueName, before, taskId, cacheKey, queue, aAudio, a } = await taskHeldByCutOffWorker();

    // "a" is away: its lock expires, "b" takes the task back up and completes it
    const bAudio = gate();
    bAudio.open();
    startWorker('b', queueName, bAudio, { cutOff: false });
    await until('b to complete the task', async () => (await queue.getJobState(taskId)) === 'completed');
    const owner = await results().get(taskId);
    expect(owner).toMatchObject({ status: 'completed', result: { text: 'text from b' }, processing: { workerId: 'b', attempts: 2 } });

    // "a" comes back and ends its run
    aAudio.open();
    await a.finished;
    expect(await results().get(taskId)).toEqual(owner);
    expect(await cache().get(cacheKey)).toMatchObject({ taskId, result: { text: 'text from b' }, processing: { workerId: 'b' } });
    expect((await tasksCompleted()) - before).toBe(1);
    expect((await queue.getJob(taskId))?.returnvalue).toMatchObject({ workerId: 'b' });
    expect(a.logs.find((l) => l.msg.startsWith('late run dropped'))?.fields).toMatchObject({ taskId, status: 'completed' });
    expect(a.logs.some((l) => l.msg === 'task completed')).toBe(false);
  });

  it('a run that ends while another worker holds its task writes nothing; the holder writes once', async () => {
    const { queueName, before, taskId, cacheKey, queue, aAudio, a } = await taskHeldByCutOffWorker();

    // "b" takes the task over and is still transcribing when "a"'s late run ends
    const bAudio = gate();
    const b = startWorker('b', queueName, bAudio, { cutOff: false });
    await bAudio.reached;
    aAudio.open();
    await a.finished;
    expect(await results().get(taskId)).toBeNull();
    expect(await cache().get(cacheKey)).toBeNull();
    expect((await tasksCompleted()) - before).toBe(0);
    expect(a.logs.find((l) => l.msg.startsWith('late run dropped'))?.fields).toMatchObject({ taskId, status: 'completed' });

    bAudio.open();
    await b.finished;
    await until('b to complete the task', async () => (await queue.getJobState(taskId)) === 'completed');
    expect(await results().get(taskId)).toMatchObject({ status: 'completed', result: { text: 'text from b' }, processing: { workerId: 'b', attempts: 2 } });
    expect(await cache().get(cacheKey)).toMatchObject({ result: { text: 'text from b' } });
    expect((await tasksCompleted()) - before).toBe(1);
  });

  it('a run whose lock lapsed with nobody taking the task over writes its outcome; the run BullMQ starts again ends on it', async () => {
    audioCalls.length = 0;
    const { queueName, before, taskId, cacheKey, queue, aAudio, a } = await taskHeldByCutOffWorker();
    await until('a\'s lock to lapse', async () => (await redis.client.exists(lockOf(queueName, taskId))) === 0);
    aAudio.open();
    await a.finished;
    // "a" stops, so that the run BullMQ starts again is "b"'s
    await a.worker.close(true);
    expect(await results().get(taskId)).toMatchObject({ status: 'completed', result: { text: 'text from a' }, processing: { workerId: 'a', attempts: 1 } });
    expect(await cache().get(cacheKey)).toMatchObject({ taskId, result: { text: 'text from a' } });
    expect(await cache().inflight(cacheKey)).toBeNull();
    expect((await tasksCompleted()) - before).toBe(1);
    expect(a.logs.some((l) => l.msg.startsWith('late run dropped'))).toBe(false);

    // BullMQ refused "a" the job (its lock is gone): "b"'s stalled check puts it back, and "b"'s run ends on "a"'s outcome
    const bAudio = gate();
    bAudio.open();
    const b = startWorker('b', queueName, bAudio, { cutOff: false });
    await until('b to complete the task', async () => (await queue.getJobState(taskId)) === 'completed');
    expect((await queue.getJob(taskId))?.returnvalue).toMatchObject({ workerId: 'a' });
    expect(b.logs.some((l) => l.msg === 'task already completed by an earlier run')).toBe(true);
    expect(audioCalls).toEqual(['a']);
    expect(await results().get(taskId)).toMatchObject({ processing: { workerId: 'a' } });
    expect((await tasksCompleted()) - before).toBe(1);
  });

  it('a failure written by a run whose lock lapsed is replaced by the transcript of the run after it: counted once, as completed', async () => {
    audioCalls.length = 0;
    const failedBefore = (await stats().read()).tasks.failed;
    // one attempt: "a"'s failure is the last one
    const { queueName, before, taskId, queue, aAudio, a } = await taskHeldByCutOffWorker({ attempts: 1, audioFails: true });
    await until('a\'s lock to lapse', async () => (await redis.client.exists(lockOf(queueName, taskId))) === 0);
    aAudio.open();
    await until('a to write its failure', async () => (await results().get(taskId))?.status === 'failed');
    await until('a to count it', async () => (await stats().read()).tasks.failed - failedBefore === 1);
    await a.worker.close(true);

    const bAudio = gate();
    bAudio.open();
    startWorker('b', queueName, bAudio, { cutOff: false });
    await until('b to complete the task', async () => (await queue.getJobState(taskId)) === 'completed');
    expect(await results().get(taskId)).toMatchObject({ status: 'completed', result: { text: 'text from b' }, processing: { workerId: 'b', attempts: 2 } });
    const after = (await stats().read()).tasks;
    expect(after.completed - before).toBe(1);
    expect(after.failed - failedBefore).toBe(0);
    expect(a.logs.some((l) => l.msg === 'task failed after retries')).toBe(true);
  });

  it('a run whose outcome reply is lost (its connection sends the script again) is still the owner: counted, claim released, job completed', async () => {
    const queueName = `late-${++n}`;
    const before = await tasksCompleted();
    const { taskId, cacheKey, queue } = await addTask(queueName);
    const proxy = await lossyProxy(redis.url);
    const lossy = new Redis(proxy.port, '127.0.0.1', { maxRetriesPerRequest: null, retryStrategy: () => 20 });
    lossy.on('error', () => {});
    closers.push(async () => {
      lossy.disconnect();
      await proxy.close();
    });
    await lossy.ping();
    const audio = gate();
    // the results store alone goes through the proxy: the next reply on it is the outcome script's
    const w = startWorker('a', queueName, audio, { cutOff: false, results: new ResultStore(lossy, PREFIX, 600) });
    await audio.reached;
    const lost = proxy.armLoss();
    audio.open();
    await lost;
    await until('the task to complete', async () => (await queue.getJobState(taskId)) === 'completed');
    expect(proxy.cut).toBe(1);
    expect(await results().get(taskId)).toMatchObject({ status: 'completed', processing: { workerId: 'a', attempts: 1 } });
    expect((await queue.getJob(taskId))?.returnvalue).toMatchObject({ status: 'completed', workerId: 'a' });
    expect(await cache().inflight(cacheKey)).toBeNull();
    expect((await tasksCompleted()) - before).toBe(1);
    expect(w.logs.some((l) => l.msg.startsWith('late run dropped'))).toBe(false);
    expect(w.logs.some((l) => l.msg === 'task completed')).toBe(true);
  });

  it('the fenced write: lands while the fence holds the token; not when it holds another; never over a completed outcome', async () => {
    const store = results();
    const fence = { key: 'test:fence', token: 'run-1' };
    const failed: TaskOutcome = { status: 'failed', error: { code: 'processing_failed', message: 'x' }, startedAt: 1, completedAt: 2 };
    const completed: TaskOutcome = { status: 'completed', result: { text: 'ok', language: null, segments: [], durationSec: 1, modelId: MODEL.id }, startedAt: 1, completedAt: 2, processing: { workerId: 'w', batchSizes: [1], inferenceMs: 1, attempts: 1 } };
    await redis.client.set(fence.key, 'run-2');
    expect(await store.commit('t-fence', failed, { fence })).toBe('lost');
    expect(await store.get('t-fence')).toBeNull();
    await redis.client.set(fence.key, 'run-1');
    expect(await store.commit('t-fence', failed, { fence })).toBe('written');
    const entry = cache().entry('ck-fence', { result: completed.result, taskId: 't-fence', cachedAt: 3 });
    // (over this run's own failure: the counters move it from failed to completed)
    expect(await store.commit('t-fence', completed, { fence, cache: entry })).toBe('replaced');
    expect(await cache().get('ck-fence')).toMatchObject({ taskId: 't-fence' });
    expect(await redis.client.ttl(`${PREFIX}:cache:ck-fence`)).toBeGreaterThan(500);
    expect(await store.commit('t-fence', failed, { fence })).toBe('done');
    expect(await store.commit('t-fence', failed, { fence: null })).toBe('done');
    expect(await store.get('t-fence')).toEqual(completed);
  });
});
