/**
 * Streaming multipart parsing (busboy): the `file` part goes straight into
 * the blob store (MD5 and size computed on the way), never whole into memory.
 * Other fields are collected as small strings. Works on any Node
 * IncomingMessage, no framework needed.
 */
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { BlobTooLargeError, type BlobStore, type StoredBlob } from '@voxfleet/storage';
import busboy from 'busboy';
import { ApiError } from './errors.js';

export interface ParsedUpload {
  blob: StoredBlob;
  filename: string;
  fields: Record<string, string>;
}

export const FILE_FIELD = 'file';

function sizeText(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1)} MiB` : `${bytes} bytes`;
}

/** Reads and discards the rest of a request body (so the client can read our response). */
export function drain(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (req.readableEnded) return resolve();
    req.on('end', resolve);
    req.on('error', () => resolve());
    req.on('close', resolve);
    req.resume();
  });
}

export function parseUpload(req: IncomingMessage, blobs: BlobStore, maxBytes: number): Promise<ParsedUpload> {
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data/i.test(type)) {
    return drain(req).then(() => {
      throw new ApiError(400, 'invalid_upload', `expected a multipart/form-data body with a "${FILE_FIELD}" field (got ${type || 'no content type'})`);
    });
  }
  return new Promise<ParsedUpload>((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1, fields: 20, fieldSize: 4096, fileSize: maxBytes + 1, parts: 40 } });
    } catch (err) {
      void drain(req).then(() => reject(new ApiError(400, 'invalid_upload', `malformed multipart request: ${(err as Error).message}`)));
      return;
    }
    const fields: Record<string, string> = {};
    let stored: Promise<StoredBlob> | undefined;
    let filename = '';
    let parseError: ApiError | undefined;
    let pass: PassThrough | undefined;

    bb.on('file', (name, stream, info) => {
      if (name !== FILE_FIELD || stored) {
        stream.resume();
        return;
      }
      filename = (info.filename ?? '').split(/[\\/]/).pop()!.slice(0, 255) || 'upload';
      // The blob store reads from a PassThrough: if it gives up (too large), busboy's stream keeps draining.
      const sink = (pass = new PassThrough());
      stream.pipe(sink);
      stored = blobs.put(sink, { maxBytes });
      stored.catch(() => {
        stream.unpipe(sink);
        stream.resume();
      });
    });
    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) parseError ??= new ApiError(400, 'invalid_upload', `field "${name}" is too long`);
      else fields[name] = value;
    });
    bb.on('error', (err: Error) => {
      parseError ??= new ApiError(400, 'invalid_upload', `malformed multipart request: ${err.message}`);
      req.unpipe(bb);
      void drain(req).then(finish);
    });
    let finished = false;
    const finish = async (): Promise<void> => {
      if (finished) return;
      finished = true;
      let blob: StoredBlob | undefined;
      try {
        blob = stored ? await stored : undefined;
      } catch (err) {
        if (err instanceof BlobTooLargeError) {
          reject(new ApiError(413, 'file_too_large', `the file exceeds the upload limit of ${sizeText(maxBytes)}`));
        } else reject(parseError ?? err);
        return;
      }
      if (parseError) {
        if (blob) await blobs.delete(blob.key);
        reject(parseError);
        return;
      }
      if (!blob) {
        reject(new ApiError(400, 'missing_file', `no "${FILE_FIELD}" field in the upload: send the audio as multipart/form-data field "${FILE_FIELD}"`));
        return;
      }
      resolve({ blob, filename, fields });
    };
    bb.on('close', () => void finish());
    req.on('close', () => {
      if (req.complete) return;
      // Client went away mid-upload: stop storing, keep nothing.
      parseError ??= new ApiError(400, 'upload_aborted', 'the upload was interrupted');
      pass?.destroy(parseError);
      void finish();
    });
    req.pipe(bb);
  });
}
