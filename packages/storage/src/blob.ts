/**
 * Blob storage for uploaded audio. `BlobStore` is what the gateway and the
 * workers use; `LocalBlobStore` keeps blobs in a directory both can reach
 * (default var/blobs), `S3BlobStore` (s3-blob.ts) in an S3-compatible
 * bucket for hosts with no shared disk. Callers never see where a blob
 * lives: they stream it, read byte ranges (archives), or borrow a local
 * file for the length of one call (decoders that seek).
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import type { Stats } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface StoredBlob {
  key: string;
  md5: string;
  bytes: number;
}

export interface PutOptions {
  /** reject (and store nothing) once the stream exceeds this many bytes */
  maxBytes?: number;
  signal?: AbortSignal;
}

/** Bytes `[start, end)` of a blob. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface BlobInfo {
  key: string;
  bytes: number;
  modifiedAt: number;
}

export interface BlobStore {
  /** Streams `source` into a new blob; MD5 and size are computed while streaming. Nothing is stored on failure. */
  put(source: Readable, opts?: PutOptions): Promise<StoredBlob>;
  /** The blob, or `range` of it, as a stream. A missing blob rejects with BlobNotFoundError. */
  open(key: string, range?: ByteRange): Promise<Readable>;
  read(key: string): Promise<Buffer>;
  /** The blob's size in bytes (BlobNotFoundError when missing). */
  size(key: string): Promise<number>;
  /**
   * Runs `use` with a local file holding the blob, for decoders that seek
   * (ffmpeg on an mp4 whose index is at the end): the store's own file, or a
   * temporary copy removed when `use` settles.
   */
  withFile<T>(key: string, use: (path: string) => Promise<T>): Promise<T>;
  delete(key: string): Promise<void>;
  /** Blobs last written before `cutoffMs` (epoch ms), for retention. */
  listOlderThan(cutoffMs: number, limit?: number): Promise<BlobInfo[]>;
}

export class BlobTooLargeError extends Error {
  override readonly name = 'BlobTooLargeError';
  constructor(readonly maxBytes: number) {
    super(`upload exceeds the limit of ${maxBytes} bytes`);
  }
}

export class BlobNotFoundError extends Error {
  override readonly name = 'BlobNotFoundError';
  constructor(readonly key: string) {
    super(`blob ${key} not found`);
  }
}

/** The blob store could not be reached or refused a request (not the caller's fault: retry later). */
export class BlobStoreUnavailableError extends Error {
  override readonly name = 'BlobStoreUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export const BLOB_KEY_RE = /^[0-9a-f]{2}\/[0-9a-f-]{36}$/;

/** A key no one could guess or collide with: `<xx>/<uuid>`, the shard being the uuid's first two hex digits. */
export function newBlobKey(): string {
  const id = randomUUID();
  return `${id.slice(0, 2)}/${id}`;
}

/** Keys come from clients' job records: anything not shaped like one of ours is simply not found (no path tricks). */
export function checkKey(key: string): string {
  if (!BLOB_KEY_RE.test(key)) throw new BlobNotFoundError(key);
  return key;
}

/** Refuses a range that is not `0 <= start <= end` in whole bytes. */
export function checkRange(range: ByteRange): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`invalid byte range [${start}, ${end})`);
  }
}

/** Counts and hashes bytes as they pass; errors once `maxBytes` is exceeded. */
export class Meter extends Transform {
  readonly hash = createHash('md5');
  bytes = 0;
  constructor(private readonly maxBytes: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) return cb(new BlobTooLargeError(this.maxBytes));
    this.hash.update(chunk);
    cb(null, chunk);
  }
}

/** Blobs as files `<root>/<xx>/<uuid>`, written to `<root>/.tmp` first and renamed into place (atomic). */
export class LocalBlobStore implements BlobStore {
  private readonly tmpDir: string;

  constructor(readonly root: string) {
    this.tmpDir = join(root, '.tmp');
  }

  /** Where a blob's file is (this store's own business, and its tests'); callers use `withFile`. */
  localPath(key: string): string {
    return join(this.root, checkKey(key));
  }

  async put(source: Readable, opts: PutOptions = {}): Promise<StoredBlob> {
    const key = newBlobKey();
    await mkdir(this.tmpDir, { recursive: true });
    const tmp = join(this.tmpDir, `${key.slice(3)}.part`);
    const meter = new Meter(opts.maxBytes ?? Number.POSITIVE_INFINITY);
    const file = createWriteStream(tmp, { mode: 0o640 });
    try {
      await pipeline(source, meter, file, opts.signal ? { signal: opts.signal } : {});
      const final = this.localPath(key);
      await mkdir(dirname(final), { recursive: true });
      await rename(tmp, final);
    } catch (err) {
      // The file may still be opening when the source fails: remove it only once the stream has closed, or the open recreates it.
      if (!file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()));
      await rm(tmp, { force: true });
      throw err;
    }
    return { key, md5: meter.hash.digest('hex'), bytes: meter.bytes };
  }

  async open(key: string, range?: ByteRange): Promise<Readable> {
    const path = this.localPath(key);
    await this.mustExist(path, key);
    if (!range) return createReadStream(path);
    checkRange(range);
    // createReadStream's end is inclusive, and an empty range would read to the end of the file
    if (range.end === range.start) return Readable.from([]);
    return createReadStream(path, { start: range.start, end: range.end - 1 });
  }

  async size(key: string): Promise<number> {
    return (await this.mustExist(this.localPath(key), key)).size;
  }

  async withFile<T>(key: string, use: (path: string) => Promise<T>): Promise<T> {
    const path = this.localPath(key);
    await this.mustExist(path, key);
    return use(path);
  }

  async read(key: string): Promise<Buffer> {
    const path = this.localPath(key);
    await this.mustExist(path, key);
    return readFile(path);
  }

  async delete(key: string): Promise<void> {
    await rm(this.localPath(key), { force: true });
  }

  async listOlderThan(cutoffMs: number, limit = 1000): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    let shards: string[];
    try {
      shards = await readdir(this.root);
    } catch {
      return out;
    }
    for (const shard of shards) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      for (const name of await readdir(join(this.root, shard)).catch(() => [] as string[])) {
        const key = `${shard}/${name}`;
        if (!BLOB_KEY_RE.test(key)) continue;
        const st = await stat(join(this.root, key)).catch(() => undefined);
        if (st && st.mtimeMs < cutoffMs) out.push({ key, bytes: st.size, modifiedAt: st.mtimeMs });
        if (out.length >= limit) return out;
      }
    }
    // Leftovers of interrupted uploads.
    for (const name of await readdir(this.tmpDir).catch(() => [] as string[])) {
      const st = await stat(join(this.tmpDir, name)).catch(() => undefined);
      if (st && st.mtimeMs < cutoffMs) await rm(join(this.tmpDir, name), { force: true });
    }
    return out;
  }

  private async mustExist(path: string, key: string): Promise<Stats> {
    try {
      return await stat(path);
    } catch {
      throw new BlobNotFoundError(key);
    }
  }
}
