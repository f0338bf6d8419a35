/**
 * A worker process: loads the model once, then takes jobs from BullMQ with
 * concurrency above the max batch (default 2×), so the micro-batcher sees
 * enough concurrent audio to fill a batch and the next batch's jobs decode
 * while the current one infers. The batcher groups by length under a frame
 * budget and waits only when more audio is coming (a job of this worker still
 * decoding, or jobs waiting in the queue while it has free slots).
 * Publishes a heartbeat (model identity, ready/draining), listens for cancel
 * signals, and drains on `stop()`.
 */
import { hostname } from 'node:os';
import { AsrEngine, type AsrConfig, type Transcript } from '@voxfleet/asr';
import type { WorkerAppConfig } from '@voxfleet/config';
import { createLogger, type Logger } from '@voxfleet/config';
import { CancelSignals, FleetEvents, FleetStats, Heartbeats, TaskQueue, createRedis, createWorker, type WorkerHeartbeat } from '@voxfleet/queue';
import { LocalBlobStore, ResultCache, ResultStore } from '@voxfleet/storage';
import type { Job, Worker } from 'bullmq';
import { longAudio } from './audio.js';
import { MicroBatcher } from './batcher.js';
import { createProcessor } from './processor.js';

export interface RunningWorker {
  readonly id: string;
  readonly engine: AsrEngine;
  /** Stops taking jobs, finishes in-flight ones, closes the engine and Redis. */
  stop(): Promise<void>;
}

