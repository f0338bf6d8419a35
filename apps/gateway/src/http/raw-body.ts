/**
 * A raw request body streamed into the blob store (size-limited; an
 * interrupted, cut or oversized upload keeps nothing). The store reads from a
 * PassThrough the request is piped into, so a failure of the store never
 * destroys the request (and its socket): the client still gets its answer.
 */
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { BlobTooLargeError, type BlobStore, type StoredBlob } from '@voxfleet/storage';
import { ApiError } from '../errors.js';
import type { UploadOptions } from './upload.js';

export async function storeRawBody(req: IncomingMessage, blobs: BlobStore, maxBytes: number, opts: UploadOptions = {}): Promise<StoredBlob> {
  const ctrl = new AbortController();
  const onClose = (): void => {
    if (!req.complete) ctrl.abort(new ApiError(400, 'upload_aborted', 'the upload was interrupted'));
  };
  const onSignal = (): void => ctrl.abort(opts.signal!.reason);
  req.on('close', onClose);
  if (opts.signal?.aborted) onSignal();
  else opts.signal?.addEventListener('abort', onSignal, { once: true });
  const sink = new PassThrough();
  sink.on('error', () => {}); // the store's pipeline reports its errors
  req.pipe(sink);
  try {
    return await blobs.put(sink, { maxBytes, signal: ctrl.signal });
  } catch (err) {
    // What is left of the body is not read (the answer closes the connection).
    req.unpipe(sink);
    if (err instanceof BlobTooLargeError) throw new ApiError(413, 'file_too_large', `the body exceeds the limit of ${maxBytes} bytes`);
    if (ctrl.signal.aborted) throw ctrl.signal.reason instanceof ApiError ? ctrl.signal.reason : new ApiError(400, 'upload_aborted', 'the upload was stopped');
    throw err;
  } finally {
    req.off('close', onClose);
    opts.signal?.removeEventListener('abort', onSignal);
  }
}
