/**
 * The BlobStore contract, run against both stores: the local directory and
 * S3BlobStore on a real s3rver (its own process on 127.0.0.1, an ephemeral
 * port, a temp dir). Then what only S3 has: multipart uploads, and an
 * endpoint that is down.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { freePort, S3RVER_KEY, startS3, type TestS3 } from '@voxfleet/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobNotFoundError, BlobStoreUnavailableError, BlobTooLargeError, LocalBlobStore, S3BlobStore, createBlobStore, type BlobStore, type S3BlobStoreOptions } from '../src/index.js';

const MiB = 1024 * 1024;

/** `total` bytes of a repeatable pattern, in `size`-byte chunks (never one buffer). */
function pattern(total: number, size = 64 * 1024): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return this.push(null);
      const n = Math.min(size, total - sent);
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = ((sent + i) * 7919) % 251;
      this.push(b);
      sent += n;
    },
  });
}

async function bytesOf(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

let s3: TestS3;
let work: string;
const s3Options = (over: Partial<S3BlobStoreOptions> = {}): S3BlobStoreOptions => ({
  bucket: s3.bucket,
  prefix: 'blobs/',
  region: 'us-east-1',
  endpoint: s3.endpoint,
  forcePathStyle: true,
  accessKeyId: S3RVER_KEY,
  secretAccessKey: S3RVER_KEY,
  tmpDir: join(work, 'blob-tmp'),
  ...over,
});

beforeAll(async () => {
  s3 = await startS3();
  work = await mkdtemp(join(tmpdir(), 'voxfleet-s3-store-'));
}, 30_000);
afterAll(async () => {
  await s3?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const stores: Array<[string, () => BlobStore]> = [
  ['LocalBlobStore', () => new LocalBlobStore(join(work, 'local'))],
  ['S3BlobStore', () => new S3BlobStore(s3Options())],
];

describe.each(stores)('BlobStore contract: %s', (_name, make) => {
  let store: BlobStore;
  beforeAll(() => {
    store = make();
  });

  it('streams a blob in (MD5 and size on the way) and out, whole, by range, and as a lent file', async () => {
    const data = await bytesOf(pattern(300_000, 10_000));
    const blob = await store.put(pattern(300_000, 10_000));
    expect(blob).toMatchObject({ bytes: data.length, md5: md5(data) });
    expect(blob.key).toMatch(/^[0-9a-f]{2}\/[0-9a-f-]{36}$/);
    // compared by MD5: vitest's deep equality walks a Buffer byte by byte (seconds for 300 kB)
    expect(md5(await bytesOf(await store.open(blob.key)))).toBe(blob.md5);
    expect(md5(await store.read(blob.key))).toBe(blob.md5);
    expect(await store.size(blob.key)).toBe(data.length);
    expect(md5(await bytesOf(await store.open(blob.key, { start: 1000, end: 70_000 })))).toBe(md5(data.subarray(1000, 70_000)));
    expect(await bytesOf(await store.open(blob.key, { start: 0, end: 1 }))).toEqual(data.subarray(0, 1));
    expect(await bytesOf(await store.open(blob.key, { start: 5, end: 5 }))).toEqual(Buffer.alloc(0));
    await expect(store.open(blob.key, { start: 10, end: 5 })).rejects.toThrow(/invalid byte range/);
    let lent = '';
    const copy = await store.withFile(blob.key, async (path) => {
      lent = path;
      return readFile(path);
    });
    expect(md5(copy)).toBe(blob.md5);
    if (store instanceof S3BlobStore) expect(existsSync(lent)).toBe(false); // the temporary copy is gone
    await store.delete(blob.key);
    await expect(store.size(blob.key)).rejects.toBeInstanceOf(BlobNotFoundError);
  });

  it('a missing or malformed key is BlobNotFoundError, from every read; deleting it is a no-op', async () => {
    const missing = '0a/0a000000-0000-4000-8000-000000000000';
    for (const key of [missing, '../../etc/passwd', 'blobs/x']) {
      await expect(store.open(key)).rejects.toBeInstanceOf(BlobNotFoundError);
      await expect(store.read(key)).rejects.toBeInstanceOf(BlobNotFoundError);
      await expect(store.size(key)).rejects.toBeInstanceOf(BlobNotFoundError);
      await expect(store.open(key, { start: 0, end: 10 })).rejects.toBeInstanceOf(BlobNotFoundError);
      await expect(store.withFile(key, async () => 'used')).rejects.toThrow(`blob ${key} not found`);
    }
    await expect(store.delete(missing)).resolves.toBeUndefined();
  });

  it('stores nothing when the limit is exceeded, the source fails or the upload is aborted', async () => {
    const before = await store.listOlderThan(Date.now() + 60_000);
    await expect(store.put(pattern(300_000), { maxBytes: 100_000 })).rejects.toBeInstanceOf(BlobTooLargeError);
    const failing = new Readable({
      read() {
        this.destroy(new Error('client went away'));
      },
    });
    await expect(store.put(failing)).rejects.toThrow(/went away/);
    const ctrl = new AbortController();
    const slow = new Readable({ read() {} });
    slow.push(Buffer.alloc(1000));
    setTimeout(() => ctrl.abort(new Error('request cancelled')), 50);
    await expect(store.put(slow, { signal: ctrl.signal })).rejects.toThrow();
    expect(await store.listOlderThan(Date.now() + 60_000)).toEqual(before);
  });

  it('lists blobs older than a cutoff for retention, up to a limit', async () => {
    const a = await store.put(Readable.from([Buffer.from('a')]));
    const b = await store.put(Readable.from([Buffer.from('bb')]));
    const all = await store.listOlderThan(Date.now() + 60_000);
    expect(all.map((x) => x.key).sort()).toEqual(expect.arrayContaining([a.key, b.key].sort()));
    expect(all.find((x) => x.key === b.key)?.bytes).toBe(2);
    expect(await store.listOlderThan(Date.now() + 60_000, 1)).toHaveLength(1);
    expect(await store.listOlderThan(Date.now() - 3600_000)).toEqual([]);
    for (const x of all) await store.delete(x.key);
    expect(await store.listOlderThan(Date.now() + 60_000)).toEqual([]);
  });
});

describe('S3BlobStore on s3rver', () => {
  it('uploads in parts without buffering the whole stream, and reads it back intact', async () => {
    const store = new S3BlobStore(s3Options());
    const total = 19 * MiB; // three 8 MiB parts
    const expected = createHash('md5');
    for await (const c of pattern(total, 256 * 1024)) expected.update(c as Buffer);
    const blob = await store.put(pattern(total, 256 * 1024));
    expect(blob).toMatchObject({ bytes: total, md5: expected.digest('hex') });
    const back = createHash('md5');
    let n = 0;
    for await (const c of await store.open(blob.key)) {
      back.update(c as Buffer);
      n += (c as Buffer).length;
    }
    expect({ n, md5: back.digest('hex') }).toEqual({ n: total, md5: blob.md5 });
    expect(await store.size(blob.key)).toBe(total);
    // the object sits under the configured prefix
    expect(await readdir(join(s3.dir, s3.bucket))).toContain('blobs');
    await store.delete(blob.key);
  }, 120_000);

  it('an over-limit multipart upload leaves no object or parts', async () => {
    const store = new S3BlobStore(s3Options());
    await expect(store.put(pattern(20 * MiB, 256 * 1024), { maxBytes: 17 * MiB })).rejects.toBeInstanceOf(BlobTooLargeError);
    expect(await store.listOlderThan(Date.now() + 60_000)).toEqual([]);
  }, 120_000);

  it('keeps prefixes apart: a store lists and reads only its own', async () => {
    const one = new S3BlobStore(s3Options({ prefix: 'one/' }));
    const two = new S3BlobStore(s3Options({ prefix: 'two/' }));
    const blob = await one.put(Readable.from([Buffer.from('mine')]));
    expect((await one.listOlderThan(Date.now() + 60_000)).map((b) => b.key)).toEqual([blob.key]);
    expect(await two.listOlderThan(Date.now() + 60_000)).toEqual([]);
    await expect(two.read(blob.key)).rejects.toBeInstanceOf(BlobNotFoundError);
    await one.delete(blob.key);
  });

  it('an endpoint that is down gives BlobStoreUnavailableError naming the bucket, and the upload source is let go', async () => {
    const down = new S3BlobStore(s3Options({ endpoint: `http://127.0.0.1:${await freePort()}` }));
    const source = pattern(2 * MiB);
    const err = await down.put(source).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlobStoreUnavailableError);
    expect((err as Error).message).toMatch(new RegExp(`blob store s3://${s3.bucket}/blobs/ at http://127\\.0\\.0\\.1:\\d+: upload failed`));
    expect(source.destroyed).toBe(true);
    const key = '0a/0a000000-0000-4000-8000-000000000000';
    await expect(down.open(key)).rejects.toBeInstanceOf(BlobStoreUnavailableError);
    await expect(down.size(key)).rejects.toBeInstanceOf(BlobStoreUnavailableError);
    await expect(down.withFile(key, async () => 'never')).rejects.toBeInstanceOf(BlobStoreUnavailableError);
    await expect(down.delete(key)).rejects.toBeInstanceOf(BlobStoreUnavailableError);
    await expect(down.listOlderThan(Date.now())).rejects.toThrow(/list failed/);
  }, 60_000);

  it('a bucket that does not exist is unavailable (not a missing blob), and bad options are refused', async () => {
    // (a HEAD answers a missing bucket with a bare 404, like a missing key: only requests with a body can tell them apart)
    const nobucket = new S3BlobStore(s3Options({ bucket: 'no-such-bucket' }));
    await expect(nobucket.open('0a/0a000000-0000-4000-8000-000000000000')).rejects.toBeInstanceOf(BlobStoreUnavailableError);
    await expect(nobucket.open('0a/0a000000-0000-4000-8000-000000000000')).rejects.toThrow(/NoSuchBucket/);
    await expect(nobucket.put(Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(BlobStoreUnavailableError);
    expect(() => new S3BlobStore(s3Options({ prefix: 'no-slash' }))).toThrow(/prefix/);
    expect(() => new S3BlobStore(s3Options({ secretAccessKey: undefined }))).toThrow(/both/);
  });

  it('createBlobStore picks the store the settings name', () => {
    expect(createBlobStore({ blobStore: 'local', blobDir: work, s3: null })).toBeInstanceOf(LocalBlobStore);
    expect(createBlobStore({ blobStore: 's3', blobDir: work, s3: s3Options() })).toBeInstanceOf(S3BlobStore);
    expect(() => createBlobStore({ blobStore: 's3', blobDir: work, s3: null })).toThrow(/VOXFLEET_S3_BUCKET/);
  });
});