export async function startWorker(cfg: WorkerAppConfig, asr: AsrConfig, log: Logger = createLogger('worker')): Promise<RunningWorker> {
  const w = cfg.worker;
  const prefix = cfg.redis.keyPrefix;

  const engine = await AsrEngine.start(asr);
  const { report } = engine;
  log.info('model loaded', { model: report.modelId, name: report.modelName, decoder: report.decoder, provider: report.provider, precision: report.precision, loadMs: Math.round(report.loadMs) });

  const redis = createRedis(cfg.redis, `worker-${w.id}`);
  const bullConnection = createRedis(cfg.redis, `worker-${w.id}-bull`);
  const subscriber = createRedis(cfg.redis, `worker-${w.id}-sub`);
  for (const c of [redis, bullConnection, subscriber]) c.on('error', (err: Error) => log.warn('redis error', { message: err.message }));

  const stats = new FleetStats(redis, prefix);
  const heartbeats = new Heartbeats(redis, prefix);
  const cancels = new CancelSignals(redis, prefix, cfg.storage.retentionSec);
  const queue = new TaskQueue(cfg.queue, redis, cfg.storage.retentionSec);

  // Adaptive wait: is more audio about to reach the batcher?
  let producers = 0;
  let activeJobs = 0;
  let queued = { at: 0, count: 0 };
  const moreComing = async (): Promise<boolean> => {
    if (producers > 0) return true; // a job of ours is still decoding
    if (activeJobs >= w.concurrency) return false; // no free slot: queued jobs cannot join this batch
    if (Date.now() - queued.at > 20) queued = { at: Date.now(), count: await queue.backlog() };
    return queued.count > 0;
  };
  let maxPadded = 0;
  const batcher = new MicroBatcher<Float32Array, Transcript>(
    async (items) => (await engine.transcribe(items)).transcripts,
    {
      maxBatch: w.maxBatch,
      maxWaitMs: w.maxWaitMs,
      maxFrames: w.maxFrames,
      overheadFrames: w.batchOverheadFrames,
      cost: (samples) => engine.frames(samples.length),
      ...(w.adaptiveWait ? { moreComing } : {}),
      onBatch: ({ size, ms, frames, paddedFrames }) => {
        const grew = paddedFrames > maxPadded && size > 1;
        if (grew) maxPadded = paddedFrames;
        stats.recordBatch(w.id, { size, frames, paddedFrames }, grew).catch((err: Error) => log.warn('stats write failed', { message: err.message }));
        log.info('batch', { size, ms: Math.round(ms), frames, paddedFrames });
      },
    },
  );

  const model = { id: report.modelId, name: report.modelName };
  const processor = createProcessor({
    workerId: w.id,
    queue: cfg.queue.name,
    model,
    blobs: new LocalBlobStore(cfg.storage.blobDir),
    results: new ResultStore(redis, prefix, cfg.storage.retentionSec),
    cache: new ResultCache(redis, prefix, cfg.storage.cacheTtlSec),
    stats,
    events: new FleetEvents(redis, prefix),
    cancels,
    retentionSec: cfg.storage.retentionSec,
    modelWaitMs: w.modelWaitSec * 1000,
    transcribeAudio: longAudio({
      submit: (samples, signal) => batcher.submit(samples, signal),
      maxAudioSec: w.maxAudioSec,
      decodeTimeoutMs: w.decodeTimeoutMs,
      segmentMaxSec: w.segmentMaxSec,
      maxInflightSegments: w.maxBatch,
      onProducer: (delta) => {
        producers += delta;
        if (delta < 0) batcher.recheck();
      },
    }),
    log,
  });
  const counted = async (job: Job, token?: string, signal?: AbortSignal) => {
    activeJobs++;
    try {
      return await processor(job, token, signal);
    } finally {
      activeJobs--;
    }
  };

  const worker: Worker = createWorker(cfg.queue, bullConnection, counted, {
    concurrency: w.concurrency,
    autorun: false,
    // Inference runs on the engine thread, so lock renewal keeps up; a crashed worker's jobs are retried elsewhere.
    lockDuration: w.lockDurationMs,
    stalledInterval: w.stalledIntervalMs,
    maxStalledCount: 2,
  });
  worker.on('error', (err) => log.warn('bullmq error', { message: err.message }));
  worker.on('failed', (job, err) => {
    if (job) log.warn('job failed', { taskId: job.id, reason: err.message, attemptsMade: job.attemptsMade });
  });

  // Cancel signals from the gateway reach whichever worker runs the task.
  await cancels.subscribe(subscriber, (taskId, reason) => {
    if (worker.cancelJob(taskId, reason)) log.info('cancelling task', { taskId });
  });

  let status: WorkerHeartbeat['status'] = 'ready';
  const startedAt = Date.now();
  const beat = (): Promise<void> =>
    heartbeats.beat(
      {
        workerId: w.id,
        pid: process.pid,
        host: hostname(),
        status,
        queue: cfg.queue.name,
        modelId: model.id,
        modelName: model.name,
        provider: report.provider,
        precision: report.precision,
        loadMs: Math.round(report.loadMs),
        startedAt,
        updatedAt: Date.now(),
        maxBatch: w.maxBatch,
        maxWaitMs: w.maxWaitMs,
        active: batcher.pending,
      },
      w.heartbeatTtlMs,
    );
  await beat();
  const heartbeat = setInterval(() => {
    beat().catch((err: Error) => log.warn('heartbeat failed', { message: err.message }));
  }, Math.max(250, Math.floor(w.heartbeatTtlMs / 3)));

  void worker.run().catch((err: Error) => log.error('worker loop stopped', { message: err.message }));
  await worker.waitUntilReady();
  log.info('ready', { workerId: w.id, queue: cfg.queue.name, model: model.id, maxBatch: w.maxBatch, maxWaitMs: w.maxWaitMs, maxFrames: w.maxFrames, concurrency: w.concurrency });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      status = 'draining';
      await beat().catch(() => undefined);
      log.info('draining: finishing in-flight jobs');
      await worker.close(); // stops fetching; resolves once active jobs are done
      clearInterval(heartbeat);
      await heartbeats.remove(w.id).catch(() => undefined);
      await engine.close();
      await queue.close().catch(() => undefined);
      await subscriber.quit().catch(() => undefined);
      await redis.quit().catch(() => undefined);
      await bullConnection.quit().catch(() => undefined);
      log.info('stopped');
    })());

  return { id: w.id, engine, stop };
}
