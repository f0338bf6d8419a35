/**
 * The job service, free of any HTTP framework: create a job from a stored
 * upload (probe, cache lookup, in-flight dedup, enqueue), show a job (its
 * status derived from the task's outcome or BullMQ state), long-poll, cancel,
 * list, and render transcripts. The Express adapter (app.ts) only translates.
 */
import { randomBytes } from 'node:crypto';
import { AUDIO_ERROR_HTTP_STATUS, isAudioError, probe as probeAudio, type AudioInfo } from '@voxfleet/audio';
import type { GatewayAppConfig } from '@voxfleet/config';
import {
  cacheKeyFor,
  jobOptions,
  listWorkers,
  taskIdFor,
  type FleetKeys,
  type TranscribeJob,
  type TranscribeReturn,
  type WorkerHeartbeat,
} from '@voxfleet/queue';
import {
  FINAL_STATUSES,
  JOB_STATUSES,
  type BlobStore,
  type JobRecord,
  type JobStatus,
  type CachedResult,
  type JobStore,
  type ResultCache,
  type ResultStore,
  type StoredBlob,
  type TaskOutcome,
} from '@voxfleet/storage';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { ApiError, notFound } from './errors.js';
import type { EventHub } from './events.js';
import { renderTranscript, type Rendered, type TranscriptFormat } from './render.js';
import { scoreTranscript, type Score } from './scoring.js';

export interface ServiceDeps {
  config: GatewayAppConfig;
  redis: Redis;
  queue: Queue<TranscribeJob, TranscribeReturn>;
  keys: FleetKeys;
  blobs: BlobStore;
  jobs: JobStore;
  results: ResultStore;
  cache: ResultCache;
  events: EventHub;
  /** audio probe (injectable for unit tests) */
  probe?: (path: string, opts: { maxDurationSec: number }) => Promise<AudioInfo>;
}

export interface NewJobInput {
  blob: StoredBlob;
  filename: string;
  language?: string | undefined;
  priority?: string | undefined;
  owner: string;
}

/** What clients see for a job (`GET /v1/jobs/:id`). */
export interface JobView {
  id: string;
  status: JobStatus;
  progress: number;
  createdAt: string;
  startedAt: string | null;
  completedAt: string | null;
  cached: boolean;
  audio: JobRecord['audio'];
  language: string | null;
  priority: number | null;
  result?: JobRecord['result'];
  error?: JobRecord['error'];
  processing?: JobRecord['processing'];
  /** the archive entry this job was made from (batches) */
  batch?: { id: string; path: string; deduplicated: boolean; reference?: string };
  /** WER/CER against the entry's reference transcript (`reference=sidecar`), once completed */
  score?: Score;
  links: { self: string; transcript: string };
}

const LANGUAGE_RE = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$/;
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function newJobId(): string {
  return `j_${randomBytes(12).toString('base64url')}`;
}

export function parseLanguage(v: string | undefined): string | null {
  if (v === undefined || v.trim() === '' || v.trim().toLowerCase() === 'auto') return null;
  const lang = v.trim();
  if (!LANGUAGE_RE.test(lang)) throw new ApiError(400, 'invalid_language', `language must be a code like "en" or "en-US" (or "auto"), got "${lang}"`);
  return lang.toLowerCase();
}

export function parsePriority(v: string | undefined): number | null {
  if (v === undefined || v.trim() === '') return null;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new ApiError(400, 'invalid_priority', 'priority must be an integer from 1 (first) to 100 (last)');
  return n;
}

/** Default BullMQ priority, so that explicit priorities order around ordinary jobs. */
export const DEFAULT_PRIORITY = 50;

/** The final record for a job whose task reached `outcome`. */
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

export function finalRecord(record: JobRecord, outcome: TaskOutcome): JobRecord {
  if (outcome.status === 'completed') {
    return { ...record, status: 'completed', final: true, startedAt: outcome.startedAt, completedAt: outcome.completedAt, result: outcome.result, processing: outcome.processing };
  }
  if (outcome.status === 'failed') {
    return { ...record, status: 'failed', final: true, startedAt: outcome.startedAt, completedAt: outcome.completedAt, error: outcome.error };
  }
  // The shared task was cancelled by the other jobs that wanted it, not by this one.
  return { ...record, status: 'failed', final: true, completedAt: outcome.completedAt, error: { code: 'task_cancelled', message: 'the transcription was cancelled; submit the audio again' } };
}

