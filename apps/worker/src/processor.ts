/**
 * What a worker does with one task — its lifecycle, around the audio work:
 * check the payload and the model it was keyed for (another build of the
 * same model is adopted; a task for another model goes back to the queue
 * for a while, then fails `model_unavailable`), count the run, honour a cancel, run the
 * audio (the long-audio path, injected as `transcribeAudio`), write the
 * outcome (result store + result cache) before BullMQ completes the job, and
 * classify failures: bad audio fails at once (UnrecoverableError), anything
 * else is retried with backoff and the last attempt records the failure.
 * The outcome is fenced by the run's BullMQ lock: a run that lost its task
 * (its worker cut off until the lock expired, the task run again elsewhere)
 * writes nothing and counts nothing when it ends late; it is logged and dropped.
 * A run whose lock lapsed with nobody taking the task over still writes its
 * outcome (the run BullMQ starts again finds it and ends there), and a run's
 * write sent twice (a reply lost) counts once.
 * Every dependency is an interface, so unit tests run it on stubs.
 */
import type { Transcript } from '@voxfleet/asr';
import { isAudioError, type AudioInput } from '@voxfleet/audio';
import type { Logger } from '@voxfleet/config';
import {
  AUDIO_ERROR_CODES,
  PERMANENT_AUDIO_ERRORS,
  TASK_ERROR_CODES,
  cacheKeyFor,
  modelDecision,
  runFence,
  transcribeJobSchema,
  type RunFence,
  type ServedModel,
  type TranscribeReturn,
} from '@voxfleet/queue';
import { BlobNotFoundError, type BlobStore, type CacheEntryWrite, type CachedResult, type CommitResult, type ErrorInfo, type ProcessingInfo, type TaskOutcome } from '@voxfleet/storage';
import { SpanKind, SpanStatusCode, contextFromTraceparent, type Tracer } from '@voxfleet/telemetry';
import { DelayedError, UnrecoverableError } from 'bullmq';
import type { TaskTiming } from './metrics.js';

/** What the long-audio path reports for one file. */
export interface AudioRun {
  transcript: Transcript;
  durationSec: number;
  /** pieces sent to the batcher (1 for a short clip) */
  segments: number;
  /** size of every inference batch the pieces ran in */
  batchSizes: number[];
  /** time spent waiting for decoded audio */
  decodeMs: number;
  /** Σ time the pieces waited in the batcher */
  batchWaitMs: number;
  /** Σ wall time of the batches the pieces ran in */
  inferenceMs: number;
  /** what the model detected, where it tags its output (SenseVoice) */
  tags: { language?: string; emotion?: string; event?: string };
}

export type TranscribeAudio = (
  input: AudioInput,
  opts: { durationSec: number; signal: AbortSignal; onProgress: (percent: number) => void; options: { language: string | null; itn: boolean | null; hotwords?: string[] | null } },
) => Promise<AudioRun>;

/** The slice of a BullMQ job the processor uses. */
export interface TaskJob {
  id?: string | undefined;
  /** `<prefix>:<queue>`, where BullMQ keeps the job (and its lock) */
  queueQualifiedName: string;
  data: unknown;
  timestamp: number;
  processedOn?: number | undefined;
  attemptsMade: number;
  opts: { attempts?: number | undefined };
  updateProgress(progress: number): Promise<void>;
  moveToDelayed(timestamp: number, token?: string): Promise<void>;
}

