/**
 * The task processor on stub repositories and a stub audio path (no Redis,
 * no model): outcomes and cache keys, run counting, cancel, error codes, and
 * what it does with a task keyed for another model.
 */
import type { Logger } from '@voxfleet/config';
import { AudioError } from '@voxfleet/audio';
import { cacheKeyFor, type TranscribeJob } from '@voxfleet/queue';
import type { CachedResult, CommitResult, TaskOutcome } from '@voxfleet/storage';
import { DelayedError, UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { createProcessor, type AudioRun, type TaskJob, type TranscribeAudio } from '../src/processor.js';

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };
const OWN = { id: 'm@aaaaaaaaaaaa+beam-1/fp32', name: 'm' };
const MD5 = 'd'.repeat(32);

function payload(extra: Partial<TranscribeJob> = {}): TranscribeJob {
  return { v: 2, itn: null, cacheScope: 'tenant-a', blobKey: 'ab/blob', md5: MD5, bytes: 10, filename: 'a.wav', durationSec: 2, language: null, modelId: OWN.id, modelName: OWN.name, cacheKey: cacheKeyFor({ md5: MD5, modelId: OWN.id, options: { language: null }, queue: 'transcribe', scope: 'tenant-a' }), submittedAt: 1, ...extra };
}

function fakeJob(data: unknown, extra: Partial<TaskJob> = {}) {
  const calls = { progress: [] as number[], delayedUntil: [] as number[] };
  const job: TaskJob = {
    id: 't-1',
    queueQualifiedName: 'bull:transcribe',
    data,
    timestamp: Date.now() - 50,
    processedOn: Date.now() - 10,
    attemptsMade: 0,
    opts: { attempts: 3 },
    updateProgress: async (p) => void calls.progress.push(p),
    moveToDelayed: async (ts) => void calls.delayedUntil.push(ts),
    ...extra,
  };
  return { job, calls };
}

const RUN: AudioRun = {
  transcript: { text: 'hello world', segments: [{ start: 0.1, end: 1.2, text: 'hello world' }], tokens: [], durationSec: 2 },
  durationSec: 2,
  segments: 1,
  batchSizes: [3],
  decodeMs: 4,
  batchWaitMs: 5,
  inferenceMs: 6,
  tags: {},
};

/**
 * What the stub's commit answers for an outcome (the real answers: packages/storage/test/commit.test.ts);
 * 'throw': the write lands but its reply is lost (the call throws). Default: 'written'.
 */
type Answer = CommitResult | 'throw';

function setup(opts: { audio?: TranscribeAudio; cancelled?: boolean; runsBefore?: number; capabilities?: { languages: string[]; options: { language: boolean; itn: boolean } }; answers?: Answer[] } = {}) {
  const answers = [...(opts.answers ?? [])];
  const s = {
    commits: [] as { status: string; answer: Answer }[],
    logs: [] as string[],
    outcomes: new Map<string, TaskOutcome>(),
    cache: new Map<string, CachedResult>(),
    released: [] as [string, string][],
    stats: [] as string[],
    finished: [] as string[],
    runs: opts.runsBefore ?? 0,
    audioCalls: 0,
    deletedBlobs: [] as string[],
  };
  const process = createProcessor({
    workerId: 'w1',
    queue: 'transcribe',
    model: OWN,
    ...(opts.capabilities ? { capabilities: opts.capabilities } : {}),
    blobs: { withFile: (k, use) => use(`/blobs/${k}`), delete: async (k) => void s.deletedBlobs.push(k) },
    // unfenced (no BullMQ token here): commits land unless `answers` says otherwise; fenced commits run on redis-server in late-run.test.ts
    results: {
      commit: async (id, o, { cache, counters }) => {
        const answer = answers.shift() ?? 'written';
        s.commits.push({ status: o.status, answer });
        if (answer === 'lost' || answer === 'done') return answer;
        // as COMMIT_OUTCOME: a landed write counts itself in the counters hash; the same run's write re-sent does not again
        if (counters === 'stats-hash' && s.outcomes.get(id)?.status !== o.status) s.stats.push(answer === 'replaced' ? `${o.status} (was failed)` : o.status);
        s.outcomes.set(id, o);
        if (cache) s.cache.set(cache.key, JSON.parse(cache.value) as CachedResult);
        if (answer === 'throw') throw new Error('Connection is closed.');
        return answer;
      },
      get: async (id) => s.outcomes.get(id) ?? null,
    },
    cache: { entry: (k, v) => ({ key: k, value: JSON.stringify(v), ttlSec: 60 }), releaseInflight: async (k, t) => void s.released.push([k, t]) },
    stats: { countersKey: 'stats-hash', countRun: async () => ++s.runs },
    events: { taskFinished: async (id) => void s.finished.push(id) },
    cancels: { isCancelled: async () => opts.cancelled === true },
    transcribeAudio: async (input, o) => {
      s.audioCalls++;
      return (opts.audio ?? (async () => RUN))(input, o);
    },
    retentionSec: 60,
    handBackDelayMs: 100,
    modelWaitMs: 60_000,
    log: { ...quiet, warn: (msg) => void s.logs.push(msg), error: (msg) => void s.logs.push(msg) },
  });
  return { s, process };
}