export class JobService {
  private readonly probe: NonNullable<ServiceDeps['probe']>;

  constructor(private readonly d: ServiceDeps) {
    this.probe = d.probe ?? ((path, opts) => probeAudio(path, opts));
  }

  /**
   * Turns a stored upload into a job. Returns 200 with a completed job when
   * the transcript is cached, else 202 with a queued one (attached to the
   * task already in flight for the same audio and options, if any).
   */
  async createJob(input: NewJobInput): Promise<{ httpStatus: 200 | 202; job: JobView }> {
    const { blob } = input;
    const { config, blobs, cache, jobs, queue } = this.d;
    let language: string | null;
    let priority: number | null;
    let info: AudioInfo;
    try {
      language = parseLanguage(input.language);
      priority = parsePriority(input.priority);
      if (blob.bytes === 0) throw new ApiError(400, 'empty_file', 'the uploaded file is empty (0 bytes)');
      info = await this.probeBlob(blob.key);
    } catch (err) {
      await blobs.delete(blob.key);
      throw err;
    }

    const modelId = config.queue.modelId;
    const cacheKey = cacheKeyFor(blob.md5, modelId, { language });
    const now = Date.now();
    const base: JobRecord = {
      id: newJobId(),
      taskId: '',
      cacheKey,
      blobKey: blob.key,
      status: 'queued',
      final: false,
      cached: false,
      createdAt: now,
      startedAt: null,
      completedAt: null,
      audio: {
        md5: blob.md5,
        bytes: blob.bytes,
        durationSec: Math.round(info.durationSec * 1000) / 1000,
        filename: input.filename,
        format: info.format,
        codec: info.codec,
      },
      language,
      priority,
      owner: input.owner,
    };

    // In-flight dedup: one task per cache key at a time; identical uploads attach to it.
    const candidate = taskIdFor(cacheKey, `${now.toString(36)}${randomBytes(3).toString('hex')}`);
    const found = await cache.lookupOrClaim(cacheKey, candidate, config.storage.retentionSec);
    const hit = found.hit;
    if (hit) {
      await blobs.delete(blob.key);
      const record: JobRecord = { ...base, blobKey: '', ...cachedFields(hit, now) };
      await jobs.create(record, { attach: false });
      return { httpStatus: 200, job: this.toView(record, 100) };
    }

    const taskId = found.taskId;
    const existing = found.claimed ? undefined : await queue.getJob(taskId);
    let blobKey = blob.key;
    if (existing) {
      await blobs.delete(blob.key); // the task already has these bytes
      blobKey = existing.data.blobKey;
    }
    const record: JobRecord = { ...base, taskId, blobKey };
    await jobs.create(record, { attach: true });
    if (!existing && !(await this.d.results.get(taskId))) {
      const payload: TranscribeJob = {
        v: 1,
        blobKey,
        md5: blob.md5,
        bytes: blob.bytes,
        filename: input.filename,
        durationSec: record.audio.durationSec,
        language,
        modelId,
        cacheKey,
        submittedAt: now,
      };
      // Adding is idempotent by job id: a concurrent gateway adding the same task is a no-op.
      await queue.add('transcribe', payload, {
        ...jobOptions(config.queue, config.storage.retentionSec, priority ?? DEFAULT_PRIORITY),
        jobId: taskId,
      });
    }
    return { httpStatus: 202, job: await this.view(record) };
  }

  async probeBlob(key: string): Promise<AudioInfo> {
    const { blobs, config } = this.d;
    if (!blobs.localPath) throw new ApiError(500, 'internal', 'blob store has no local files to probe');
    try {
      return await this.probe(blobs.localPath(key), { maxDurationSec: config.gateway.maxAudioSec });
    } catch (err) {
      if (!isAudioError(err)) throw err;
      const status = AUDIO_ERROR_HTTP_STATUS[err.code];
      const code = { empty: 'empty_audio', undecodable: 'undecodable_audio', unsupported: 'unsupported_audio', too_long: 'audio_too_long', io: 'audio_io_error' }[err.code];
      const hint = err.code === 'undecodable' || err.code === 'unsupported' ? ' (send a common audio format: wav, mp3, flac, ogg/opus, m4a, webm)' : '';
      throw new ApiError(status, code, `${err.message}${hint}`);
    }
  }

