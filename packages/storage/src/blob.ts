/**
 * Blob storage for uploaded audio. `BlobStore` is what the gateway and the
 * workers use; `LocalBlobStore` keeps blobs in a directory both can reach
 * (default var/blobs). An S3-compatible store can implement the same
 * interface (multipart upload with a streaming MD5) later.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
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

export interface BlobInfo {
  key: string;
  bytes: number;
  modifiedAt: number;
}

export interface BlobStore {
  /** Streams `source` into a new blob; MD5 and size are computed while streaming. Nothing is stored on failure. */
  put(source: Readable, opts?: PutOptions): Promise<StoredBlob>;
  open(key: string): Promise<Readable>;
  read(key: string): Promise<Buffer>;
  /** A local file path for the blob when the store has one (decoders can seek in it). */
  localPath?(key: string): string;
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

const KEY_RE = /^[0-9a-f]{2}\/[0-9a-f-]{36}$/;

function checkKey(key: string): string {
  if (!KEY_RE.test(key)) throw new BlobNotFoundError(key);
  return key;
}

/** Counts and hashes bytes as they pass; errors once `maxBytes` is exceeded. */
class Meter extends Transform {
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

  localPath(key: string): string {
    return join(this.root, checkKey(key));
  }

  async put(source: Readable, opts: PutOptions = {}): Promise<StoredBlob> {
    const id = randomUUID();
    const key = `${id.slice(0, 2)}/${id}`;
    await mkdir(this.tmpDir, { recursive: true });
    const tmp = join(this.tmpDir, `${id}.part`);
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

  async open(key: string): Promise<Readable> {
    const path = this.localPath(key);
    await this.mustExist(path, key);
    return createReadStream(path);
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
        if (!KEY_RE.test(key)) continue;
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

  private async mustExist(path: string, key: string): Promise<void> {
    try {
      await stat(path);
    } catch {
      throw new BlobNotFoundError(key);
    }
  }
}