export interface ProcessorDeps {
  workerId: string;
  queue: string;
  /** the model this worker holds */
  model: ServedModel;
  /** the job options it honours (a job asking for others fails at once); absent: options are passed through */
  capabilities?: { languages: string[]; options: { language: boolean; itn: boolean; hotwords?: boolean } };
  blobs: Pick<BlobStore, 'withFile' | 'delete'>;
  /** `commit`: the outcome (with a transcript's cache entry), written only while `fence` holds (ResultStore.commit) */
  results: { commit(taskId: string, outcome: TaskOutcome, opts: { fence: RunFence | null; cache?: CacheEntryWrite; counters?: string }): Promise<CommitResult>; get(taskId: string): Promise<TaskOutcome | null> };
  cache: { entry(cacheKey: string, value: CachedResult): CacheEntryWrite; releaseInflight(cacheKey: string, taskId: string): Promise<void> };
  /** `countersKey`: the hash a landed outcome write counts itself in (ResultStore.commit's `counters`) */
  stats: { countersKey: string; countRun(taskId: string, ttlSec: number): Promise<number> };
  events: { taskFinished(taskId: string): Promise<void> };
  cancels: { isCancelled(taskId: string): Promise<boolean> };
  transcribeAudio: TranscribeAudio;
  retentionSec: number;
  /** a task for another model goes back to the queue for this long before a worker looks at it again */
  handBackDelayMs?: number;
  /** a task for another model waits at most this long after submission for a worker holding it */
  modelWaitMs?: number;
  log: Logger;
  /** a task's timing at its outcome (metrics) */
  onFinished?: (t: Omit<TaskTiming, 'model'>) => void;
  /** the job span, continuing the trace whose context the gateway put in the job data */
  tracer?: Tracer;
}

class CancelledError extends Error {
  override readonly name = 'CancelledError';
}

/** A job option this model cannot honour: the job fails at once (before it could fail a batch of other jobs). */
class OptionError extends Error {
  override readonly name = 'OptionError';
  constructor(
    readonly code: 'unsupported_language' | 'unsupported_option',
    message: string,
  ) {
    super(message);
  }
}

function refusedOption(caps: ProcessorDeps['capabilities'], data: { language: string | null; itn: boolean | null; hotwords?: string[] | null }): OptionError | null {
  if (!caps) return null;
  if (data.language !== null && caps.options.language && !caps.languages.includes(data.language)) {
    return new OptionError('unsupported_language', `this model does not know language "${data.language}"; it takes ${caps.languages.join(', ')}`);
  }
  if (data.itn !== null && !caps.options.itn) return new OptionError('unsupported_option', 'this model has no inverse text normalisation (itn)');
  if (data.hotwords?.length && !caps.options.hotwords) return new OptionError('unsupported_option', 'this model takes no hotwords');
  return null;
}

class ModelUnavailableError extends Error {
  override readonly name = 'ModelUnavailableError';
  constructor(wanted: string, held: string, waitMs: number) {
    super(`this task is for model ${wanted}, which no worker took up within ${Math.round(waitMs / 1000)} s (this fleet serves ${held}); submit the audio again`);
  }
}

