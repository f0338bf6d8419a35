/** Handlers for /v1/jobs: one per action. */
import type { JobStore } from '@voxfleet/storage';
import { ApiError } from '../errors.js';
import type { JobService } from '../jobs/service.js';
import { jobId, jobUploadFields, listJobsQuery, parseRequest, transcriptQuery, waitQuery } from './schemas.js';
import { json, type ApiReply, type ApiRequest } from './types.js';

export interface JobHandlerDeps {
  service: JobService;
  jobs: JobStore;
  maxUploadBytes: number;
  /** how long an Idempotency-Key remembers its job */
  idempotencyTtlSec: number;
  /** how long it stays reserved while its request runs (if the request dies without clearing it, e.g. Redis went away, retries get 409 for at most this long) */
  idempotencyPendingTtlSec: number;
  /**
   * Resolves once what this request wrote is on the replicas the configuration asks for (ReplicationAck
   * in @voxfleet/queue; at once when it asks for none): a job is acknowledged only after that. A failure
   * is a 503: the job may still run, but it was not acknowledged and may not survive a failover.
   */
  acknowledge?: () => Promise<void>;
}

export function jobHandlers(d: JobHandlerDeps) {
  const scope = (owner: string): string => owner || 'anon';

  /** `POST /v1/jobs`: multipart `file` (+ language, priority); `Idempotency-Key` replays the first answer. */
  async function createJob(req: ApiRequest): Promise<ApiReply> {
    const idemKey = req.header('idempotency-key');
    if (idemKey !== undefined) {
      if (idemKey.length < 1 || idemKey.length > 255) {
        await req.discardBody();
        throw new ApiError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1 to 255 characters');
      }
      const prior = await d.jobs.claimIdempotency(scope(req.owner), idemKey, d.idempotencyPendingTtlSec);
      if (prior !== null) {
        await req.discardBody();
        if (prior === 'pending') throw new ApiError(409, 'idempotency_conflict', 'a request with this Idempotency-Key is still in progress');
        const job = await d.service.getJob(prior, req.owner);
        return json(job, job.status === 'queued' || job.status === 'processing' ? 202 : 200, { 'Idempotent-Replayed': 'true' });
      }
    }
    try {
      const upload = await req.upload(d.maxUploadBytes);
      let fields;
      try {
        fields = parseRequest(jobUploadFields, upload.fields);
      } catch (err) {
        await d.service.discard(upload.blob);
        throw err;
      }
      const { httpStatus, job } = await d.service.createJob({ blob: upload.blob, filename: upload.filename, ...fields, owner: req.owner });
      if (idemKey !== undefined) await d.jobs.resolveIdempotency(scope(req.owner), idemKey, job.id, d.idempotencyTtlSec);
      await d.acknowledge?.();
      return json(job, httpStatus, { Location: job.links.self });
    } catch (err) {
      if (idemKey !== undefined) await d.jobs.resolveIdempotency(scope(req.owner), idemKey, null, d.idempotencyTtlSec);
      throw err;
    }
  }

  async function listJobs(req: ApiRequest): Promise<ApiReply> {
    return json(await d.service.listJobs(req.owner, parseRequest(listJobsQuery, req.query)));
  }

  async function getJob(req: ApiRequest): Promise<ApiReply> {
    const { wait } = parseRequest(waitQuery, req.query);
    return json(await d.service.getJob(jobId(req.params.id!), req.owner, { waitSec: wait, signal: req.signal }));
  }

  async function transcript(req: ApiRequest): Promise<ApiReply> {
    const { format } = parseRequest(transcriptQuery, req.query);
    const r = await d.service.transcript(jobId(req.params.id!), req.owner, format);
    return { status: 200, text: r.body, contentType: r.contentType };
  }

  /** `POST /v1/jobs/:id/cancel`: cancels a queued or processing job; 409 once it has finished (never erases). */
  async function cancelJob(req: ApiRequest): Promise<ApiReply> {
    return json(await d.service.cancelJob(jobId(req.params.id!), req.owner));
  }

  /** `DELETE /v1/jobs/:id`: cancels a running job (200, the job) or erases a finished one (204). */
  async function deleteJob(req: ApiRequest): Promise<ApiReply> {
    const job = await d.service.deleteJob(jobId(req.params.id!), req.owner);
    return job ? json(job) : { status: 204, empty: true };
  }

  return { createJob, listJobs, getJob, transcript, cancelJob, deleteJob };
}