  /** A job as the owner sees it; `waitSec` long-polls until it is final or the time is up. */
  async getJob(id: string, owner: string, opts: { waitSec?: number; signal?: AbortSignal } = {}): Promise<JobView> {
    const record = await this.load(id, owner);
    const waitMs = Math.min(opts.waitSec ?? 0, this.d.config.gateway.maxWaitSec) * 1000;
    if (waitMs <= 0) return this.view(record);
    const deadline = Date.now() + waitMs;
    for (;;) {
      // Listen before looking, so an event between the look and the wait is not lost.
      const sub = this.d.events.listen([`task:${record.taskId}`, `job:${record.id}`]);
      try {
        const current = (await this.d.jobs.get(id)) ?? record;
        const v = await this.view(current);
        const left = deadline - Date.now();
        if ((FINAL_STATUSES as readonly string[]).includes(v.status) || left <= 0 || opts.signal?.aborted) return v;
        await sub.wait(left, opts.signal);
      } finally {
        sub.dispose();
      }
    }
  }

  async transcript(id: string, owner: string, format: TranscriptFormat): Promise<Rendered> {
    const v = await this.view(await this.load(id, owner));
    if (v.status !== 'completed' || !v.result) {
      throw new ApiError(409, 'not_completed', `job ${id} is ${v.status}; the transcript is available once it is completed`);
    }
    return renderTranscript(v.result, format, id);
  }

  /** Cancels a queued or processing job; 409 once it has finished. */
  async cancelJob(id: string, owner: string): Promise<JobView> {
    const record = await this.load(id, owner);
    const v = await this.view(record);
    if ((FINAL_STATUSES as readonly string[]).includes(v.status)) {
      throw new ApiError(409, 'already_finished', `job ${id} is already ${v.status} and cannot be cancelled`);
    }
    const fresh = (await this.d.jobs.get(id)) ?? record;
    const now = Date.now();
    const cancelled: JobRecord = { ...fresh, status: 'cancelled', final: true, completedAt: now };
    await this.d.jobs.save(cancelled);
    const remaining = await this.d.jobs.detach(record.taskId, id);
    if (remaining === 0) await this.cancelTask(record.taskId, record.cacheKey);
    await this.d.redis.publish(this.d.keys.eventsChannel, JSON.stringify({ jobId: id }));
    return this.toView(cancelled, v.progress);
  }

  /** No job wants this task any more: drop it from the queue, or abort it on its worker. */
  async cancelTask(taskId: string, cacheKey: string): Promise<void> {
    const { queue, redis, keys, results, cache } = this.d;
    const job = await queue.getJob(taskId);
    if (!job) return;
    const state = await job.getState();
    if (state === 'waiting' || state === 'prioritized' || state === 'delayed' || state === 'waiting-children') {
      try {
        await job.remove();
        await results.set(taskId, { status: 'cancelled', completedAt: Date.now() });
        await cache.releaseInflight(cacheKey, taskId);
        await redis.publish(keys.eventsChannel, JSON.stringify({ taskId }));
        return;
      } catch {
        // Picked up by a worker meanwhile (locked): abort it there instead.
      }
    }
    await redis.set(keys.cancelled(taskId), '1', 'EX', this.d.config.storage.retentionSec);
    await redis.publish(keys.cancelChannel, JSON.stringify({ taskId, reason: 'cancelled by client' }));
  }

  async listJobs(owner: string, q: { status?: string; limit?: string; cursor?: string }): Promise<{ jobs: JobView[]; nextCursor: string | null }> {
    const status = q.status && q.status !== '' ? q.status : undefined;
    if (status && !(JOB_STATUSES as readonly string[]).includes(status)) {
      throw new ApiError(400, 'invalid_status', `status must be one of ${JOB_STATUSES.join(', ')}`);
    }
    const limit = q.limit === undefined || q.limit === '' ? 20 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new ApiError(400, 'invalid_limit', 'limit must be an integer from 1 to 100');
    let cursor = q.cursor && q.cursor !== '' ? q.cursor : null;
    const out: JobView[] = [];
    // Status is derived per job, so filter while paging; bounded so one request stays cheap.
    for (let pages = 0; pages < 20 && out.length < limit; pages++) {
      let page;
      try {
        page = await this.d.jobs.list(limit, cursor);
      } catch {
        throw new ApiError(400, 'invalid_cursor', 'cursor is not valid; use nextCursor from a previous page');
      }
      const records = await this.d.jobs.getMany(page.ids);
      for (let i = 0; i < records.length; i++) {
        const r = records[i];
        if (!r || r.owner !== owner) continue;
        const v = await this.view(r);
        if (status && v.status !== status) continue;
        out.push(v);
        if (out.length === limit) {
          const last = page.ids[i]!;
          return { jobs: out, nextCursor: i === page.ids.length - 1 ? page.nextCursor : (await this.cursorAfter(last)) };
        }
      }
      if (!page.nextCursor) return { jobs: out, nextCursor: null };
      cursor = page.nextCursor;
    }
    return { jobs: out, nextCursor: cursor };
  }

