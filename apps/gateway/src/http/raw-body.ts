/** A raw request body streamed into the blob store (size-limited; an interrupted upload keeps nothing). */
import type { IncomingMessage } from 'node:http';
import { BlobTooLargeError, type BlobStore, type StoredBlob } from '@voxfleet/storage';
import { ApiError } from '../errors.js';
import { drain } from './upload.js';

export async function storeRawBody(req: IncomingMessage, blobs: BlobStore, maxBytes: number): Promise<StoredBlob> {
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
      throw new ApiError(413, 'file_too_large', `the body exceeds the limit of ${maxBytes} bytes`);
    }
    if (ctrl.signal.aborted) throw new ApiError(400, 'upload_aborted', 'the upload was interrupted');
    throw err;
  } finally {
    req.off('close', onClose);
  }
}
