/**
 * What a worker does with one task: decode the blob as a stream; a clip of at
 * most `segmentMaxSec` goes to the shared micro-batcher whole, anything longer
 * is cut at pauses by the streaming SpeechSegmenter and every segment goes to
 * the batcher like a short clip (so segments of different jobs share
 * batches), with at most `maxInflightSegments` of this job's segments waiting
 * or running at once — decoding pauses otherwise, so memory stays flat in the
 * length of the file. Transcripts are stitched with absolute timestamps and
 * the outcome written (result store + result cache) before BullMQ completes
 * the job. Progress counts segments. Bad audio fails at once
 * (UnrecoverableError); anything else is retried with backoff, and the last
 * failed attempt records the failure.
 */
import { stitch, type Segment, type Transcript } from '@voxfleet/asr';
import { decodeStream, isAudioError } from '@voxfleet/audio';
import { transcribeJobSchema, type FleetKeys, type FleetEvent, type TranscribeJob, type TranscribeReturn } from '@voxfleet/queue';
import { SpeechSegmenter } from '@voxfleet/segmenter';
import { BlobNotFoundError, type BlobStore, type ResultCache, type ResultStore, type TaskOutcome } from '@voxfleet/storage';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Batched } from './batcher.js';
import type { Logger } from '@voxfleet/config';

const SR = 16000;

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
  /** the micro-batcher: one piece of 16 kHz audio in (ownership passes), its transcript out */
  transcribe: (samples: Float32Array, signal: AbortSignal) => Promise<Batched<Transcript>>;
  /** audio up to this long is transcribed whole; longer audio is segmented at pauses into pieces of at most this (default 30) */
  segmentMaxSec?: number;
  /** this job's segments waiting or running in the batcher at once (default 8) */
  maxInflightSegments?: number;
  /** +1 when this task starts producing audio for the batcher, −1 when it will submit nothing more (adaptive wait) */
  onProducer?: (delta: 1 | -1) => void;
  log: Logger;
}

/** Timing of one task, recorded with its result. */
export interface TaskTiming {
  /** enqueued → picked up by this worker */
  queueMs: number;
  /** time spent waiting for decoded audio (ffmpeg) */
  decodeMs: number;
  /** Σ time its pieces waited in the batcher */
  batchWaitMs: number;
  /** Σ wall time of the batches its pieces ran in */
  inferenceMs: number;
  /** picked up → result written */
  workerMs: number;
  /** pieces sent to the batcher (1 for a short clip) */
  segments: number;
}

const PERMANENT_AUDIO_ERRORS = new Set(['empty', 'undecodable', 'unsupported', 'too_long']);

class CancelledError extends Error {
  override readonly name = 'CancelledError';
}

