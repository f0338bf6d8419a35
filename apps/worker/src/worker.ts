/**
 * A worker process: loads its models once (one or more; each an engine on
 * its own thread), then takes jobs from each model's queue with concurrency
 * above the max batch (default 2×), so the model's micro-batcher sees enough
 * concurrent audio to fill a batch and the next batch's jobs decode while the
 * current one infers. The batcher groups by length under a frame budget and
 * waits only when more audio is coming (a job of this worker still decoding,
 * or jobs waiting in the queue while it has free slots).
 * Publishes one heartbeat (the models it holds, ready/draining), listens for
 * cancel signals, and drains on `stop()`.
 */
import { hostname } from 'node:os';
import { AsrEngine, type AsrConfig, type Transcript, type UtteranceOptions } from '@voxfleet/asr';
import type { WorkerAppConfig } from '@voxfleet/config';
import { createLogger, type Logger } from '@voxfleet/config';
import { CancelSignals, FleetEvents, FleetStats, Heartbeats, TaskQueue, createRedis, createWorker, modelQueueName, type HeldModel, type WorkerHeartbeat } from '@voxfleet/queue';
import { ResultCache, ResultStore, createBlobStore } from '@voxfleet/storage';
import { startTelemetry, type Telemetry } from '@voxfleet/telemetry';
import type { Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { longAudio } from './audio.js';
import { MicroBatcher } from './batcher.js';
import { workerMetrics, type WorkerMetrics } from './metrics.js';
import { createProcessor } from './processor.js';

/** sherpa-onnx keeps 2950 feature frames of a Whisper utterance (offline-recognizer-whisper-impl.h). */
const WHISPER_MAX_PIECE_SEC = 29.5;
/**
 * Fun-ASR-Nano splices every LFR row (60 ms) of a piece into its 512-position prompt: a 30 s piece
 * (500 rows) leaves no room to generate (sherpa-onnx trims the audio and returns nothing), and the model
 * loops on long inputs (Fun-ASR README: segment with VAD; FunASR's llama.cpp port cuts at 15 s).
 * 15 s = 250 rows + a ~40-id prompt leaves ~220 tokens.
 */
const NANO_MAX_PIECE_SEC = 15;

/**
 * The longest piece the worker hands a model of this kind: VOXFLEET_SEGMENT_MAX_SEC, capped where the
 * export cannot take more (Whisper, Fun-ASR-Nano; above). Longer audio is cut at VAD pauses first.
 */
export function pieceLimitSec(kind: string, segmentMaxSec: number): number {
  if (kind === 'whisper') return Math.min(segmentMaxSec, WHISPER_MAX_PIECE_SEC);
  if (kind === 'funasr-nano') return Math.min(segmentMaxSec, NANO_MAX_PIECE_SEC);
  return segmentMaxSec;
}

export interface RunningWorker {
  readonly id: string;
  /** the first model's engine */
  readonly engine: AsrEngine;
  readonly engines: AsrEngine[];
  /** Stops taking jobs, finishes in-flight ones, closes the engines and Redis. */
  stop(): Promise<void>;
  /** Closes the engines at once (a drain that could not finish). */
  closeEngines(): Promise<void>;
}

/** A piece of audio on its way to the engine, with its job's options (they go with it into a batch of mixed jobs). */
interface Piece {
  samples: Float32Array;
  options: UtteranceOptions;
}

/** One model this process holds: its engine, batcher, queue and BullMQ worker. */
interface ModelRuntime {
  held: HeldModel;
  engine: AsrEngine;
  batcher: MicroBatcher<Piece, Transcript>;
  worker: Worker;
  queue: TaskQueue;
}

interface Shared {
  cfg: WorkerAppConfig;
  redis: Redis;
  bullConnection: Redis;
  stats: FleetStats;
  cancels: CancelSignals;
  log: Logger;
  metrics: WorkerMetrics;
  telemetry: Telemetry;
}

async function startModel(s: Shared, asr: AsrConfig): Promise<ModelRuntime> {
  const { cfg, redis, stats, cancels, log, metrics } = s;
  const w = cfg.worker;
  const prefix = cfg.redis.keyPrefix;
  const engine = await AsrEngine.start(asr);
  const { report } = engine;
  const queueName = modelQueueName(cfg.queue.name, report.modelName);
  metrics.modelLoaded({ name: report.modelName, provider: report.provider, precision: report.precision, loadMs: report.loadMs });
  log.info('model loaded', { name: report.modelName, model: report.modelId, queue: queueName, decoder: report.decoder, provider: report.provider, precision: report.precision, loadMs: Math.round(report.loadMs), ...(report.weights ? { weights: report.weights } : {}) });
  const queue = new TaskQueue({ ...cfg.queue, name: queueName }, redis, cfg.storage.retentionSec);

  // Adaptive wait: is more audio about to reach this model's batcher?
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
  const batcher = new MicroBatcher<Piece, Transcript>(async (items) => {
    const r = await engine.transcribe(items.map((i) => i.samples), { options: items.map((i) => i.options) });
    metrics.batch(report.modelName, items.length, r.timing);
    return r.transcripts;
  }, {
    maxBatch: w.maxBatch,
    maxWaitMs: w.maxWaitMs,
    maxFrames: w.maxFrames,
    overheadFrames: w.batchOverheadFrames,
    maxInFlight: w.batchesInFlight || (engine.concurrent ? 2 : 1),
    cost: (piece) => engine.frames(piece.samples.length),
    ...(w.adaptiveWait ? { moreComing } : {}),
    onBatch: ({ size, ms, frames, paddedFrames }) => {
      const grew = paddedFrames > maxPadded && size > 1;
      if (grew) maxPadded = paddedFrames;
      stats.recordBatch(w.id, { size, frames, paddedFrames }, grew).catch((err: Error) => log.warn('stats write failed', { message: err.message }));
      log.info('batch', { model: report.modelName, size, ms: Math.round(ms), frames, paddedFrames });
    },
  });

  const processor = createProcessor({
    workerId: w.id,
    queue: queueName,
    model: { id: report.modelId, name: report.modelName },
    capabilities: { languages: report.languages, options: report.options },
    blobs: createBlobStore(cfg.storage),
    results: new ResultStore(redis, prefix, cfg.storage.retentionSec),
    cache: new ResultCache(redis, prefix, cfg.storage.cacheTtlSec),
    stats,
    events: new FleetEvents(redis, prefix),
    cancels,
    retentionSec: cfg.storage.retentionSec,
    modelWaitMs: w.modelWaitSec * 1000,
    transcribeAudio: longAudio({
      submit: (samples, options, signal) => batcher.submit({ samples, options }, signal),
      maxAudioSec: w.maxAudioSec,
      decodeTimeoutMs: w.decodeTimeoutMs,
      segmentMaxSec: pieceLimitSec(report.kind, w.segmentMaxSec),
      maxInflightSegments: w.maxBatch,
      onProducer: (delta) => {
        producers += delta;
        if (delta < 0) batcher.recheck();
      },
      tracer: s.telemetry.tracer,
    }),
    log,
    onFinished: (t) => metrics.taskFinished({ ...t, model: report.modelName }),
    tracer: s.telemetry.tracer,
  });
  const counted = async (job: Job, token?: string, signal?: AbortSignal) => {
    activeJobs++;
    try {
      return await processor(job, token, signal);
    } finally {
      activeJobs--;
    }
  };
  const worker: Worker = createWorker({ ...cfg.queue, name: queueName }, s.bullConnection, counted, {
    concurrency: w.concurrency,
    autorun: false,
    // Inference runs on the engine thread, so lock renewal keeps up; a crashed worker's jobs are retried elsewhere.
    lockDuration: w.lockDurationMs,
    stalledInterval: w.stalledIntervalMs,
    maxStalledCount: 2,
  });
  worker.on('error', (err) => log.warn('bullmq error', { queue: queueName, message: err.message }));
  worker.on('failed', (job, err) => {
    if (job) log.warn('job failed', { taskId: job.id, reason: err.message, attemptsMade: job.attemptsMade });
  });
  const held: HeldModel = {
    name: report.modelName,
    aliases: report.aliases,
    id: report.modelId,
    queue: queueName,
    languages: report.languages,
    kind: report.kind,
    options: report.options,
    provider: report.provider,
    precision: report.precision,
    loadMs: Math.round(report.loadMs),
  };
  return { held, engine, batcher, worker, queue };
}

export interface WorkerOptions {
  /** telemetry started by the caller, left running at stop; default: one from cfg.telemetry, stopped at stop */
  telemetry?: Telemetry;
  /** the telemetry this worker starts is registered as the process's OpenTelemetry SDK (NodeSDK; the process entry point) */
  registerTelemetry?: boolean;
}

export async function startWorker(cfg: WorkerAppConfig, asrs: AsrConfig[], log: Logger = createLogger('worker'), opts: WorkerOptions = {}): Promise<RunningWorker> {
  const w = cfg.worker;
  const prefix = cfg.redis.keyPrefix;
  if (asrs.length === 0) throw new Error('a worker needs at least one model');
  // First: a metrics port in use stops the start before a model is loaded.
  const t = cfg.telemetry;
  const telemetry = opts.telemetry ?? (await startTelemetry({ service: 'voxfleet-worker', instance: w.id, prometheusPort: t.metricsPort, prometheusHost: t.metricsHost, otlpEndpoint: t.otlpEndpoint, otlpIntervalMs: t.otlpIntervalMs, register: opts.registerTelemetry }));
  log.info('telemetry', { sdk: telemetry.registered ? 'NodeSDK (registered)' : 'private providers', prometheus: telemetry.prometheusUrl ?? 'off', otlp: telemetry.otlp ? 'on (see configuration)' : 'off' });
  if (telemetry.note) log.warn(telemetry.note);
  const metrics = await workerMetrics(telemetry.meter);
  const stopTelemetry = async (): Promise<void> => {
    metrics.stop();
    if (!opts.telemetry) await telemetry.shutdown();
  };

  const redis = createRedis(cfg.redis, `worker-${w.id}`);
  const bullConnection = createRedis(cfg.redis, `worker-${w.id}-bull`);
  const subscriber = createRedis(cfg.redis, `worker-${w.id}-sub`);
  for (const c of [redis, bullConnection, subscriber]) c.on('error', (err: Error) => log.warn('redis error', { message: err.message }));
  const stats = new FleetStats(redis, prefix);
  const heartbeats = new Heartbeats(redis, prefix);
  const cancels = new CancelSignals(redis, prefix, cfg.storage.retentionSec);
  const shared: Shared = { cfg, redis, bullConnection, stats, cancels, log, metrics, telemetry };

  const models: ModelRuntime[] = [];
  try {
    for (const asr of asrs) models.push(await startModel(shared, asr));
  } catch (err) {
    await Promise.all(models.map((m) => m.engine.close().catch(() => undefined)));
    await Promise.all([redis, bullConnection, subscriber].map((c) => c.quit().catch(() => undefined)));
    await stopTelemetry();
    throw err;
  }
  const names = models.map((m) => m.held.name);
  if (new Set(names).size !== names.length) throw new Error(`two models of this worker have the same name (${names.join(', ')}): give one another name`);

  // Cancel signals from the gateway reach whichever worker runs the task.
  await cancels.subscribe(subscriber, (taskId, reason) => {
    for (const m of models) if (m.worker.cancelJob(taskId, reason)) log.info('cancelling task', { taskId });
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
        models: models.map((m) => m.held),
        startedAt,
        updatedAt: Date.now(),
        maxBatch: w.maxBatch,
        maxWaitMs: w.maxWaitMs,
        active: models.reduce((n, m) => n + m.batcher.pending, 0),
      },
      w.heartbeatTtlMs,
    );
  await beat();
  const heartbeat = setInterval(() => {
    beat().catch((err: Error) => log.warn('heartbeat failed', { message: err.message }));
  }, Math.max(250, Math.floor(w.heartbeatTtlMs / 3)));

  for (const m of models) void m.worker.run().catch((err: Error) => log.error('worker loop stopped', { queue: m.held.queue, message: err.message }));
  await Promise.all(models.map((m) => m.worker.waitUntilReady()));
  log.info('ready', { workerId: w.id, models: names.join(','), queues: models.map((m) => m.held.queue).join(','), maxBatch: w.maxBatch, maxWaitMs: w.maxWaitMs, maxFrames: w.maxFrames, concurrency: w.concurrency });

  const closeEngines = async (): Promise<void> => {
    await Promise.all(models.map((m) => m.engine.close()));
  };
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      status = 'draining';
      for (const m of models) metrics.modelUnloaded(m.held.name);
      await beat().catch(() => undefined);
      log.info('draining: finishing in-flight jobs');
      await Promise.all(models.map((m) => m.worker.close())); // stop fetching; resolve once active jobs are done
      clearInterval(heartbeat);
      await heartbeats.remove(w.id).catch(() => undefined);
      await closeEngines();
      await Promise.all(models.map((m) => m.queue.close().catch(() => undefined)));
      await subscriber.quit().catch(() => undefined);
      await redis.quit().catch(() => undefined);
      await bullConnection.quit().catch(() => undefined);
      await stopTelemetry();
      log.info('stopped');
    })());

  return { id: w.id, engine: models[0]!.engine, engines: models.map((m) => m.engine), stop, closeEngines };
}
