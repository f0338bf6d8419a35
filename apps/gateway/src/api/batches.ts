/** Handlers for /v1/batches: one per action. */
import type { JobRecord, StoredBlob } from '@voxfleet/storage';
import type { BatchService } from '../batches/service.js';
import { ApiError } from '../errors.js';
import { cleanFilename } from '../filenames.js';
import { batchFields, batchId, listEntriesQuery, parseRequest, resultsQuery } from './schemas.js';
import { json, type ApiReply, type ApiRequest } from './types.js';

export interface BatchHandlerDeps {
  service: BatchService;
  /** erases one finished job (the job service's `erase`) */
  eraseJob: (r: JobRecord) => Promise<void>;
  maxArchiveBytes: number;
  discard: (blob: StoredBlob) => Promise<void>;
  /** as for jobs (JobHandlerDeps.acknowledge): the 202 waits until the batch record is on the replicas asked for */
  acknowledge?: () => Promise<void>;
}

const OPTION_FIELDS = ['language', 'priority', 'reference', 'callback_url', 'model', 'itn', 'hotwords'] as const;

export function batchHandlers(d: BatchHandlerDeps) {
  const tooLarge = (): ApiError => new ApiError(413, 'archive_too_large', `the archive exceeds the limit of ${d.maxArchiveBytes} bytes (VOXFLEET_BATCH_MAX_ARCHIVE_BYTES)`);

  /** `POST /v1/batches`: multipart `file`, or the archive as the raw body with options in the query string. */
  async function createBatch(req: ApiRequest): Promise<ApiReply> {
    const raw: Record<string, unknown> = {};
    for (const f of OPTION_FIELDS) raw[f] = req.query[f];
    let blob: StoredBlob;
    let filename: string;
    if (req.multipart) {
      try {
        const up = await req.upload(d.maxArchiveBytes);
        blob = up.blob;
        filename = up.filename;
        for (const f of OPTION_FIELDS) raw[f] = up.fields[f] ?? raw[f];
      } catch (err) {
        if (err instanceof ApiError && err.code === 'file_too_large') throw tooLarge();
        if (err instanceof ApiError && err.code === 'missing_file') throw new ApiError(400, 'missing_file', 'no "file" field in the upload: send the archive as multipart/form-data field "file" (or as the raw request body)');
        throw err;
      }
    } else {
      // (a declared Content-Length over the limit was answered 413 by the HTTP adapter before the body was read)
      try {
        blob = await req.rawBody(d.maxArchiveBytes);
      } catch (err) {
        if (err instanceof ApiError && err.code === 'file_too_large') throw tooLarge();
        throw err;
      }
      const q = req.query.filename;
      filename = cleanFilename(typeof q === 'string' ? q : '', 'archive');
    }
    let options;
    try {
      const f = parseRequest(batchFields, raw);
      options = { language: f.language, priority: f.priority, reference: f.reference, callbackUrl: f.callback_url, model: f.model, itn: f.itn, hotwords: f.hotwords };
    } catch (err) {
      await d.discard(blob);
      throw err;
    }
    const view = await d.service.createBatch({ blob, filename, options, owner: req.owner });
    await d.acknowledge?.();
    return json(view, 202, { Location: view.links.self });
  }

  async function getBatch(req: ApiRequest): Promise<ApiReply> {
    return json(await d.service.getBatch(batchId(req.params.id!), req.owner));
  }

  async function listEntries(req: ApiRequest): Promise<ApiReply> {
    const id = batchId(req.params.id!);
    await d.service.assertVisible(id, req.owner); // an unknown batch is a 404 whatever the parameters
    return json(await d.service.listEntries(id, req.owner, parseRequest(listEntriesQuery, req.query)));
  }

  /** `POST /v1/batches/:id/cancel`: cancels what is not finished; 409 once the batch has finished (never erases). */
  async function cancelBatch(req: ApiRequest): Promise<ApiReply> {
    return json(await d.service.cancelBatch(batchId(req.params.id!), req.owner));
  }

  /** `DELETE /v1/batches/:id`: cancels a running batch (200, the batch) or erases a finished one with its jobs (204). */
  async function deleteBatch(req: ApiRequest): Promise<ApiReply> {
    const view = await d.service.deleteBatch(batchId(req.params.id!), req.owner, d.eraseJob);
    return view ? json(view) : { status: 204, empty: true };
  }

  async function results(req: ApiRequest): Promise<ApiReply> {
    const id = batchId(req.params.id!);
    await d.service.assertVisible(id, req.owner);
    const out = await d.service.results(id, req.owner, parseRequest(resultsQuery, req.query));
    return { status: 200, stream: out.stream, contentType: out.contentType, headers: { 'Content-Disposition': `attachment; filename="${out.filename}"` } };
  }

  return { createBatch, getBatch, listEntries, cancelBatch, deleteBatch, results };
}
