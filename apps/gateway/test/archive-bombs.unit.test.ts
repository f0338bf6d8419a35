/**
 * The archive-wide inflation budget and overlapping zip entries, on archives
 * generated here (never committed): the first pass (inspectArchive) refuses
 * them before inflating more than the budget, with their own codes, and
 * still accepts ordinary archives.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { overlappingZip, tarOf, wavBytes, zipOf } from '@voxfleet/testkit';
import { ArchiveBudget, EntryGuard, readEntries, type ArchiveFormat, type ArchiveLimits } from '../src/batches/archive.js';
import { inspectArchive } from '../src/batches/manifest.js';
import { ApiError } from '../src/errors.js';

const MiB = 1024 * 1024;
const LIMITS: ArchiveLimits = { maxEntries: 50_000, maxTotalBytes: 50 * 1024 * MiB, maxEntryBytes: 200 * MiB, maxRatio: 100, ratioMinBytes: MiB };

/** Compressible about 90×, like the reported attack's kernel (each entry under the ratio limit on its own). */
function kernel(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  let seed = 7;
  for (let i = 0; i < bytes; i += 90) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    b[i] = seed & 0xff;
  }
  return b;
}

describe('archive inflation budget and overlapping zip entries', () => {
  let dir: string;
  const file = async (name: string, bytes: Buffer): Promise<string> => {
    const p = join(dir, name);
    await writeFile(p, bytes);
    return p;
  };
  const inspect = (path: string, format: ArchiveFormat = 'zip') => inspectArchive(path, format, LIMITS, { sidecar: false });
  const failure = async (p: Promise<unknown>): Promise<ApiError> => {
    const err = await p.then(
      () => new Error('accepted'),
      (e: unknown) => e,
    );
    if (!(err instanceof ApiError)) throw err;
    return err;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'voxfleet-bombs-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses 500 entries sharing one deflate stream (each under the ratio limit) before inflating any', async () => {
    const k = kernel(4 * MiB);
    const zip = overlappingZip({ entries: 500, kernel: k, layout: 'shared' });
    expect(k.length / zip.length).toBeLessThan(LIMITS.maxRatio); // one entry alone passes the per-entry guard
    const err = await failure(inspect(await file('shared.zip', zip)));
    expect([err.status, err.code]).toEqual([422, 'overlapping_entries']);
    expect(err.message).toMatch(/"clip-\d+\.wav" and "clip-\d+\.wav" overlap/);
  });

  it('refuses chained stored entries whose data runs over the next entries’ headers', async () => {
    const zip = overlappingZip({ entries: 20, kernel: Buffer.from(wavBytes(new Float32Array(8000))), layout: 'chained' });
    const err = await failure(inspect(await file('chained.zip', zip)));
    expect([err.status, err.code]).toEqual([422, 'overlapping_entries']);
  });

  it('refuses many small bombs each under the ratio floor: from the declared sizes, before inflating', async () => {
    // 120 entries of 1 MiB of zeros: none passes ratioMinBytes on its own, together 120 MiB from ~120 KiB.
    const zero = Buffer.alloc(MiB);
    const zip = await zipOf(Array.from({ length: 120 }, (_, i) => ({ name: `s/${i}.wav`, data: zero })));
    const err = await failure(inspect(await file('small-bombs.zip', zip)));
    expect([err.status, err.code]).toEqual([422, 'archive_bomb']);
    expect(err.message).toContain(`${zip.length} bytes`);
  });

  it('counts the real bytes against the budget while they stream (whatever the headers declared)', async () => {
    const budget = new ArchiveBudget(LIMITS, 'zip');
    budget.archiveBytes = 100 * 1024; // budget: max(100 × 100 KiB, 1 MiB) = 10 000 KiB
    let err: unknown;
    let passed = 0;
    try {
      for (let i = 0; i < 100; i++) {
        new EntryGuard(budget, `e${i}.wav`, 900 * 1024).add(512 * 1024); // each entry fine on its own
        passed++;
      }
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('archive_bomb');
    expect(passed).toBe(19); // 20 × 512 KiB = 10 240 KiB > 10 000 KiB
  });

  it('a tgz of small bombs is refused while streaming the gzip', async () => {
    const zero = Buffer.alloc(MiB);
    const tgz = await tarOf(
      Array.from({ length: 50 }, (_, i) => ({ name: `s/${i}.wav`, data: zero })),
      { gzip: true },
    );
    const err = await failure(inspect(await file('small-bombs.tgz', tgz), 'tgz'));
    expect(['compression_bomb', 'archive_bomb']).toContain(err.code);
    expect(err.status).toBe(422);
  });

  it('still accepts ordinary archives: audio already compressed, a WAV that deflates, many small entries', async () => {
    const noise = Buffer.alloc(256 * 1024);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    const speechLike = new Float32Array(32000).map((_, i) => 0.3 * Math.sin(i / 9) * Math.sin(i / 700));
    const items = [
      { name: 'a/noise.mp3', data: noise },
      { name: 'a/tone.wav', data: wavBytes(speechLike) },
      ...Array.from({ length: 200 }, (_, i) => ({ name: `b/${i}.txt`, data: `line ${i}\n` })),
    ];
    const zip = await inspect(await file('ok.zip', await zipOf(items)));
    expect(zip.audio).toBe(2);
    const tgz = await inspect(await file('ok.tgz', await tarOf(items, { gzip: true })), 'tgz');
    expect(tgz.audio).toBe(2);
  });

  it('readEntries sets the archive size it budgets against', async () => {
    const bytes = await zipOf([{ name: 'x.wav', data: 'abc' }]);
    const budget = new ArchiveBudget(LIMITS, 'zip');
    for await (const e of readEntries(await file('one.zip', bytes), budget)) void e;
    expect(budget.archiveBytes).toBe(bytes.length);
  });
});