  private async cursorAfter(id: string): Promise<string | null> {
    const r = await this.d.jobs.get(id);
    return r ? Buffer.from(`${r.createdAt}.${r.id}`).toString('base64url') : null;
  }

  async readiness(): Promise<{ ready: boolean; redis: boolean; workers: WorkerHeartbeat[] }> {
    let redisOk = false;
    let workers: WorkerHeartbeat[] = [];
    try {
      redisOk = (await this.d.redis.ping()) === 'PONG';
      workers = await listWorkers(this.d.redis, this.d.keys);
    } catch {
      /* Redis unreachable: not ready */
    }
    const ready = redisOk && workers.some((w) => w.status === 'ready');
    return { ready, redis: redisOk, workers };
  }

  private async load(id: string, owner: string): Promise<JobRecord> {
    if (!/^j_[A-Za-z0-9_-]{8,64}$/.test(id)) throw notFound();
    const r = await this.d.jobs.get(id);
    if (!r || r.owner !== owner) throw notFound();
    return r;
  }

  /** Current view of a record: final records as stored, others from the task's outcome or queue state. */
  async view(record: JobRecord): Promise<JobView> {
    if (record.final) return this.toView(record, record.status === 'completed' ? 100 : 0);
    const outcome = await this.d.results.get(record.taskId);
    if (outcome) return this.toView(await this.freeze(record, outcome), 100);
    const job = await this.d.queue.getJob(record.taskId);
    if (!job) {
      return this.toView(
        await this.freeze(record, { status: 'failed', startedAt: null, completedAt: Date.now(), error: { code: 'lost', message: 'the task disappeared from the queue before finishing' } }),
        0,
      );
    }
    const state = await job.getState();
    const progress = typeof job.progress === 'number' ? job.progress : 0;
    if (state === 'active') return this.toView({ ...record, status: 'processing', startedAt: job.processedOn ?? null }, progress);
    if (state === 'failed') {
      return this.toView(
        await this.freeze(record, { status: 'failed', startedAt: job.processedOn ?? null, completedAt: job.finishedOn ?? Date.now(), error: { code: 'processing_failed', message: job.failedReason } }),
        0,
      );
    }
    // completed without an outcome cannot happen (the outcome is written first); show it as processing until it appears
    if (state === 'completed') return this.toView({ ...record, status: 'processing', startedAt: job.processedOn ?? null }, 99);
    return this.toView(record, 0);
  }

  private async freeze(record: JobRecord, outcome: TaskOutcome): Promise<JobRecord> {
    const next = finalRecord(record, outcome);
    // Only freeze if nobody finalised it meanwhile (e.g. a concurrent cancel).
    const current = await this.d.jobs.get(record.id);
    if (current?.final) return current;
    await this.d.jobs.save(next);
    return next;
  }

  toView(r: JobRecord, progress: number): JobView {
    return {
      id: r.id,
      status: r.status,
      progress,
      createdAt: iso(r.createdAt)!,
      startedAt: iso(r.startedAt),
      completedAt: iso(r.completedAt),
      cached: r.cached,
      audio: r.audio,
      language: r.language,
      priority: r.priority,
      ...(r.result ? { result: r.result } : {}),
      ...(r.error ? { error: r.error } : {}),
      ...(r.processing ? { processing: r.processing } : {}),
      ...(r.batch
        ? { batch: { id: r.batch.id, path: r.batch.path, deduplicated: r.batch.dedup === true, ...(r.batch.reference !== undefined ? { reference: r.batch.reference } : {}) } }
        : {}),
      ...(r.batch?.reference !== undefined && r.status === 'completed' && r.result ? { score: scoreTranscript(r.result.text, r.batch.reference) } : {}),
      links: { self: `/v1/jobs/${r.id}`, transcript: `/v1/jobs/${r.id}/transcript` },
    };
  }
}
