/**
 * Archives read through an ArchiveSource (size + byte ranges) instead of a
 * path: the same entries and bytes as from a file, whether yauzl's reads land
 * inside one cached block, across block boundaries or in one long range;
 * small reads come from the block cache (a counting source, stubbed here);
 * a source that fails mid-read is its own error, not corrupt_archive.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BlobStoreUnavailableError, LocalBlobStore } from '@voxfleet/storage';
import { tarOf, zipOf, type ArchiveItem } from '@voxfleet/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveBudget, readEntries, sniffArchive, type ArchiveFormat, type ArchiveLimits } from '../src/batches/archive.js';
import { blobSource, fileSource, type ArchiveSource } from '../src/batches/archive-source.js';

const MiB = 1024 * 1024;
const LIMITS: ArchiveLimits = { maxEntries: 50_000, maxTotalBytes: 1024 * MiB, maxEntryBytes: 200 * MiB, maxRatio: 1000, ratioMinBytes: MiB };

/** Incompressible bytes (a fixed seed), so entry sizes in the zip are what they say. */
function noise(bytes: number, seed: number): Buffer {
  const b = Buffer.alloc(bytes);
  let s = seed;
  for (let i = 0; i < bytes; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    b[i] = s >>> 16;
  }
  return b;
}

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

/** name → md5 of its bytes, every entry read whole. */
async function digest(source: ArchiveSource | string, format: ArchiveFormat): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of readEntries(source, new ArchiveBudget(LIMITS, format))) {
    if (e.kind !== 'file') continue;
    const parts: Buffer[] = [];
    for await (const c of e.chunks()) parts.push(c);
    out.set(e.name, md5(Buffer.concat(parts)));
  }
  return out;
}

/** A source over `bytes` that counts the range requests it serves, and can fail from the nth. */
function counting(bytes: Buffer, failFrom = Number.POSITIVE_INFINITY): ArchiveSource & { requests: number } {
  const s: ArchiveSource & { requests: number } = {
    requests: 0,
    size: async () => bytes.length,
    range: async (start: number, end: number) => {
      if (++s.requests >= failFrom) throw new BlobStoreUnavailableError('blob store s3://test/: download failed: connect ECONNREFUSED');
      return Readable.from([bytes.subarray(start, end)]);
    },
  };
  return s;
}

describe('archives read through an ArchiveSource', () => {
  let dir: string;
  const items: ArchiveItem[] = [];
  const expected = new Map<string, string>();
  let zip: Buffer;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'voxfleet-archive-source-'));
    // 3000 small entries: the central directory spans several 64 KiB blocks, records straddle their edges
    for (let i = 0; i < 3000; i++) items.push({ name: `small/${String(i).padStart(4, '0')}-${'x'.repeat(i % 37)}.bin`, data: noise(20 + (i % 300), i + 1) });
    // and entries longer than a block, read as one range each
    items.push({ name: 'big/one.bin', data: noise(300_000, 99) }, { name: 'big/two.bin', data: noise(70_000, 98) });
    for (const it of items) expected.set(it.name, md5(Buffer.from(it.data as Uint8Array)));
    zip = await zipOf(items, { compress: false });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('a zip gives the same entries and bytes from a file, from the local blob store and from ranges', async () => {
    const path = join(dir, 'a.zip');
    await writeFile(path, zip);
    const store = new LocalBlobStore(join(dir, 'blobs'));
    const blob = await store.put(Readable.from([zip]));
    expect(await sniffArchive(blobSource(store, blob.key))).toBe('zip');
    expect(await digest(path, 'zip')).toEqual(expected);
    expect(await digest(fileSource(path), 'zip')).toEqual(expected);
    expect(await digest(blobSource(store, blob.key), 'zip')).toEqual(expected);
    const source = counting(zip);
    expect(await digest(source, 'zip')).toEqual(expected);
    // ~3000 entries × (a central-directory record, a local header for the layout check, one to open, the data):
    // served from blocks, the whole pass costs about one request per 64 KiB read, not several per entry
    expect(source.requests).toBeLessThan(Math.ceil(zip.length / (64 * 1024)) * 3 + 10);
  });

  it('a tar.gz streams from the blob store in one range request', async () => {
    const some = items.slice(0, 200).concat(items.slice(-2));
    const tgz = await tarOf(some, { gzip: true });
    const source = counting(tgz);
    expect(await sniffArchive(source)).toBe('tgz');
    const got = await digest(source, 'tgz');
    expect(got).toEqual(new Map(some.map((it) => [it.name, expected.get(it.name)!])));
    expect(source.requests).toBe(2); // the sniff, then the one stream
  });

  it('a source failing mid-read fails the pass with its own error, not corrupt_archive', async () => {
    for (const [bytes, format] of [
      [zip, 'zip'],
      [await tarOf(items.slice(0, 50), { gzip: true }), 'tgz'],
    ] as const) {
      const err = await digest(counting(bytes, format === 'zip' ? 5 : 1), format).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BlobStoreUnavailableError);
    }
  });
});
