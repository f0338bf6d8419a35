/**
 * Blobs in an S3-compatible bucket, for fleets whose hosts share no disk:
 * the gateway streams uploads in (multipart, MD5 and size counted on the
 * way, never the whole upload in memory), workers and the archive reader
 * stream them out (whole or by byte range). Objects are `<prefix><xx>/<uuid>`,
 * the same keys as the local store's files.
 *
 * Failures of the bucket itself (endpoint down, access denied, no such
 * bucket) become `BlobStoreUnavailableError`s naming the bucket, so a job
 * fails or retries with a clear reason and no process goes down with it.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import {
  BLOB_KEY_RE,
  BlobNotFoundError,
  BlobStoreUnavailableError,
  Meter,
  checkKey,
  checkRange,
  newBlobKey,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  type PutOptions,
  type StoredBlob,
} from './blob.js';

export interface S3BlobStoreOptions {
  bucket: string;
  /** prepended to every object key ('' or ending in '/'), so a bucket can hold other things too */
  prefix: string;
  region: string;
  /** an S3-compatible server (MinIO, Ceph, s3rver); absent: AWS's own endpoint for the region */
  endpoint?: string | undefined;
  /** `<endpoint>/<bucket>/<key>` instead of `<bucket>.<endpoint>/<key>` (most self-hosted servers need it) */
  forcePathStyle: boolean;
  /** static credentials; absent: the AWS SDK's default chain (env, profile, instance/pod role) */
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  /** where `withFile` puts its temporary copies (local to this host) */
  tmpDir: string;
}

/** 8 MiB parts (S3's minimum is 5), two in flight: an upload holds at most ~16 MiB in memory whatever its size. */
const PART_BYTES = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 2;
/** A TCP connect that takes longer means the endpoint is down or unreachable. */
const CONNECT_TIMEOUT_MS = 5000;
/** A socket silent this long is dead (it is idle time, so a slow reader pausing the stream between archive entries stays within it). */
const SOCKET_IDLE_TIMEOUT_MS = 120_000;

interface S3ErrorShape {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;
  private readonly where: string;