export function createProcessor(deps: ProcessorDeps) {
  const { log } = deps;
  const handBackDelayMs = deps.handBackDelayMs ?? 1000;
  const modelWaitMs = deps.modelWaitMs ?? 600_000;

  /** Whether a write landed (the run's outcome stands, counted by the same script): only then does the run settle (claims, waiters). */
  const landed = (answer: CommitResult): boolean => answer === 'written' || answer === 'replaced';

  /** Writes the run's outcome (ResultStore.commit); a write that did not land is logged: the run is dropped. */
  const write = async (thisRun: { taskId: string; fence: RunFence | null }, outcome: TaskOutcome, cache?: CacheEntryWrite): Promise<CommitResult> => {
    const { taskId, fence } = thisRun;
    const answer = await deps.results.commit(taskId, outcome, { fence, counters: deps.stats.countersKey, ...(cache ? { cache } : {}) });
    if (!landed(answer)) {
      log.warn('late run dropped: its outcome is not written', { taskId, status: outcome.status, reason: answer === 'lost' ? 'another run holds the task now' : 'the task has its final outcome already' });
    }
    return answer;
  };

  /**
   * After a write that landed (which counted itself: COMMIT_OUTCOME): lets go
   * of the claims and tells the waiters. A run whose write did not land ends
   * without: the run that owns the task does that itself (or did).
   */
  const settle = async (thisRun: { taskId: string }, cacheKeys: string[], outcome: TaskOutcome, answer: CommitResult): Promise<void> => {
    if (!landed(answer)) return;
    const { taskId } = thisRun;
    for (const k of cacheKeys) await deps.cache.releaseInflight(k, taskId);
    await deps.events.taskFinished(taskId);
    measure(taskId, outcome);
  };

  const finish = async (thisRun: { taskId: string; fence: RunFence | null }, cacheKeys: string[], outcome: TaskOutcome, cache?: CacheEntryWrite): Promise<CommitResult> => {
    const answer = await write(thisRun, outcome, cache);
    await settle(thisRun, cacheKeys, outcome, answer);
    return answer;
  };

  const logCompleted = (taskId: string, outcome: Extract<TaskOutcome, { status: 'completed' }>): void =>
    log.info('task completed', { taskId, durationSec: outcome.result.durationSec, segments: outcome.processing.segments, batches: outcome.processing.batchSizes.length, inferenceMs: outcome.processing.inferenceMs });

  const completedReturn = (outcome: Extract<TaskOutcome, { status: 'completed' }>): TranscribeReturn => ({
    status: 'completed',
    workerId: outcome.processing.workerId,
    textLength: outcome.result.text.length,
    batchSizes: outcome.processing.batchSizes,
  });

  // the jobs being run, so an outcome can be timed from its job's queue timestamps
  const running = new Map<string, TaskJob>();
  const measure = (taskId: string, outcome: TaskOutcome): void => {
    const job = running.get(taskId);
    if (!job || !deps.onFinished) return;
    const submitted = (job.data as { submittedAt?: unknown } | null)?.submittedAt;
    const startedAt = outcome.status === 'cancelled' ? outcome.completedAt : (outcome.startedAt ?? outcome.completedAt);
    deps.onFinished({
      status: outcome.status,
      submittedAt: typeof submitted === 'number' ? submitted : job.timestamp,
      enqueuedAt: job.timestamp,
      processedOn: job.processedOn ?? startedAt,
      startedAt,
      completedAt: outcome.completedAt,
      ...(outcome.status === 'completed' ? { audioSec: outcome.result.durationSec } : {}),
    });
  };

  const run = async function process(job: TaskJob, token?: string, signal?: AbortSignal): Promise<TranscribeReturn> {
    const taskId = job.id!;
    // what this run may write: only while BullMQ's lock on the job still holds this run's token
    const thisRun = { taskId, fence: runFence(job, token) };
    const abort = signal ?? new AbortController().signal;
    const parsed = transcribeJobSchema.safeParse(job.data);
    if (!parsed.success) {
      const message = `the task could not be read (${parsed.error.issues[0]?.message ?? 'unknown'}): are the gateway and this worker of compatible versions?`;
      log.error('invalid job payload', { taskId, issues: parsed.error.issues.map((i) => i.message) });
      const claimed = (job.data as { cacheKey?: unknown } | null)?.cacheKey;
      const now = Date.now();
      await finish(thisRun, typeof claimed === 'string' ? [claimed] : [], { status: 'failed', error: { code: TASK_ERROR_CODES.invalidPayload, message }, startedAt: now, completedAt: now });
      throw new UnrecoverableError(`${TASK_ERROR_CODES.invalidPayload}: ${message}`);
    }
    const data = parsed.data;
    const decision = modelDecision(data, deps.model, Date.now(), modelWaitMs);
    // The cache keys this task answers: the one it was claimed under, and this model's own when it adopted the task.
    const ownKey = decision === 'adopt' ? cacheKeyFor({ md5: data.md5, modelId: deps.model.id, options: { language: data.language }, queue: deps.queue, scope: data.cacheScope }) : data.cacheKey;
    const claimKeys = [...new Set([data.cacheKey, ownKey])];
    const startedAt = Date.now();
    let attempts: number;
    // a completed outcome whose write was sent and not answered yet
    let pending: { outcome: Extract<TaskOutcome, { status: 'completed' }>; cache: CacheEntryWrite } | null = null;
    try {
      if (decision === 'handBack' || decision === 'unavailable') {
        if (abort.aborted || (await deps.cancels.isCancelled(taskId))) throw new CancelledError('cancelled');
        if (decision === 'unavailable') throw new ModelUnavailableError(data.modelId!, deps.model.id, modelWaitMs);
        // Not a run: back to the queue for a worker that holds the model (no attempt is spent).
        log.warn('model_mismatch: handing the task back', { taskId, wanted: data.modelId, held: deps.model.id });
        await job.moveToDelayed(Date.now() + handBackDelayMs, token);
        throw new DelayedError();
      }
      if (decision === 'adopt') log.info('adopting a task keyed for another build of this model', { taskId, wanted: data.modelId, held: deps.model.id });
      const refused = refusedOption(deps.capabilities, data);
      if (refused) throw refused;
      attempts = await deps.stats.countRun(taskId, deps.retentionSec);
      log.info('task started', { taskId, run: attempts, attempt: job.attemptsMade + 1 });
      if (attempts > 1) {
        // A run killed between writing its outcome and BullMQ completing the job left a finished task: do not do it twice.
        const prior = await deps.results.get(taskId);
        if (prior?.status === 'completed') {
          log.info('task already completed by an earlier run', { taskId });
          // what the earlier run may not have got to: letting go of the claim, telling the waiters
          for (const k of claimKeys) await deps.cache.releaseInflight(k, taskId);
          await deps.events.taskFinished(taskId);
          return completedReturn(prior);
        }
      }
      await job.updateProgress(5);
      // A cancel published before this processor was running reaches it only through the marker.
      if (await deps.cancels.isCancelled(taskId)) throw new CancelledError('cancelled');
      const onProgress = (p: number): void => void job.updateProgress(p).catch(() => undefined);
      // A file, not a stream: ffmpeg seeks in some containers. The store's own file, or (S3) a copy on this host for the run.
      const run = await deps.blobs.withFile(data.blobKey, (input) => deps.transcribeAudio(input, { durationSec: data.durationSec, signal: abort, onProgress, options: { language: data.language, itn: data.itn, ...(data.hotwords?.length ? { hotwords: data.hotwords } : {}) } }));
      if (abort.aborted || (await deps.cancels.isCancelled(taskId))) throw new CancelledError('cancelled');
      await job.updateProgress(95);

      const completedAt = Date.now();
      const round = (x: number): number => Math.round(x);
      const processing: ProcessingInfo = {
        workerId: deps.workerId,
        batchSizes: run.batchSizes,
        inferenceMs: round(run.inferenceMs),
        attempts,
        queueMs: round(Math.max(0, (job.processedOn ?? startedAt) - job.timestamp)),
        decodeMs: round(run.decodeMs),
        batchWaitMs: round(run.batchWaitMs),
        workerMs: completedAt - startedAt,
        segments: run.segments,
      };
      const result = {
        text: run.transcript.text,
        // the language asked for, else the one the model detected (SenseVoice), else null
        language: data.language ?? run.tags.language ?? null,
        ...(run.tags.emotion ? { emotion: run.tags.emotion } : {}),
        ...(run.tags.event ? { event: run.tags.event } : {}),
        segments: run.transcript.segments.map((s) => ({ start: s.start, end: s.end, text: s.text })),
        durationSec: Math.round(run.durationSec * 1000) / 1000,
        modelId: deps.model.id,
      };
      // the cache entry goes with the outcome in one write: a late run must not replace the owner's transcript there either
      const cache = deps.cache.entry(ownKey, { result, taskId, processing, cachedAt: completedAt });
      const outcome = { status: 'completed' as const, result, startedAt, completedAt, processing };
      pending = { outcome, cache };
      const answer = await write(thisRun, outcome, cache);
      pending = null;
      await settle(thisRun, claimKeys, outcome, answer);
      // not landed: the outcome written already stands; a run that lost its lock cannot complete the job either
      // (BullMQ refuses it the job), one that holds it completes the job another run had finished
      if (!landed(answer)) return completedReturn(outcome);
      await job.updateProgress(100);
      logCompleted(taskId, outcome);
      return completedReturn(outcome);
    } catch (err) {
      if (err instanceof DelayedError) throw err;
      if (pending) {
        // The completed outcome's write threw (its reply lost, Redis away): Redis may have run it. Send it again —
        // this run's own write, if it landed, answers what it answered then — rather than a failure over a transcript.
        const { outcome, cache } = pending;
        log.warn('outcome write failed, sending it again', { taskId, message: err instanceof Error ? err.message : String(err) });
        const answer = await write(thisRun, outcome, cache);
        await settle(thisRun, claimKeys, outcome, answer);
        if (landed(answer)) {
          await job.updateProgress(100).catch(() => undefined);
          logCompleted(taskId, outcome);
        }
        return completedReturn(outcome);
      }
      const now = Date.now();
      /**
       * Writes a failure (or a cancel); the task's outcome is completed already (this run's own, or another
       * run's): the job completes with it instead of failing. Returns what the job then returns, else null.
       */
      const end = async (outcome: TaskOutcome): Promise<TranscribeReturn | null> => {
        if ((await finish(thisRun, claimKeys, outcome)) !== 'done') return null;
        const stored = await deps.results.get(taskId);
        return stored?.status === 'completed' ? completedReturn(stored) : null;
      };
      const fail = (error: ErrorInfo): Promise<TranscribeReturn | null> => end({ status: 'failed', error, startedAt, completedAt: now });
      if (abort.aborted || err instanceof CancelledError) {
        // nobody wants this audio any more: it goes now, not at retention
        await deps.blobs.delete(data.blobKey).catch((e: Error) => log.warn('could not delete a cancelled task\'s audio', { taskId, message: e.message }));
        const settled = await end({ status: 'cancelled', completedAt: now });
        if (settled) return settled;
        log.info('task cancelled', { taskId });
        throw new UnrecoverableError('cancelled');
      }
      if (isAudioError(err) && PERMANENT_AUDIO_ERRORS.has(err.code)) {
        const error = { code: AUDIO_ERROR_CODES[err.code], message: err.message };
        const settled = await fail(error);
        if (settled) return settled;
        log.warn('task failed permanently', { taskId, ...error });
        throw new UnrecoverableError(err.message);
      }
      if (err instanceof OptionError) {
        const settled = await fail({ code: err.code, message: err.message });
        if (settled) return settled;
        log.warn('task refused: an option the model does not honour', { taskId, code: err.code });
        throw new UnrecoverableError(err.message);
      }
      if (err instanceof ModelUnavailableError) {
        const settled = await fail({ code: TASK_ERROR_CODES.modelUnavailable, message: err.message });
        if (settled) return settled;
        log.warn('task for another model failed: no worker took it up', { taskId, wanted: data.modelId });
        throw new UnrecoverableError(err.message);
      }
      if (err instanceof BlobNotFoundError) {
        const error = { code: TASK_ERROR_CODES.blobMissing, message: 'the uploaded audio is no longer stored' };
        const settled = await fail(error);
        if (settled) return settled;
        throw new UnrecoverableError(error.message);
      }
      const message = err instanceof Error ? err.message : String(err);
      const attempts = job.opts.attempts ?? 1;
      if (job.attemptsMade + 1 >= attempts) {
        const settled = await fail({ code: TASK_ERROR_CODES.processingFailed, message });
        if (settled) return settled;
        log.error('task failed after retries', { taskId, attempts, message });
      } else {
        log.warn('task attempt failed, will retry', { taskId, attempt: job.attemptsMade + 1, attempts, message });
      }
      throw err;
    }
  };

  return async function traced(job: TaskJob, token?: string, signal?: AbortSignal): Promise<TranscribeReturn> {
    if (job.id) running.set(job.id, job);
    try {
      if (!deps.tracer) return await run(job, token, signal);
      const traceparent = (job.data as { traceparent?: unknown } | null)?.traceparent;
      const parent = contextFromTraceparent(typeof traceparent === 'string' ? traceparent : undefined);
      const attributes = { 'messaging.destination.name': deps.queue, 'voxfleet.task_id': job.id ?? '', 'voxfleet.model': deps.model.name, 'voxfleet.attempt': job.attemptsMade + 1 };
      return await deps.tracer.startActiveSpan('job', { kind: SpanKind.CONSUMER, attributes }, parent, async (span) => {
        try {
          return await run(job, token, signal);
        } catch (err) {
          // handed back to the queue is not a failure
          if (!(err instanceof DelayedError)) span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
          throw err;
        } finally {
          span.end();
        }
      });
    } finally {
      if (job.id) running.delete(job.id);
    }
  };
}