describe('task processor', () => {
  it('transcribes, writes the outcome and the cache under the claimed key, then completes', async () => {
    const { s, process } = setup();
    const data = payload();
    const { job, calls } = fakeJob(data);
    const r = await process(job);
    expect(r).toEqual({ status: 'completed', workerId: 'w1', textLength: 11, batchSizes: [3] });
    const outcome = s.outcomes.get('t-1');
    expect(outcome).toMatchObject({ status: 'completed', result: { text: 'hello world', modelId: OWN.id, durationSec: 2 }, processing: { workerId: 'w1', attempts: 1, batchSizes: [3], inferenceMs: 6, decodeMs: 4, batchWaitMs: 5, segments: 1 } });
    expect(s.cache.get(data.cacheKey)).toMatchObject({ taskId: 't-1', result: { text: 'hello world' } });
    expect(s.released).toEqual([[data.cacheKey, 't-1']]);
    expect(s.stats).toEqual(['completed']);
    expect(s.finished).toEqual(['t-1']);
    expect(calls.progress.at(-1)).toBe(100);
  });

  it('counts real runs: a task run again after a crash reports 2 attempts', async () => {
    const { s, process } = setup({ runsBefore: 1 });
    await process(fakeJob(payload()).job);
    expect(s.outcomes.get('t-1')).toMatchObject({ processing: { attempts: 2 } });
  });

  it('does not transcribe twice a task whose earlier run wrote its outcome and died before BullMQ completed it', async () => {
    const { s, process } = setup({ runsBefore: 1 });
    const earlier = { status: 'completed' as const, result: { text: 'done before', language: null, segments: [], durationSec: 2, modelId: OWN.id }, startedAt: 1, completedAt: 2, processing: { workerId: 'w0', batchSizes: [4], inferenceMs: 1, attempts: 1 } };
    s.outcomes.set('t-1', earlier);
    const r = await process(fakeJob(payload()).job);
    expect(r).toEqual({ status: 'completed', workerId: 'w0', textLength: 11, batchSizes: [4] });
    expect(s.audioCalls).toBe(0);
    expect(s.outcomes.get('t-1')).toBe(earlier);
    expect(s.stats).toEqual([]);
    expect(s.released.map(([, t]) => t)).toEqual(['t-1']);
    expect(s.finished).toEqual(['t-1']);
  });

  it('hands a task for another model back to the queue without running it or spending an attempt', async () => {
    const { s, process } = setup();
    const other = 'other@cccccccccccc/fp32';
    const { job, calls } = fakeJob(payload({ modelId: other, modelName: 'other', submittedAt: Date.now(), cacheKey: cacheKeyFor({ md5: MD5, modelId: other, options: { language: null }, queue: 'transcribe', scope: 'tenant-a' }) }));
    const t0 = Date.now();
    await expect(process(job, 'token')).rejects.toBeInstanceOf(DelayedError);
    expect(calls.delayedUntil).toHaveLength(1);
    expect(calls.delayedUntil[0]! - t0).toBeGreaterThanOrEqual(100);
    expect(s.audioCalls).toBe(0);
    expect(s.runs).toBe(0);
    expect(s.outcomes.size).toBe(0);
    expect(s.released).toEqual([]);
  });

  it('fails a task for another model that no worker took up in time, releasing its claim', async () => {
    const { s, process } = setup();
    const other = 'other@cccccccccccc/fp32';
    const data = payload({ modelId: other, modelName: 'other', submittedAt: Date.now() - 61_000, cacheKey: cacheKeyFor({ md5: MD5, modelId: other, options: { language: null }, queue: 'transcribe', scope: 'tenant-a' }) });
    const { job, calls } = fakeJob(data);
    await expect(process(job)).rejects.toBeInstanceOf(UnrecoverableError);
    expect(calls.delayedUntil).toEqual([]);
    expect(s.outcomes.get('t-1')).toMatchObject({ status: 'failed', error: { code: 'model_unavailable' } });
    expect(s.released).toEqual([[data.cacheKey, 't-1']]);
    expect(s.audioCalls).toBe(0);
  });

  it('does not hand back a cancelled task: it ends cancelled', async () => {
    const { s, process } = setup({ cancelled: true });
    const { job, calls } = fakeJob(payload({ modelId: 'other@cccccccccccc/fp32', modelName: 'other', submittedAt: Date.now() }));
    await expect(process(job)).rejects.toBeInstanceOf(UnrecoverableError);
    expect(calls.delayedUntil).toEqual([]);
    expect(s.outcomes.get('t-1')).toMatchObject({ status: 'cancelled' });
  });

  it('adopts a task keyed for another build of its model: keyed with its own identity', async () => {
    const { s, process } = setup();
    const oldId = 'm@aaaaaaaaaaaa+beam-1/int8';
    const data = payload({ modelId: oldId, cacheKey: cacheKeyFor({ md5: MD5, modelId: oldId, options: { language: null }, queue: 'transcribe', scope: 'tenant-a' }) });
    await process(fakeJob(data).job);
    const ownKey = cacheKeyFor({ md5: MD5, modelId: OWN.id, options: { language: null }, queue: 'transcribe', scope: 'tenant-a' });
    expect(s.cache.has(ownKey)).toBe(true);
    expect(s.cache.has(data.cacheKey)).toBe(false);
    expect(s.released).toEqual([
      [data.cacheKey, 't-1'],
      [ownKey, 't-1'],
    ]);
    expect(s.outcomes.get('t-1')).toMatchObject({ status: 'completed', result: { modelId: OWN.id } });
  });

  it('runs a task keyed before any worker had announced a model', async () => {
    const { s, process } = setup();
    const data = payload({ modelId: null, modelName: null, cacheKey: cacheKeyFor({ md5: MD5, modelId: null, options: { language: null }, queue: 'transcribe', scope: 'tenant-a' }) });
    await process(fakeJob(data).job);
    expect(s.outcomes.get('t-1')).toMatchObject({ status: 'completed' });
  });

  it('honours a cancel marker before running', async () => {
    const { s, process } = setup({ cancelled: true });
    await expect(process(fakeJob(payload()).job)).rejects.toBeInstanceOf(UnrecoverableError);
    expect(s.outcomes.get('t-1')).toMatchObject({ status: 'cancelled' });
    expect(s.audioCalls).toBe(0);
    expect(s.stats).toEqual(['cancelled']);
    expect(s.deletedBlobs).toEqual(['ab/blob']);
  });

  it('fails bad audio at once with the fleet error code', async () => {
    const { s, process } = setup({ audio: async () => Promise.reject(new AudioError('undecodable', 'not audio')) });
    await expect(process(fakeJob(payload()).job)).rejects.toBeInstanceOf(UnrecoverableError);
    expect(s.outcomes.get('t-1')).toMatchObject({ status: 'failed', error: { code: 'undecodable_audio', message: 'not audio' } });
  });

  it('retries other errors; the last attempt records processing_failed', async () => {
    const boom: TranscribeAudio = async () => Promise.reject(new Error('engine exploded'));
    const first = setup({ audio: boom });
    await expect(first.process(fakeJob(payload()).job)).rejects.toThrow('engine exploded');
    expect(first.s.outcomes.size).toBe(0);
    const last = setup({ audio: boom });
    await expect(last.process(fakeJob(payload(), { attemptsMade: 2 }).job)).rejects.toThrow('engine exploded');
    expect(last.s.outcomes.get('t-1')).toMatchObject({ status: 'failed', error: { code: 'processing_failed', message: 'engine exploded' } });
  });

  it('refuses at once an option its model cannot honour, before it reaches a batch of other jobs', async () => {
    const capabilities = { languages: ['auto', 'zh', 'en'], options: { language: true, itn: true } };
    const lang = setup({ capabilities });
    await expect(lang.process(fakeJob(payload({ language: 'de' })).job)).rejects.toBeInstanceOf(UnrecoverableError);
    expect(lang.s.outcomes.get('t-1')).toMatchObject({ status: 'failed', error: { code: 'unsupported_language' } });
    expect(lang.s.audioCalls).toBe(0);
    const noItn = setup({ capabilities: { languages: ['en'], options: { language: false, itn: false } } });
    await expect(noItn.process(fakeJob(payload({ itn: true })).job)).rejects.toBeInstanceOf(UnrecoverableError);
    expect(noItn.s.outcomes.get('t-1')).toMatchObject({ status: 'failed', error: { code: 'unsupported_option' } });
    // a model that ignores languages takes any (the option only keys the cache)
    const any = setup({ capabilities: { languages: ['en'], options: { language: false, itn: false } } });
    await any.process(fakeJob(payload({ language: 'de' })).job);
    expect(any.s.outcomes.get('t-1')).toMatchObject({ status: 'completed' });
    // options reach the audio path
    const seen: unknown[] = [];
    const pass = setup({ capabilities, audio: async (_i, o) => (seen.push(o.options), RUN) });
    await pass.process(fakeJob(payload({ language: 'zh', itn: true })).job);
    expect(seen).toEqual([{ language: 'zh', itn: true }]);
  });

  it('refuses a payload it cannot read, with an outcome the job shows', async () => {
    const { s, process } = setup();
    await expect(process(fakeJob({ v: 2, blobKey: '', cacheKey: 'c'.repeat(40) }).job)).rejects.toThrow(/invalid_payload/);
    expect(s.audioCalls).toBe(0);
    expect(s.outcomes.get('t-1')).toMatchObject({ status: 'failed', error: { code: 'invalid_payload' } });
    expect(s.released).toEqual([['c'.repeat(40), 't-1']]);
  });
});