  constructor(private readonly opts: S3BlobStoreOptions) {
    if (opts.prefix !== '' && !opts.prefix.endsWith('/')) throw new Error(`S3 key prefix must be empty or end with "/" (got "${opts.prefix}")`);
    if ((opts.accessKeyId === undefined) !== (opts.secretAccessKey === undefined)) throw new Error('S3 credentials need both an access key id and a secret access key');
    const config: S3ClientConfig = {
      region: opts.region,
      forcePathStyle: opts.forcePathStyle,
      // Checksums only where the API demands them: the SDK's default CRC trailers (aws-chunked bodies) are refused by
      // several S3-compatible servers, and the upload's integrity is ours to check anyway (MD5 while streaming).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: SOCKET_IDLE_TIMEOUT_MS },
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      ...(opts.accessKeyId && opts.secretAccessKey ? { credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey } } : {}),
    };
    this.client = new S3Client(config);
    this.where = `s3://${opts.bucket}/${opts.prefix}${opts.endpoint ? ` at ${opts.endpoint}` : ''}`;
  }

  private objectKey(key: string): string {
    return this.opts.prefix + checkKey(key);
  }

  async put(source: Readable, opts: PutOptions = {}): Promise<StoredBlob> {
    const key = newBlobKey();
    const meter = new Meter(opts.maxBytes ?? Number.POSITIVE_INFINITY);
    const body = new PassThrough();
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.opts.bucket, Key: this.objectKey(key), Body: body, ContentType: 'application/octet-stream' },
      partSize: PART_BYTES,
      queueSize: PARTS_IN_FLIGHT,
      leavePartsOnError: false,
    });
    const piping = pipeline(source, meter, body, opts.signal ? { signal: opts.signal } : {});
    const uploading = upload.done().catch((err: unknown) => {
      // A body already errored means the source failed (too large, client gone, aborted): that error is the reason.
      if (body.errored) throw err;
      // Else the bucket failed: destroying the body unblocks the pipeline, which would otherwise wait on backpressure forever.
      const failure = this.storeError(err, 'upload', undefined);
      body.destroy(failure);
      throw failure;
    });
    const [piped, uploaded] = await Promise.allSettled([piping, uploading]);
    if (piped.status === 'fulfilled' && uploaded.status === 'fulfilled') return { key, md5: meter.hash.digest('hex'), bytes: meter.bytes };
    // Nothing is stored on failure: the multipart upload is aborted (its parts dropped), and a single-part PUT that landed anyway is deleted.
    await upload.abort().catch(() => undefined);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: this.objectKey(key) })).catch(() => undefined);
    throw piped.status === 'rejected' ? piped.reason : (uploaded as PromiseRejectedResult).reason;
  }

  async open(key: string, range?: ByteRange): Promise<Readable> {
    const objectKey = this.objectKey(key);
    if (range) {
      checkRange(range);
      if (range.end === range.start) {
        await this.size(key); // a missing blob is an error whatever range is asked for
        return Readable.from([]);
      }
    }
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.opts.bucket, Key: objectKey, ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}) }),
      );
      if (!(out.Body instanceof Readable)) throw new Error('the response body is not a Node.js stream');
      if (!range) return Readable.from(this.guarded(out.Body, key, 0, Number.POSITIVE_INFINITY), { objectMode: false });
      // Some S3-compatible servers widen a range (s3rver sends everything for bytes=0-0) or ignore it (200, no
      // Content-Range): cut what came to what was asked, so every caller sees exactly [start, end).
      const sentFrom = /^bytes (\d+)-/.exec(out.ContentRange ?? '')?.[1];
      const skip = range.start - (sentFrom === undefined ? 0 : Number(sentFrom));
      return Readable.from(this.guarded(out.Body, key, skip, range.end - range.start), { objectMode: false });
    } catch (err) {
      throw this.storeError(err, 'download', key);
    }
  }

  /**
   * The body's bytes from `skip` on, at most `take` of them. A connection that breaks mid-download
   * errors the caller's stream with a BlobStoreUnavailableError (not a bare ECONNRESET a reader would
   * take for damaged data); a caller that stops early (destroys its stream) lets go of the connection.
   */
  private async *guarded(body: Readable, key: string, skip: number, take: number): AsyncGenerator<Buffer> {
    let left = take;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        let c = chunk;
        if (skip > 0) {
          const n = Math.min(skip, c.length);
          skip -= n;
          c = c.subarray(n);
        }
        if (c.length === 0) continue;
        if (c.length > left) c = c.subarray(0, left);
        left -= c.length;
        yield c;
        if (left === 0) return;
      }
    } catch (err) {
      throw this.storeError(err, 'download', key);
    } finally {
      body.destroy();
    }
  }

  async read(key: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    try {
      for await (const chunk of await this.open(key)) parts.push(chunk as Buffer);
    } catch (err) {
      throw this.storeError(err, 'download', key);
    }
    return Buffer.concat(parts);
  }

  async size(key: string): Promise<number> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.opts.bucket, Key: this.objectKey(key) }));
      if (head.ContentLength === undefined) throw new Error('no Content-Length in the HEAD response');
      return head.ContentLength;
    } catch (err) {
      throw this.storeError(err, 'stat', key);
    }
  }

  async withFile<T>(key: string, use: (path: string) => Promise<T>): Promise<T> {
    await mkdir(this.opts.tmpDir, { recursive: true });
    const source = await this.open(key);
    const path = join(this.opts.tmpDir, `${randomUUID()}.blob`);
    try {
      try {
        await pipeline(source, createWriteStream(path, { mode: 0o600 }));
      } catch (err) {
        throw this.storeError(err, 'download', key);
      }
      return await use(path);
    } finally {
      await rm(path, { force: true });
    }
  }

  async delete(key: string): Promise<void> {
    try {
      // S3 answers a delete of a missing object with success, as the local store's rm(force) does.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: this.objectKey(key) }));
    } catch (err) {
      throw this.storeError(err, 'delete', key);
    }
  }

  async listOlderThan(cutoffMs: number, limit = 1000): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: this.opts.prefix, ...(token ? { ContinuationToken: token } : {}) }));
        for (const o of page.Contents ?? []) {
          const key = o.Key?.slice(this.opts.prefix.length);
          const modifiedAt = o.LastModified?.getTime();
          if (!key || !BLOB_KEY_RE.test(key) || modifiedAt === undefined || modifiedAt >= cutoffMs) continue;
          out.push({ key, bytes: o.Size ?? 0, modifiedAt });
          if (out.length >= limit) return out;
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw this.storeError(err, 'list', undefined);
    }
    await this.sweepTmp(cutoffMs);
    return out;
  }

  /** Temporary copies a crashed process left behind (a live one removes its own when `use` settles). */
  private async sweepTmp(cutoffMs: number): Promise<void> {
    for (const name of await readdir(this.opts.tmpDir).catch(() => [] as string[])) {
      if (!name.endsWith('.blob')) continue;
      const st = await stat(join(this.opts.tmpDir, name)).catch(() => undefined);
      if (st && st.mtimeMs < cutoffMs) await rm(join(this.opts.tmpDir, name), { force: true });
    }
  }

  /** A missing object is BlobNotFoundError; anything else the bucket did (or could not do) is BlobStoreUnavailableError. */
  private storeError(err: unknown, action: string, key: string | undefined): Error {
    if (err instanceof BlobNotFoundError || err instanceof BlobStoreUnavailableError || err instanceof RangeError) return err;
    const e = (err ?? {}) as S3ErrorShape;
    const status = e.$metadata?.httpStatusCode;
    if (key !== undefined && e.name !== 'NoSuchBucket' && (e.name === 'NoSuchKey' || e.name === 'NotFound' || status === 404)) return new BlobNotFoundError(key);
    const detail = [e.name && e.name !== 'Error' ? e.name : undefined, e.code, status ? `HTTP ${status}` : undefined].filter(Boolean).join(', ');
    const message = e.message || (status ? `HTTP ${status}` : String(err));
    return new BlobStoreUnavailableError(`blob store ${this.where}: ${action} failed: ${message}${detail ? ` (${detail})` : ''}`, { cause: err });
  }
}
