/**
 * What a worker does with one task: decode the blob, cut long audio into
 * pieces, send the pieces through the shared micro-batcher, stitch, and write
 * the outcome (result store + result cache) before BullMQ completes the job.
 * Bad audio fails at once (UnrecoverableError); anything else is retried with
 * backoff, and the last failed attempt records the failure.
 */
import { chunkAudio, stitch, type Transcript } from '@voxfleet/asr';
import { decodeBuffer, decodeFile, isAudioError } from '@voxfleet/audio';
import { transcribeJobSchema, type FleetKeys, type FleetEvent, type TranscribeJob, type TranscribeReturn } from '@voxfleet/queue';
import { BlobNotFoundError, type BlobStore, type ResultCache, type ResultStore, type TaskOutcome } from '@voxfleet/storage';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Batched } from './batcher.js';
import type { Logger } from '@voxfleet/config';

export interface ProcessorDeps {
  workerId: string;
  modelId: () => string;
  redis: Redis;
  keys: FleetKeys;
  blobs: BlobStore;
  results: ResultStore;
  cache: ResultCache;
  maxAudioSec: number;
  decodeTimeoutMs: number;
  retentionSec: number;
  /** the micro-batcher: one piece of 16 kHz audio in, its transcript out */
  transcribe: (samples: Float32Array, signal: AbortSignal) => Promise<Batched<Transcript>>;
  log: Logger;
}

const PERMANENT_AUDIO_ERRORS = new Set(['empty', 'undecodable', 'unsupported', 'too_long']);

class CancelledError extends Error {
  override readonly name = 'CancelledError';
}

export function createProcessor(deps: ProcessorDeps) {
  const { redis, keys, log } = deps;

  const finish = async (taskId: string, cacheKey: string, outcome: TaskOutcome): Promise<void> => {
    await deps.results.set(taskId, outcome);
    await deps.cache.releaseInflight(cacheKey, taskId);
    await redis
      .multi()
      .hincrby(keys.stats, `tasks_${outcome.status}`, 1)
      .publish(keys.eventsChannel, JSON.stringify({ taskId } satisfies FleetEvent))
      .exec();
  };

  return async function process(job: Job<TranscribeJob, TranscribeReturn>, _token?: string, signal?: AbortSignal): Promise<TranscribeReturn> {
    const taskId = job.id!;
    const abort = signal ?? new AbortController().signal;
    const startedAt = Date.now();
    const parsed = transcribeJobSchema.safeParse(job.data);
    if (!parsed.success) {
      log.error('invalid job payload', { taskId, issues: parsed.error.issues.map((i) => i.message) });
      throw new UnrecoverableError(`invalid job payload: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
    }
    const data = parsed.data;
    await redis.multi().incr(keys.taskRuns(taskId)).expire(keys.taskRuns(taskId), deps.retentionSec).exec();
    log.info('task started', { taskId, attempt: job.attemptsMade + 1 });
    try {
      await job.updateProgress(5);
      const decodeOpts = { maxDurationSec: deps.maxAudioSec, timeoutMs: deps.decodeTimeoutMs, signal: abort };
      const samples = deps.blobs.localPath
        ? await decodeFile(deps.blobs.localPath(data.blobKey), decodeOpts)
        : await decodeBuffer(await deps.blobs.read(data.blobKey), decodeOpts);
      if (abort.aborted) throw new CancelledError('cancelled');
      await job.updateProgress(30);

      const durationSec = samples.length / 16000;
      const pieces = chunkAudio(samples);
      const t0 = performance.now();
      // Each piece gets its own buffer: the engine takes ownership of what it is sent.
      const parts = await Promise.all(pieces.map((p) => deps.transcribe(p.samples.slice(), abort)));
      const inferenceMs = Math.round(performance.now() - t0);
      await job.updateProgress(90);

      const transcript =
        parts.length === 1
          ? parts[0]!.output
          : stitch(
              parts.map((p, i) => ({ offsetSec: pieces[i]!.start / 16000, transcript: p.output })),
              durationSec,
            );
      const completedAt = Date.now();
      const processing = {
        workerId: deps.workerId,
        batchSizes: parts.map((p) => p.batchSize),
        inferenceMs,
        attempts: job.attemptsMade + 1,
      };
      const result = {
        text: transcript.text,
        language: data.language,
        segments: transcript.segments.map((s) => ({ start: s.start, end: s.end, text: s.text })),
        durationSec: Math.round(durationSec * 1000) / 1000,
        modelId: deps.modelId(),
      };
      await deps.cache.set(data.cacheKey, { result, taskId, processing, cachedAt: completedAt });
      await finish(taskId, data.cacheKey, { status: 'completed', result, startedAt, completedAt, processing });
      await job.updateProgress(100);
      log.info('task completed', { taskId, durationSec: result.durationSec, batches: processing.batchSizes, inferenceMs });
      return { status: 'completed', workerId: deps.workerId, textLength: result.text.length, batchSizes: processing.batchSizes };
    } catch (err) {
      const now = Date.now();
      if (abort.aborted || err instanceof CancelledError) {
        await finish(taskId, data.cacheKey, { status: 'cancelled', completedAt: now });
        log.info('task cancelled', { taskId });
        throw new UnrecoverableError('cancelled');
      }
      if (isAudioError(err) && PERMANENT_AUDIO_ERRORS.has(err.code)) {
        const error = { code: `audio_${err.code}`, message: err.message };
        await finish(taskId, data.cacheKey, { status: 'failed', error, startedAt, completedAt: now });
        log.warn('task failed permanently', { taskId, ...error });
        throw new UnrecoverableError(err.message);
      }
      if (err instanceof BlobNotFoundError) {
        const error = { code: 'blob_missing', message: 'the uploaded audio is no longer stored' };
        await finish(taskId, data.cacheKey, { status: 'failed', error, startedAt, completedAt: now });
        throw new UnrecoverableError(error.message);
      }
      const message = err instanceof Error ? err.message : String(err);
      const attempts = job.opts.attempts ?? 1;
      if (job.attemptsMade + 1 >= attempts) {
        await finish(taskId, data.cacheKey, { status: 'failed', error: { code: 'processing_failed', message }, startedAt, completedAt: now });
        log.error('task failed after retries', { taskId, attempts, message });
      } else {
        log.warn('task attempt failed, will retry', { taskId, attempt: job.attemptsMade + 1, attempts, message });
      }
      throw err;
    }
  };
}
