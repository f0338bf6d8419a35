import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobNotFoundError, BlobTooLargeError, LocalBlobStore } from '../src/index.js';

function chunks(total: number, size = 64 * 1024): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return this.push(null);
      const n = Math.min(size, total - sent);
      this.push(Buffer.alloc(n, sent % 251));
      sent += n;
    },
  });
}

describe('LocalBlobStore', () => {
  let root: string;
  let store: LocalBlobStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'voxfleet-blobs-'));
    store = new LocalBlobStore(root);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('streams a blob in, computing MD5 and size on the way', async () => {
    const data = Buffer.from('hello voxfleet '.repeat(10_000));
    const blob = await store.put(Readable.from([data.subarray(0, 1000), data.subarray(1000)]));
    expect(blob.bytes).toBe(data.length);
    expect(blob.md5).toBe(createHash('md5').update(data).digest('hex'));
    expect(await store.read(blob.key)).toEqual(data);
    const back: Buffer[] = [];
    for await (const c of await store.open(blob.key)) back.push(c as Buffer);
    expect(Buffer.concat(back)).toEqual(data);
    expect(await readdir(join(root, '.tmp'))).toEqual([]);
  });

  it('stores nothing when the limit is exceeded or the source fails', async () => {
    await expect(store.put(chunks(300_000), { maxBytes: 100_000 })).rejects.toBeInstanceOf(BlobTooLargeError);
    const failing = new Readable({
      read() {
        this.destroy(new Error('client went away'));
      },
    });
    await expect(store.put(failing)).rejects.toThrow(/went away/);
    expect(await readdir(join(root, '.tmp'))).toEqual([]);
    // Sources that fail while the temporary file is still opening leave nothing either.
    const early = (i: number): Readable => {
      const p = new PassThrough();
      p.on('error', () => {});
      if (i % 2) p.write(Buffer.alloc(10));
      setImmediate(() => p.destroy(new Error('early')));
      return p;
    };
    const results = await Promise.allSettled(Array.from({ length: 2000 }, (_, i) => store.put(early(i))));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    // a leaked file would be created by an open still in flight: give those a moment to land
    await new Promise((r) => setTimeout(r, 300));
    expect(await readdir(join(root, '.tmp'))).toEqual([]);
    expect(await store.listOlderThan(Date.now() + 1000)).toEqual([]);
  });

  it('lists blobs older than a cutoff for retention, and deletes them', async () => {
    const old = await store.put(Readable.from([Buffer.from('old')]));
    const fresh = await store.put(Readable.from([Buffer.from('fresh')]));
    const past = new Date(Date.now() - 10 * 86400_000);
    await utimes(store.localPath(old.key), past, past);
    const listed = await store.listOlderThan(Date.now() - 86400_000);
    expect(listed.map((b) => b.key)).toEqual([old.key]);
    await store.delete(old.key);
    await expect(store.read(old.key)).rejects.toBeInstanceOf(BlobNotFoundError);
    expect((await store.read(fresh.key)).toString()).toBe('fresh');
    await expect(store.read('../../etc/passwd')).rejects.toBeInstanceOf(BlobNotFoundError);
  });
});