function concat(parts: Float32Array[], total: number): Float32Array {
  if (parts.length === 1 && parts[0]!.length === total) return parts[0]!;
  const out = new Float32Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

interface Part {
  offsetSec: number;
  durSec: number;
  segments: Segment[];
}

/** a piece's transcript, times clamped to [0, its length] so stitched times stay monotonic */
function partOf(offsetSec: number, durSec: number, t: Transcript): Part {
  const c = (x: Segment): Segment => ({ text: x.text, start: Math.min(Math.max(0, x.start), durSec), end: Math.min(Math.max(0, x.end), durSec) });
  return { offsetSec, durSec, segments: t.segments.map(c) };
}

export function createProcessor(deps: ProcessorDeps) {
  const { redis, keys, log } = deps;
  const segmentMaxSec = deps.segmentMaxSec ?? 30;
  const maxInflight = Math.max(1, deps.maxInflightSegments ?? 8);

  const finish = async (taskId: string, cacheKey: string, outcome: TaskOutcome): Promise<void> => {
    await deps.results.set(taskId, outcome);
    await deps.cache.releaseInflight(cacheKey, taskId);
    await redis
      .multi()
      .hincrby(keys.stats, `tasks_${outcome.status}`, 1)
      .publish(keys.eventsChannel, JSON.stringify({ taskId } satisfies FleetEvent))
      .exec();
  };

  /**
   * Decodes and transcribes one file. Returns the stitched transcript, the
   * duration and the timing; throws on audio errors / abort.
   */
  const transcribeFile = async (
    job: Job<TranscribeJob, TranscribeReturn>,
    data: TranscribeJob,
    signal: AbortSignal,
    timing: TaskTiming,
    batchSizes: number[],
  ): Promise<{ transcript: Transcript; durationSec: number }> => {
    const input = deps.blobs.localPath ? deps.blobs.localPath(data.blobKey) : await deps.blobs.read(data.blobKey);
    // A long file is decoded at the pace of inference (backpressure): scale the decode deadline with its length.
    const timeoutMs = Math.max(deps.decodeTimeoutMs, Math.round(data.durationSec * 1000));
    const stream = decodeStream(input, { maxDurationSec: deps.maxAudioSec, timeoutMs, signal, chunkSamples: SR });
    const iter = stream[Symbol.asyncIterator]();
    const next = async (): Promise<IteratorResult<Float32Array>> => {
      const t = performance.now();
      try {
        return await iter.next();
      } finally {
        timing.decodeMs += performance.now() - t;
      }
    };
    const record = (r: Batched<Transcript>): void => {
      batchSizes.push(r.batchSize);
      timing.batchWaitMs += r.waitMs;
      timing.inferenceMs += r.runMs;
    };

    let producing = true;
    deps.onProducer?.(1);
    const stopProducing = (): void => {
      if (producing) {
        producing = false;
        deps.onProducer?.(-1);
      }
    };
    try {
      // Up to segmentMaxSec (+ one chunk): if the stream ends there, it is a short clip.
      const head: Float32Array[] = [];
      let headSamples = 0;
      let ended = false;
      while (headSamples <= segmentMaxSec * SR) {
        const r = await next();
        if (r.done) {
          ended = true;
          break;
        }
        head.push(r.value);
        headSamples += r.value.length;
      }
      if (signal.aborted) throw new CancelledError('cancelled');

      if (ended) {
        const samples = concat(head, headSamples);
        head.length = 0;
        stopProducing();
        await job.updateProgress(30);
        timing.segments = 1;
        const r = await deps.transcribe(samples, signal);
        record(r);
        return { transcript: r.output, durationSec: headSamples / SR };
      }

      // Long audio: stream → segmenter → batcher, a bounded number of segments in flight.
      const segmenter = new SpeechSegmenter({ maxSegmentSec: segmentMaxSec });
      async function* source(): AsyncGenerator<Float32Array> {
        while (head.length > 0) yield head.shift()!;
        for (;;) {
          const r = await next();
          if (r.done) return;
          yield r.value;
        }
      }
      const parts: Part[] = [];
      const inflight: Promise<void>[] = [];
      let failure: unknown;
      let found = 0;
      let done = 0;
      let lastProgress = 0;
      const progress = (): void => {
        const now = Date.now();
        if (now - lastProgress < 250) return;
        lastProgress = now;
        const decodedSec = segmenter.stats.totalSamples / SR;
        const expected = Math.max(found, decodedSec > 0 ? Math.ceil((found * data.durationSec) / decodedSec) : found);
        const pct = 5 + Math.floor((90 * done) / Math.max(1, expected));
        job.updateProgress(Math.min(95, pct)).catch(() => undefined);
      };
      for await (const seg of segmenter.segments(source())) {
        if (failure !== undefined) throw failure;
        const index = found++;
        const offsetSec = seg.startSample / SR;
        const durSec = seg.samples.length / SR;
        const p = deps.transcribe(seg.samples, signal).then(
          (r) => {
            record(r);
            parts[index] = partOf(offsetSec, durSec, r.output);
            done++;
            progress();
          },
          (err: unknown) => {
            failure ??= err;
          },
        );
        inflight.push(p);
        if (inflight.length >= maxInflight) await inflight.shift();
      }
      stopProducing();
      await Promise.all(inflight);
      if (failure !== undefined) throw failure;
      timing.segments = found;
      const durationSec = segmenter.stats.totalSamples / SR;
      const transcript = stitch(
        parts.map((p) => ({ offsetSec: p.offsetSec, transcript: { text: '', segments: p.segments, tokens: [], durationSec: p.durSec } })),
        durationSec,
      );
      return { transcript, durationSec };
    } finally {
      stopProducing();
      await iter.return?.(undefined).catch(() => undefined);
    }
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
    const timing: TaskTiming = {
      queueMs: Math.max(0, (job.processedOn ?? startedAt) - job.timestamp),
      decodeMs: 0,
      batchWaitMs: 0,
      inferenceMs: 0,
      workerMs: 0,
      segments: 0,
    };
    const batchSizes: number[] = [];
    try {
      await job.updateProgress(5);
      // A cancel published before this processor was running reaches it only through the marker.
      if (await redis.exists(keys.cancelled(taskId))) throw new CancelledError('cancelled');
      const { transcript, durationSec } = await transcribeFile(job, data, abort, timing, batchSizes);
      if (abort.aborted || (await redis.exists(keys.cancelled(taskId)))) throw new CancelledError('cancelled');
      await job.updateProgress(95);

      const completedAt = Date.now();
      timing.workerMs = completedAt - startedAt;
      const round = (x: number): number => Math.round(x);
      const processing = {
        workerId: deps.workerId,
        batchSizes,
        inferenceMs: round(timing.inferenceMs),
        attempts: job.attemptsMade + 1,
        queueMs: round(timing.queueMs),
        decodeMs: round(timing.decodeMs),
        batchWaitMs: round(timing.batchWaitMs),
        workerMs: round(timing.workerMs),
        segments: timing.segments,
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
      log.info('task completed', { taskId, durationSec: result.durationSec, segments: timing.segments, batches: batchSizes.length, inferenceMs: processing.inferenceMs });
      return { status: 'completed', workerId: deps.workerId, textLength: result.text.length, batchSizes };
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
