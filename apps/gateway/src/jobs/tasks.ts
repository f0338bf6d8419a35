/**
 * Tasks: one transcription shared by every job that wants the same audio
 * with the same model and options. Single uploads (jobs/service.ts) and
 * archive entries (batches/ingest.ts) make their jobs through this module:
 * a new job record; claiming the task for its cache key (a cached result,
 * a task already in flight to attach to, or a task of its own to create);
 * the payload; enqueueing in bulk; cancelling a task nobody wants any more;
 * and reading a job's current state from its task (without writing it).
 */
import { randomBytes } from 'node:crypto';
import { SpanKind, SpanStatusCode, traceparentOf, type Tracer } from '@voxfleet/telemetry';
import {
  TASK_ERROR_CODES,
  cacheKeyFor,
  taskIdFor,
  type CancelSignals,
  type FleetEvents,
  type FleetStats,
  type NewTask,
  type ServedModel,
  type TaskQueue,
  type TranscribeJob,
} from '@voxfleet/queue';
import type { AudioInfoRecord, BatchRef, BlobStore, CachedResult, JobRecord, ResultCache, ResultStore, TaskOutcome } from '@voxfleet/storage';

/** Default BullMQ priority, so that explicit priorities order around ordinary jobs. */
export const DEFAULT_PRIORITY = 50;
/** Batch jobs rank behind single uploads of default priority, so interactive requests are not stuck behind an archive. */
export const BATCH_DEFAULT_PRIORITY = 75;

/** What the task module uses of the queue and the stores (narrow, so unit tests can stub them). */
export interface TaskDeps {
  /** how long an in-flight claim may live */
  retentionSec: number;
  /** one result cache for all tenants (off: each owner's cache is its own) */
  shareCache: boolean;
  /** a model's queue */
  queue: (model: string) => Pick<TaskQueue, 'name' | 'get' | 'add' | 'takeBack' | 'removeFinished'>;
  results: Pick<ResultStore, 'get' | 'commit' | 'delete'>;
  cache: Pick<ResultCache, 'lookupOrClaim' | 'releaseInflight' | 'delete'>;
  cancels: Pick<CancelSignals, 'request'>;
  events: Pick<FleetEvents, 'taskFinished'>;
  stats: Pick<FleetStats, 'forgetRuns'>;
  blobs: Pick<BlobStore, 'delete'>;
  /** the identity a model's tasks are keyed with now */
  served: (model: string) => Promise<ServedModel | null>;
  /** the model of a record from before records named theirs */
  defaultModel: string;
  /** counts each claim's cache lookup (hit / attach / miss) */
  cacheLookup?: (model: string, result: 'hit' | 'attach' | 'miss') => void;
  /** enqueue spans; their trace context rides in the job data to the worker */
  tracer?: Tracer;
}

/** What the cache and the queue say about a cache key. */
export type Claim =
  /** transcribed before: answer from the cache */
  | { kind: 'hit'; hit: CachedResult }
  /** a task for it is in the queue (or just finished): attach to it; `audio` is its payload's when it is still queued */
  | { kind: 'attach'; taskId: string; audio: { blobKey: string; durationSec: number } | null }
  /** create the task `taskId`; `claimed`: this caller holds the in-flight claim and must give it back if it does not */
  | { kind: 'own'; taskId: string; claimed: boolean };

/** Who keys a job: the cache key and the model identity it was computed with. */
export interface TaskKey {
  /** the model's name (its queue) */
  modelName: string;
  cacheKey: string;
  /** the cache scope it was made in */
  scope: string;
  model: ServedModel | null;
}

export interface NewRecordInput {
  key: TaskKey;
  audio: AudioInfoRecord;
  language: string | null;
  itn?: boolean | null;
  hotwords?: string[] | null;
  priority: number | null;
  owner: string;
  batch?: BatchRef;
  now: number;
}

/** A job's state now: the record as it should read, and progress 0–100. `finalised`: the record just became final (persist it). */
export interface JobState {
  record: JobRecord;
  progress: number;
  finalised: boolean;
}

export function newJobId(): string {
  return `j_${randomBytes(12).toString('base64url')}`;
}

export const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** The fields of a job answered from the result cache: completed at once, no task runs for it. */
export function cachedFields(hit: CachedResult, now: number): Pick<JobRecord, 'taskId' | 'status' | 'final' | 'cached' | 'startedAt' | 'completedAt' | 'result' | 'processing'> {
  return {
    taskId: hit.taskId,
    status: 'completed',
    final: true,
    cached: true,
    startedAt: now,
    completedAt: now,
    result: hit.result,
    ...(hit.processing ? { processing: hit.processing } : {}),
  };
}

