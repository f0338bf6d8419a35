/**
 * Express routes for batches: `POST /v1/batches` (multipart `file`, or the
 * archive as the raw request body with options in the query string),
 * `GET /v1/batches/:id`, `GET /v1/batches/:id/jobs`, `DELETE /v1/batches/:id`,
 * `GET /v1/batches/:id/results`.
 */
import type { IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { BlobTooLargeError, type BlobStore, type StoredBlob } from '@voxfleet/storage';
import type express from 'express';
import type { Request, Response } from 'express';
import type { ApiKeyAuth } from './auth.js';
import type { BatchService } from './batches.js';
import { ApiError } from './errors.js';
import { drain, parseUpload } from './upload.js';

export interface BatchRouteDeps {
  batches: BatchService;
  auth: ApiKeyAuth;
  blobs: BlobStore;
  maxArchiveBytes: number;
}

const OPTION_FIELDS = ['language', 'priority', 'reference', 'callback_url'] as const;

function tooLarge(max: number): ApiError {
  return new ApiError(413, 'archive_too_large', `the archive exceeds the limit of ${max} bytes (VOXFLEET_BATCH_MAX_ARCHIVE_BYTES)`);
}

/** The raw request body into the blob store (streamed, size-limited). */
async function storeRawBody(req: IncomingMessage, blobs: BlobStore, maxBytes: number): Promise<StoredBlob> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await drain(req);
    throw tooLarge(maxBytes);
  }
  const ctrl = new AbortController();
  const onClose = (): void => {
    if (!req.complete) ctrl.abort(new ApiError(400, 'upload_aborted', 'the upload was interrupted'));
  };
  req.on('close', onClose);
  try {
    return await blobs.put(req, { maxBytes, signal: ctrl.signal });
  } catch (err) {
    if (err instanceof BlobTooLargeError) {
      await drain(req);
      throw tooLarge(maxBytes);
    }
    if (ctrl.signal.aborted) throw new ApiError(400, 'upload_aborted', 'the upload was interrupted');
    throw err;
  } finally {
    req.off('close', onClose);
  }
}

export function mountBatchRoutes(app: express.Express, d: BatchRouteDeps): void {
  const owner = (req: Request): string => d.auth.check(req.headers.authorization);

  app.post('/v1/batches', async (req, res) => {
    let who: string;
    try {
      who = owner(req);
    } catch (err) {
      await drain(req);
      throw err;
    }
    const q = req.query as Record<string, string | undefined>;
    let blob: StoredBlob;
    let filename: string;
    const fields: Record<string, string | undefined> = {};
    if (/^multipart\/form-data/i.test(req.headers['content-type'] ?? '')) {
      try {
        const up = await parseUpload(req, d.blobs, d.maxArchiveBytes);
        blob = up.blob;
        filename = up.filename;
        for (const f of OPTION_FIELDS) fields[f] = up.fields[f] ?? q[f];
      } catch (err) {
        if (err instanceof ApiError && err.code === 'file_too_large') throw tooLarge(d.maxArchiveBytes);
        if (err instanceof ApiError && err.code === 'missing_file') throw new ApiError(400, 'missing_file', 'no "file" field in the upload: send the archive as multipart/form-data field "file" (or as the raw request body)');
        throw err;
      }
    } else {
      blob = await storeRawBody(req, d.blobs, d.maxArchiveBytes);
      filename = (q.filename ?? 'archive').split(/[\\/]/).pop()!.slice(0, 255) || 'archive';
      for (const f of OPTION_FIELDS) fields[f] = q[f];
    }
    const view = await d.batches.createBatch({ blob, filename, fields, owner: who });
    res.status(202).location(view.links.self).json(view);
  });

  app.get('/v1/batches/:id', async (req, res) => {
    res.json(await d.batches.getBatch(String(req.params.id), owner(req)));
  });

  app.get('/v1/batches/:id/jobs', async (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    res.json(await d.batches.listEntries(String(req.params.id), owner(req), { status: q.status, limit: q.limit, cursor: q.cursor }));
  });

  app.delete('/v1/batches/:id', async (req, res) => {
    res.json(await d.batches.cancelBatch(String(req.params.id), owner(req)));
  });

  app.get('/v1/batches/:id/results', async (req: Request, res: Response) => {
    const q = req.query as Record<string, string | undefined>;
    const out = await d.batches.results(String(req.params.id), owner(req), { format: q.format, transcript: q.transcript });
    res.status(200).type(out.contentType).set('Content-Disposition', `attachment; filename="${out.filename}"`);
    try {
      await pipeline(out.stream, res);
    } catch {
      // client went away, or the export failed mid-stream (headers are sent: nothing else to tell)
      res.destroy();
    }
  });
}
