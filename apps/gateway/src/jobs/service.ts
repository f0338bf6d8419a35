/**
 * The job service, free of any HTTP framework: create a job from a stored
 * upload (probe, then the task module's claim → hit | attach | own), show a
 * job (its state from its task, frozen once final), long-poll, cancel, list
 * and render transcripts.
 */
import type { AudioInfo } from '@voxfleet/audio';
import type { GatewayAppConfig } from '@voxfleet/config';
import { isRedisUnavailable, type FleetEvents, type ServedModel } from '@voxfleet/queue';
import { FINAL_STATUSES, type BlobStore, type JobRecord, type JobStatus, type JobStore, type StoredBlob } from '@voxfleet/storage';
import { ApiError, notFound } from '../errors.js';
import type { EventHub } from '../events.js';
import { probeBlob, type Probe } from './probe.js';
import { renderTranscript, type Rendered, type TranscriptFormat } from './render.js';
import { DEFAULT_PRIORITY, cachedFields, type TaskService } from './tasks.js';
import { jobView, type JobView } from './view.js';

export interface JobServiceDeps {
  config: GatewayAppConfig;
  tasks: TaskService;
  blobs: BlobStore;
  jobs: JobStore;
  events: FleetEvents;
  hub: EventHub;
  /** a job's `model` (a name or alias; null: the default) → the model's name, or 400 unknown_model */
  resolveModel: (requested: string | null) => Promise<string>;
  /** 400 when the model's live workers say it cannot honour these options */
  checkOptions: (model: string, options: { language: string | null; itn: boolean | null; hotwords?: string[] | null }) => Promise<void>;
  /** audio probe (injectable for unit tests) */
  probe?: Probe;
}

export interface NewJobInput {
  blob: StoredBlob;
  filename: string;
  language: string | null;
  priority: number | null;
  /** the model asked for (a name or alias), null for the default */
  model: string | null;
  /** inverse text normalisation (SenseVoice), null for the model's default */
  itn: boolean | null;
  /** hotwords for the model's prompt (Fun-ASR-Nano), null or absent for none */
  hotwords?: string[] | null;
  owner: string;
}

const isFinalStatus = (s: JobStatus): boolean => (FINAL_STATUSES as readonly string[]).includes(s);

export class JobService {
  constructor(private readonly d: JobServiceDeps) {}

  /**
   * Turns a stored upload into a job: 200 with a completed job when the
   * transcript is cached, else 202 with a queued one (attached to the task
   * already in flight for the same audio and options, if any).
   */
  async createJob(input: NewJobInput): Promise<{ httpStatus: 200 | 202; job: JobView }> {
    const { blob } = input;
    const { blobs, jobs, tasks } = this.d;
    let info: AudioInfo;
    let modelName: string;
    let served: ServedModel | null;
    try {
      modelName = await this.d.resolveModel(input.model);
      await this.d.checkOptions(modelName, { language: input.language, itn: input.itn, hotwords: input.hotwords ?? null });
      if (blob.bytes === 0) throw new ApiError(400, 'empty_file', 'the uploaded file is empty (0 bytes)');
      info = await probeBlob(blobs, blob.key, this.d.config.gateway.maxAudioSec, this.d.probe);
      served = await tasks.served(modelName);
    } catch (err) {
      await blobs.delete(blob.key);
      throw err;
    }
    const now = Date.now();
    const key = tasks.key({ md5: blob.md5, language: input.language, itn: input.itn, hotwords: input.hotwords ?? null, modelName, served, owner: input.owner });
    const base = tasks.newRecord({
      key,
      audio: { md5: blob.md5, bytes: blob.bytes, durationSec: info.durationSec, filename: input.filename, format: info.format, codec: info.codec },
      language: input.language,
      itn: input.itn,
      hotwords: input.hotwords ?? null,
      priority: input.priority,
      owner: input.owner,
      now,
    });
    let claim: Awaited<ReturnType<TaskService['claim']>>;
    try {
      claim = await tasks.claim(key);
    } catch (err) {
      await blobs.delete(blob.key);
      throw err;
    }
    if (claim.kind !== 'own') await blobs.delete(blob.key); // a cached result, or the task already has these bytes
    const record: JobRecord =
      claim.kind === 'hit'
        ? { ...base, ...cachedFields(claim.hit, now) }
        : { ...base, taskId: claim.taskId, blobKey: claim.kind === 'attach' ? (claim.audio?.blobKey ?? '') : blob.key };
    try {
      await jobs.create(record, { attach: claim.kind !== 'hit' });
      if (claim.kind === 'own') await tasks.enqueue(modelName, [tasks.task(record, key, DEFAULT_PRIORITY)]);
    } catch (err) {
      // Not acknowledged (e.g. Redis went away): undo what was made, so nothing half-created stays behind.
      if (claim.kind === 'own') {
        await blobs.delete(blob.key);
        if (claim.claimed) await tasks.release(key.cacheKey, claim.taskId).catch(() => undefined);
      }
      await jobs.erase(record).catch(() => undefined);
      throw err;
    }
    if (claim.kind === 'hit') return { httpStatus: 200, job: jobView(record, 100) };
    // The job is queued: even if its state cannot be read back now, it was accepted.
    return { httpStatus: 202, job: await this.view(record).catch(() => jobView(record, 0)) };
  }