/** The final record for a job whose task reached `outcome`. */
export function finalRecord(record: JobRecord, outcome: TaskOutcome): JobRecord {
  if (outcome.status === 'completed') {
    return { ...record, status: 'completed', final: true, startedAt: outcome.startedAt, completedAt: outcome.completedAt, result: outcome.result, processing: outcome.processing };
  }
  if (outcome.status === 'failed') {
    return { ...record, status: 'failed', final: true, startedAt: outcome.startedAt, completedAt: outcome.completedAt, error: outcome.error };
  }
  // The shared task was cancelled by the other jobs that wanted it, not by this one.
  return { ...record, status: 'failed', final: true, completedAt: outcome.completedAt, error: { code: TASK_ERROR_CODES.taskCancelled, message: 'the transcription was cancelled; submit the audio again' } };
}

/** A job whose task left the queue without an outcome. */
export function lostRecord(record: JobRecord, now: number): JobRecord {
  return { ...record, status: 'failed', final: true, completedAt: now, error: { code: TASK_ERROR_CODES.lost, message: 'the task disappeared from the queue before finishing' } };
}

export class TaskService {
  constructor(private readonly d: TaskDeps) {}

  /** The identity `model`'s tasks are keyed with now (from the workers' heartbeats). */
  served(model: string): Promise<ServedModel | null> {
    return this.d.served(model);
  }

  /** The model a record's task runs on. */
  modelOf(record: Pick<JobRecord, 'model'>): string {
    return record.model ?? this.d.defaultModel;
  }

  /**
   * The cache key for this audio and options on model `modelName` keyed with
   * its identity `served` (from `served()`), in `owner`'s scope: a tenant is
   * never answered from, nor attached to, another tenant's transcription
   * unless the cache is shared.
   */
  key(p: { md5: string; language: string | null; itn?: boolean | null; hotwords?: string[] | null; modelName: string; served: ServedModel | null; owner: string }): TaskKey {
    const scope = this.d.shareCache ? '' : p.owner;
    const options = { language: p.language, itn: p.itn ?? null, ...(p.hotwords?.length ? { hotwords: p.hotwords } : {}) };
    const cacheKey = cacheKeyFor({ md5: p.md5, modelId: p.served?.id ?? null, options, queue: this.d.queue(p.modelName).name, scope });
    return { modelName: p.modelName, cacheKey, scope, model: p.served };
  }

  /** A queued job record (not attached to a task yet: `taskId` and `blobKey` are set by the caller). */
  newRecord(input: NewRecordInput): JobRecord {
    return {
      id: newJobId(),
      taskId: '',
      cacheKey: input.key.cacheKey,
      blobKey: '',
      status: 'queued',
      final: false,
      cached: false,
      createdAt: input.now,
      startedAt: null,
      completedAt: null,
      audio: { ...input.audio, durationSec: round3(input.audio.durationSec) },
      language: input.language,
      ...(input.itn != null ? { itn: input.itn } : {}),
      ...(input.hotwords?.length ? { hotwords: input.hotwords } : {}),
      priority: input.priority,
      owner: input.owner,
      model: input.key.modelName,
      ...(input.batch ? { batch: input.batch } : {}),
    };
  }

  /** In-flight dedup: one task per cache key at a time; identical uploads attach to it. */
  async claim(key: TaskKey): Promise<Claim> {
    const candidate = taskIdFor(key.cacheKey, `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`);
    const claim = await this.lookup(key, candidate);
    this.d.cacheLookup?.(key.modelName, claim.kind === 'own' ? 'miss' : claim.kind);
    return claim;
  }

  private async lookup(key: TaskKey, candidate: string): Promise<Claim> {
    const found = await this.d.cache.lookupOrClaim(key.cacheKey, candidate, this.d.retentionSec);
    if (found.hit) return { kind: 'hit', hit: found.hit };
    // (won the claim: nothing else is read, so a failure past here never leaves a claim the caller does not know of)
    if (found.claimed) return { kind: 'own', taskId: found.taskId, claimed: true };
    const task = await this.d.queue(key.modelName).get(found.taskId);
    if (task) return { kind: 'attach', taskId: found.taskId, audio: { blobKey: task.data.blobKey, durationSec: task.data.durationSec } };
    // Claimed by a task that is not queued: finished a moment ago (attach to its outcome), or never enqueued (create it).
    const outcome = await this.d.results.get(found.taskId);
    if (outcome) return { kind: 'attach', taskId: found.taskId, audio: outcome.status === 'completed' ? { blobKey: '', durationSec: outcome.result.durationSec } : null };
    return { kind: 'own', taskId: found.taskId, claimed: false };
  }

  /** Gives back an in-flight claim that will not become a task. */
  async release(cacheKey: string, taskId: string): Promise<void> {
    await this.d.cache.releaseInflight(cacheKey, taskId);
  }