describe('task processor: an outcome write that did not land, or whose answer was lost', () => {
  const other: TaskOutcome = { status: 'completed', result: { text: 'by another run', language: null, segments: [], durationSec: 2, modelId: OWN.id }, startedAt: 1, completedAt: 2, processing: { workerId: 'w0', batchSizes: [7], inferenceMs: 1, attempts: 1 } };
  const otherReturn = { status: 'completed', workerId: 'w0', textLength: 14, batchSizes: [7] };
  const failedBefore: TaskOutcome = { status: 'failed', error: { code: 'processing_failed', message: 'x' }, startedAt: 1, completedAt: 2 };
  const badAudio: TranscribeAudio = async () => Promise.reject(new AudioError('undecodable', 'not audio'));
  const boom: TranscribeAudio = async () => Promise.reject(new Error('engine exploded'));
  /** nothing a run does after its write landed: no claim let go, nothing counted, nobody told */
  const nothingSettled = (s: ReturnType<typeof setup>['s']): void => {
    expect(s.released).toEqual([]);
    expect(s.stats).toEqual([]);
    expect(s.finished).toEqual([]);
  };

  for (const answer of ['lost', 'done'] as const) {
    it(`completed, answered ${answer}: the run is dropped (logged), nothing counted, the job completes`, async () => {
      const { s, process } = setup({ answers: [answer] });
      const { job, calls } = fakeJob(payload());
      expect(await process(job, 'tok')).toEqual({ status: 'completed', workerId: 'w1', textLength: 11, batchSizes: [3] });
      nothingSettled(s);
      expect(s.outcomes.size).toBe(0);
      expect(s.cache.size).toBe(0);
      expect(calls.progress).not.toContain(100);
      expect(s.logs).toEqual(['late run dropped: its outcome is not written']);
    });

    it(`failed, answered ${answer}: dropped, nothing counted, the job fails as before`, async () => {
      const { s, process } = setup({ audio: badAudio, answers: [answer] });
      await expect(process(fakeJob(payload()).job, 'tok')).rejects.toBeInstanceOf(UnrecoverableError);
      nothingSettled(s);
      expect(s.logs[0]).toBe('late run dropped: its outcome is not written');
      // the last attempt of a retried failure as well
      const last = setup({ audio: boom, answers: [answer] });
      await expect(last.process(fakeJob(payload(), { attemptsMade: 2 }).job, 'tok')).rejects.toThrow('engine exploded');
      nothingSettled(last.s);
    });

    it(`cancelled, answered ${answer}: dropped, nothing counted, the job ends cancelled`, async () => {
      const { s, process } = setup({ cancelled: true, answers: [answer] });
      await expect(process(fakeJob(payload()).job, 'tok')).rejects.toThrow('cancelled');
      nothingSettled(s);
      expect(s.deletedBlobs).toEqual(['ab/blob']);
      expect(s.logs).toEqual(['late run dropped: its outcome is not written']);
    });
  }

  it('a failure answered done over a completed outcome: the job completes with that outcome, it does not fail', async () => {
    const perm = setup({ audio: badAudio, answers: ['done'] });
    perm.s.outcomes.set('t-1', other);
    expect(await perm.process(fakeJob(payload()).job, 'tok')).toEqual(otherReturn);
    nothingSettled(perm.s);
    const last = setup({ audio: boom, answers: ['done'] });
    last.s.outcomes.set('t-1', other);
    expect(await last.process(fakeJob(payload(), { attemptsMade: 2 }).job, 'tok')).toEqual(otherReturn);
    nothingSettled(last.s);
    expect(last.s.outcomes.get('t-1')).toBe(other);
  });

  it('a cancel answered done over a completed outcome: the job completes with it', async () => {
    const { s, process } = setup({ cancelled: true, answers: ['done'] });
    s.outcomes.set('t-1', other);
    expect(await process(fakeJob(payload()).job, 'tok')).toEqual(otherReturn);
    nothingSettled(s);
  });

  it('a failure answered done over another run\'s failure: the job fails, counted by that run alone', async () => {
    const { s, process } = setup({ audio: boom, answers: ['done'] });
    s.outcomes.set('t-1', failedBefore);
    await expect(process(fakeJob(payload(), { attemptsMade: 2 }).job, 'tok')).rejects.toThrow('engine exploded');
    nothingSettled(s);
    expect(s.outcomes.get('t-1')).toBe(failedBefore);
  });

  it('completed over another run\'s failure (replaced): counted as completed, moved off failed', async () => {
    const { s, process } = setup({ answers: ['replaced'] });
    s.outcomes.set('t-1', failedBefore);
    expect(await process(fakeJob(payload()).job, 'tok')).toMatchObject({ status: 'completed', workerId: 'w1' });
    expect(s.stats).toEqual(['completed (was failed)']);
    expect(s.released).toHaveLength(1);
    expect(s.finished).toEqual(['t-1']);
    expect(s.logs).toEqual([]);
  });

  it('a completed write whose reply is lost is sent again, not replaced by a failure: counted once, the job completes', async () => {
    // the write landed; sent again, the script answers as it did (written: the run is its owner)
    const { s, process } = setup({ answers: ['throw', 'written'] });
    const { job, calls } = fakeJob(payload());
    expect(await process(job, 'tok')).toEqual({ status: 'completed', workerId: 'w1', textLength: 11, batchSizes: [3] });
    expect(s.commits.map((c) => c.status)).toEqual(['completed', 'completed']);
    expect(s.outcomes.get('t-1')).toMatchObject({ status: 'completed' });
    expect(s.stats).toEqual(['completed']);
    expect(s.released).toHaveLength(1);
    expect(s.finished).toEqual(['t-1']);
    expect(calls.progress.at(-1)).toBe(100);
    // on the last attempt too (it used to write a failure, get done and fail the job)
    const last = setup({ answers: ['throw', 'written'] });
    expect(await last.process(fakeJob(payload(), { attemptsMade: 2 }).job, 'tok')).toMatchObject({ status: 'completed', workerId: 'w1' });
    expect(last.s.commits.map((c) => c.status)).toEqual(['completed', 'completed']);
    expect(last.s.stats).toEqual(['completed']);
  });

  it('a completed write that landed is not sent again when what follows it fails', async () => {
    const { s, process } = setup();
    const { job } = fakeJob(payload(), { updateProgress: async (p) => (p === 100 ? Promise.reject(new Error('Missing key for job t-1')) : undefined) });
    await expect(process(job, 'tok')).rejects.toThrow('Missing key');
    expect(s.commits.map((c) => c.status)).toEqual(['completed']);
    expect(s.stats).toEqual(['completed']);
  });
});