  /** Drops an upload that will not become a job. */
  async discard(blob: StoredBlob): Promise<void> {
    await this.d.blobs.delete(blob.key);
  }

  /** A job as the owner sees it; `waitSec` long-polls until it is final or the time is up. */
  async getJob(id: string, owner: string, opts: { waitSec?: number; signal?: AbortSignal } = {}): Promise<JobView> {
    const record = await this.load(id, owner);
    const waitMs = Math.min(opts.waitSec ?? 0, this.d.config.gateway.maxWaitSec) * 1000;
    if (waitMs <= 0) return this.view(record);
    const deadline = Date.now() + waitMs;
    for (;;) {
      // Listen before looking, so an event between the look and the wait is not lost.
      const sub = this.d.hub.listen([`task:${record.taskId}`, `job:${record.id}`]);
      try {
        const v = await this.view((await this.d.jobs.get(id)) ?? record);
        const left = deadline - Date.now();
        if (isFinalStatus(v.status) || left <= 0 || opts.signal?.aborted) return v;
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

  /** Cancels a queued or processing job (its audio is deleted at once); 409 once it has finished. */
  async cancelJob(id: string, owner: string): Promise<JobView> {
    const record = await this.load(id, owner);
    const v = await this.view(record);
    if (isFinalStatus(v.status)) throw new ApiError(409, 'already_finished', `job ${id} is already ${v.status} and cannot be cancelled`);
    const fresh = (await this.d.jobs.get(id)) ?? record;
    const cancelled: JobRecord = { ...fresh, status: 'cancelled', final: true, completedAt: Date.now() };
    await this.d.jobs.save(cancelled);
    const remaining = await this.d.jobs.detach(record.taskId, id);
    if (remaining === 0) await this.d.tasks.cancel(record);
    await this.d.events.jobFinished(id);
    return jobView(cancelled, v.progress);
  }

  /**
   * `DELETE /v1/jobs/:id`: a job still running is cancelled (200 with the
   * job); a finished one is erased — its record, and once no other job of
   * the owner refers to the same task, the transcript, the cached result,
   * the queue's job and the audio — and answers null (204).
   */
  async deleteJob(id: string, owner: string): Promise<JobView | null> {
    const record = await this.load(id, owner);
    const v = await this.view(record);
    if (!isFinalStatus(v.status)) return this.cancelJob(id, owner);
    await this.erase((await this.d.jobs.get(id)) ?? record);
    return null;
  }

  /** Erases a final job record and, when it was the task's last, what the task left. */
  async erase(record: JobRecord): Promise<void> {
    const remaining = await this.d.jobs.erase(record);
    if (remaining === 0) await this.d.tasks.erase(record);
  }

  async listJobs(owner: string, q: { status: JobStatus | undefined; limit: number; cursor: string | null }): Promise<{ jobs: JobView[]; nextCursor: string | null }> {
    const { status, limit } = q;
    let cursor = q.cursor;
    const out: JobView[] = [];
    // Status is derived per job, so filter while paging; bounded so one request stays cheap.
    for (let pages = 0; pages < 20 && out.length < limit; pages++) {
      let page;
      try {
        page = await this.d.jobs.list(limit, cursor);
      } catch (err) {
        if (isRedisUnavailable(err)) throw err;
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
          return { jobs: out, nextCursor: i === page.ids.length - 1 ? page.nextCursor : this.d.jobs.cursorAfter(r) };
        }
      }
      if (!page.nextCursor) return { jobs: out, nextCursor: null };
      cursor = page.nextCursor;
    }
    return { jobs: out, nextCursor: cursor };
  }

  private async load(id: string, owner: string): Promise<JobRecord> {
    const r = await this.d.jobs.get(id);
    if (!r || r.owner !== owner) throw notFound();
    return r;
  }

  /** The job as it stands now; a record that just became final is saved (unless something finalised it meanwhile, e.g. a cancel). */
  async view(record: JobRecord): Promise<JobView> {
    const s = await this.d.tasks.state(record);
    if (!s.finalised) return jobView(s.record, s.progress);
    const current = await this.d.jobs.get(record.id);
    if (current?.final) return jobView(current, current.status === 'completed' ? 100 : 0);
    await this.d.jobs.save(s.record);
    return jobView(s.record, s.progress);
  }
}