  /** The task for a job record of its own (`record.taskId`, `record.blobKey` set), keyed by `key`. */
  task(record: JobRecord, key: TaskKey, defaultPriority: number): NewTask {
    const { model } = key;
    const payload: TranscribeJob = {
      v: 2,
      blobKey: record.blobKey,
      md5: record.audio.md5,
      bytes: record.audio.bytes,
      filename: record.audio.filename,
      durationSec: record.audio.durationSec,
      language: record.language,
      itn: record.itn ?? null,
      ...(record.hotwords?.length ? { hotwords: record.hotwords } : {}),
      modelId: model?.id ?? null,
      modelName: model?.name ?? null,
      cacheKey: record.cacheKey,
      cacheScope: key.scope,
      submittedAt: record.createdAt,
    };
    return { id: record.taskId, payload, priority: record.priority ?? defaultPriority };
  }

  /** Adds tasks of one model in one round trip (idempotent by task id: a concurrent gateway adding the same task is a no-op). */
  async enqueue(model: string, tasks: NewTask[]): Promise<void> {
    const queue = this.d.queue(model);
    const tracer = this.d.tracer;
    if (!tracer || tasks.length === 0) return queue.add(tasks);
    const attributes = { 'messaging.system': 'bullmq', 'messaging.destination.name': queue.name, 'messaging.batch.message_count': tasks.length };
    await tracer.startActiveSpan('enqueue', { kind: SpanKind.PRODUCER, attributes }, async (span) => {
      try {
        // the worker's job span continues this trace: its parent travels in the job data (tasks of one call share it)
        const traceparent = traceparentOf(span);
        await queue.add(traceparent ? tasks.map((t) => ({ ...t, payload: { ...t.payload, traceparent } })) : tasks);
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
        throw err;
      } finally {
        span.end();
      }
    });
  }

  /**
   * No job wants this task any more: drop it from the queue (and its audio at
   * once), or abort it on its worker (which deletes the audio when it stops).
   */
  async cancel(record: Pick<JobRecord, 'taskId' | 'cacheKey' | 'blobKey' | 'model'>): Promise<void> {
    const { taskId, cacheKey, blobKey } = record;
    const taken = await this.d.queue(this.modelOf(record)).takeBack(taskId);
    if (taken === 'gone') return;
    if (taken === 'removed') {
      // Through the outcome script, unfenced: a cut-off worker's late run whose lock had lapsed may have written the
      // task's outcome after it went back to the queue (ResultStore.commit lets that land); a final outcome stands.
      await this.d.results.commit(taskId, { status: 'cancelled', completedAt: Date.now() }, { fence: null });
      await this.d.cache.releaseInflight(cacheKey, taskId);
      if (blobKey) await this.d.blobs.delete(blobKey);
      await this.d.events.taskFinished(taskId);
      return;
    }
    await this.d.cancels.request(taskId, 'cancelled by client');
  }

  /**
   * Erases what a finished task left behind once no job refers to it: its
   * outcome, its cached transcript, its BullMQ job, its run count and its
   * audio. (The caller erased the job records and knows none is attached.)
   */
  async erase(record: Pick<JobRecord, 'taskId' | 'cacheKey' | 'blobKey' | 'model'>): Promise<void> {
    await this.d.cache.delete(record.cacheKey);
    if (record.taskId) {
      await this.d.queue(this.modelOf(record)).removeFinished(record.taskId);
      await this.d.results.delete(record.taskId);
      await this.d.stats.forgetRuns(record.taskId);
    }
    if (record.blobKey) await this.d.blobs.delete(record.blobKey);
  }

  /** A job's current state, from its task's outcome or its place in the queue. Reads only. */
  async state(record: JobRecord): Promise<JobState> {
    if (record.final) return { record, progress: record.status === 'completed' ? 100 : 0, finalised: false };
    const outcome = await this.d.results.get(record.taskId);
    if (outcome) return { record: finalRecord(record, outcome), progress: 100, finalised: true };
    const task = await this.d.queue(this.modelOf(record)).get(record.taskId);
    if (!task) return { record: lostRecord(record, Date.now()), progress: 0, finalised: true };
    if (task.state === 'active') return { record: { ...record, status: 'processing', startedAt: task.processedOn }, progress: task.progress, finalised: false };
    if (task.state === 'failed') {
      const failed = finalRecord(record, {
        status: 'failed',
        startedAt: task.processedOn,
        completedAt: task.finishedOn ?? Date.now(),
        error: { code: TASK_ERROR_CODES.processingFailed, message: task.failedReason ?? 'transcription failed' },
      });
      return { record: failed, progress: 0, finalised: true };
    }
    // completed without an outcome cannot happen (the outcome is written first); show it as processing until it appears
    if (task.state === 'completed') return { record: { ...record, status: 'processing', startedAt: task.processedOn }, progress: 99, finalised: false };
    return { record, progress: 0, finalised: false };
  }
}
