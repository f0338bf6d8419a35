/**
 * Streaming multipart parsing (busboy): the `file` part goes straight into
 * the blob store (MD5 and size computed on the way), never whole into memory.
 * Other fields are collected as small strings. Works on any Node
 * IncomingMessage, no framework needed.
 */
import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { BlobTooLargeError, type BlobStore, type StoredBlob } from '@voxfleet/storage';
import busboy from 'busboy';
import type { ParsedUpload } from '../api/types.js';
import { ApiError } from '../errors.js';
import { cleanFilename } from '../filenames.js';

export { cleanFilename };

export const FILE_FIELD = 'file';
/** Form limits: parts of any kind, file parts (only the first `file` one is kept), other fields. */
export const MAX_PARTS = 40;
export const MAX_FILES = 5;
export const MAX_FIELDS = 20;
export const MAX_FIELD_BYTES = 4096;

export interface UploadOptions {
  /** aborting it cuts the upload (e.g. the body timeout): it rejects with the signal's reason */
  signal?: AbortSignal;
}

function sizeText(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1)} MiB` : `${bytes} bytes`;
}

/** Most bytes of a body read and dropped so that an error answer keeps the connection; past it, the answer closes it. */
export const DRAIN_LIMIT = 1024 * 1024;

/**
 * Reads and discards the rest of a request body (so the client can read our
 * response), at most `limit` bytes: past that it stops reading (the body is
 * left unread: answer with `Connection: close`, see http/express.ts).
 */
export function drain(req: IncomingMessage, limit = Number.POSITIVE_INFINITY): Promise<void> {
  return new Promise((resolve) => {
    if (req.readableEnded || req.destroyed) return resolve();
    let read = 0;
    const onData = (chunk: Buffer): void => {
      read += chunk.length;
      if (read <= limit) return;
      req.off('data', onData);
      req.pause();
      resolve();
    };
    req.on('end', resolve);
    req.on('error', () => resolve());
    req.on('close', resolve);
    req.on('data', onData);
    req.resume();
  });
}

/** busboy's parse errors as a client error that says what was wrong with the body. */
function malformed(err: Error): ApiError {
  const what = /^Unexpected end of (form|file)$/.test(err.message)
    ? 'the body ended before the closing boundary (a truncated upload?)'
    : /^Malformed part header$/.test(err.message)
      ? 'a part header is malformed or cut off'
      : err.message;
  return new ApiError(400, 'invalid_upload', `malformed multipart request: ${what}`);
}

const ignore = (): void => {};

/**
 * Parses a multipart upload, storing its `file` part as a blob. Resolves once
 * the whole body is parsed; rejects with an ApiError (400 `invalid_upload` for
 * a malformed or truncated body, `upload_aborted` when the client goes away,
 * 413 `file_too_large` (reading stops there), 413 `too_many_parts`, 400
 * `missing_file`, or the reason of `opts.signal`) and then no blob is left:
 * what was stored of the file (all of it, or up to where the body broke off)
 * is deleted here. Every stream on the way (the request, busboy, each file
 * stream, the PassThrough into the store) has an error handler, so no body a
 * client can send throws in the process. File names are read as UTF-8 (and
 * RFC 5987 `filename*=UTF-8''…` is honoured).
 */
export function parseUpload(req: IncomingMessage, blobs: BlobStore, maxBytes: number, opts: UploadOptions = {}): Promise<ParsedUpload> {
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data/i.test(type)) {
    return drain(req, DRAIN_LIMIT).then(() => {
      throw new ApiError(400, 'invalid_upload', `expected a multipart/form-data body with a "${FILE_FIELD}" field (got ${type || 'no content type'})`);
    });
  }
  return new Promise<ParsedUpload>((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        defParamCharset: 'utf8',
        limits: { files: MAX_FILES, fields: MAX_FIELDS, fieldSize: MAX_FIELD_BYTES, fileSize: maxBytes + 1, parts: MAX_PARTS },
      });
    } catch (err) {
      void drain(req, DRAIN_LIMIT).then(() => reject(new ApiError(400, 'invalid_upload', `malformed multipart request: ${(err as Error).message}`)));
      return;
    }
    const fields: Record<string, string> = {};
    let stored: Promise<StoredBlob> | undefined;
    let filename = '';
    /** the first thing that went wrong; the upload is rejected with it */
    let failure: ApiError | undefined;
    /** busboy's stream of the `file` part and the PassThrough the blob store reads it from */
    let file: Readable | undefined;
    let sink: PassThrough | undefined;

    /**
     * Records the failure and stops feeding the store. The store is let finish what it has (the
     * sink is ended, not destroyed) and finish() deletes that blob: a store whose input fails just as
     * it opens its temporary file can leave that file behind, a stored blob is deleted by its key.
     */
    const fail = (err: ApiError): void => {
      failure ??= err;
      if (file) {
        file.unpipe();
        file.resume(); // keep busboy going (a paused file stream would stall the parse)
      }
      if (sink && !sink.writableEnded) sink.end();
    };

    bb.on('file', (name, stream, info) => {
      stream.on('error', (err: Error) => fail(malformed(err))); // busboy destroys it with "Unexpected end of file/form"
      if (name !== FILE_FIELD || stored || failure) {
        stream.resume();
        return;
      }
      filename = cleanFilename(info.filename ?? '', 'upload');
      // The blob store reads from a PassThrough: if it gives up (too large), busboy's stream keeps draining.
      file = stream;
      sink = new PassThrough();
      sink.on('error', ignore); // the store's pipeline handles its errors; this keeps a late one from throwing
      stream.pipe(sink);
      stored = blobs.put(sink, { maxBytes });
      stored.catch((err: unknown) => {
        stream.unpipe(sink);
        stream.resume();
        // Over the limit: stop reading the body here (the answer closes the connection).
        if (err instanceof BlobTooLargeError) stop(new ApiError(413, 'file_too_large', `the file exceeds the upload limit of ${sizeText(maxBytes)}`));
      });
    });
    const tooMany = (what: string): void => fail(new ApiError(413, 'too_many_parts', `the form has more than ${what}; send the file as field "${FILE_FIELD}" with at most ${MAX_FIELDS} other fields`));
    bb.on('partsLimit', () => tooMany(`${MAX_PARTS} parts`));
    bb.on('filesLimit', () => tooMany(`${MAX_FILES} file parts`));
    bb.on('fieldsLimit', () => tooMany(`${MAX_FIELDS} fields`));
    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) fail(new ApiError(400, 'invalid_upload', `field "${name}" is too long`));
      else fields[name] = value;
    });
    let bbFailed = false;
    bb.on('error', (err: Error) => {
      bbFailed = true;
      fail(malformed(err));
      req.unpipe(bb);
      // Answer once the rest of the body is read (up to a limit), so the client sees the answer.
      void drain(req, DRAIN_LIMIT).then(finish);
    });
    bb.on('close', () => {
      if (!bbFailed) void finish();
    });

    let finished = false;
    const finish = async (): Promise<void> => {
      if (finished) return;
      finished = true;
      let blob: StoredBlob | undefined;
      try {
        blob = stored ? await stored : undefined;
      } catch (err) {
        reject(failure ?? err); // over the limit: stop() has set file_too_large
        return;
      }
      if (failure) {
        if (blob) await blobs.delete(blob.key).catch(ignore);
        reject(failure);
        return;
      }
      if (!blob) {
        reject(new ApiError(400, 'missing_file', `no "${FILE_FIELD}" field in the upload: send the audio as multipart/form-data field "${FILE_FIELD}"`));
        return;
      }
      resolve({ blob, filename, fields });
    };

    /** Stops reading the body (what is left of it is never parsed) and rejects with `err`; keeps nothing. */
    function stop(err: ApiError): void {
      fail(err);
      req.unpipe(bb);
      bb.destroy();
      void finish();
    }
    // Client went away mid-upload: stop parsing and storing, keep nothing.
    const aborted = (): void => stop(new ApiError(400, 'upload_aborted', 'the upload was interrupted'));
    req.on('error', aborted);
    req.on('close', () => {
      if (!req.complete) aborted();
    });
    const onSignal = (): void => stop(opts.signal!.reason instanceof ApiError ? opts.signal!.reason : new ApiError(400, 'upload_aborted', 'the upload was stopped'));
    if (opts.signal?.aborted) onSignal();
    else opts.signal?.addEventListener('abort', onSignal, { once: true });
    req.pipe(bb);
  });
}
