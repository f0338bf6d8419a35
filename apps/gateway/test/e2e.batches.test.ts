/* eslint-disable @typescript-eslint/no-explicit-any -- JSON bodies are inspected field by field */
/**
 * Batches end to end: real redis-server, one real worker with the default
 * model, the gateway over real HTTP; archives built here from the fixtures
 * (and hostile ones from scratch).
 */
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@voxfleet/config';
import { FleetStats } from '@voxfleet/queue';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callbackSecretForKey, type RunningGateway } from '../src/index.js';
import { scoreTranscript } from '../src/batches/scoring.js';
import { patchBytes, tarOf, unzip, zipOf, type ArchiveItem, filesUnder } from '@voxfleet/testkit';
import { CLIP, Client, FIXTURES, baseEnv, fixtureSamples, spawnWorker, startRedis, wavBytes, type TestRedis, type TestWorker, stopStack } from '@voxfleet/testkit';
import { startTestGateway } from './harness.js';

/** the fleet's counters now */
const fleetStats = (client: Redis) => new FleetStats(client, 'voxfleet').read();
const KEY = 'batch-test-key-0123456789abcdef';
const MiB = 1024 * 1024;
const HELDOUT = join(REPO_ROOT, 'fixtures/heldout');

async function heldout(): Promise<Map<string, string>> {
  const lines = (await readFile(join(HELDOUT, 'manifest.jsonl'), 'utf8')).trim().split('\n');
  return new Map(lines.map((l) => JSON.parse(l) as { file: string; text: string }).map((r) => [r.file, r.text]));
}

const sum = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0);

describe('batches end to end (redis + 1 worker + gateway)', () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  let worker: TestWorker;
  let varDir: string;
  let api: Client;
  let samples: Float32Array;
  let blobDir: string;

  beforeAll(async () => {
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-var-'));
    blobDir = join(varDir, 'blobs');
    redis = await startRedis();
    const env = { ...baseEnv(redis.url, varDir), VOXFLEET_BATCH_MAX: '8', VOXFLEET_BATCH_WAIT_MS: '50' };
    worker = await spawnWorker('wb', env);
    gw = await startTestGateway({
      ...env,
      VOXFLEET_API_KEYS: KEY,
      VOXFLEET_MAX_UPLOAD_BYTES: String(32 * MiB),
      VOXFLEET_BATCH_MAX_ARCHIVE_BYTES: String(20 * MiB),
      VOXFLEET_BATCH_MAX_TOTAL_BYTES: String(12 * MiB),
      VOXFLEET_BATCH_MAX_ENTRIES: '1000',
      VOXFLEET_BATCH_ENQUEUE_CHUNK: '50',
      VOXFLEET_CALLBACK_ALLOW_PRIVATE: 'on',
      VOXFLEET_CALLBACK_BACKOFF_MS: '50',
    });
    api = new Client(gw.url, KEY);
    samples = await fixtureSamples();
  }, 180_000);

  afterAll(() => stopStack({ worker, gw, redis, varDir }), 60_000);

  it('rejects hostile and broken archives with the right error and leaves no jobs, batches or blobs behind', async () => {
    const wav = new Uint8Array(await readFile(CLIP));
    const good = await zipOf([
      { name: 'a/one.wav', data: wav },
      { name: 'a/two.wav', data: wavBytes(samples.subarray(0, 16000)) },
    ]);
    const goodTgz = await tarOf([{ name: 'a/one.wav', data: wav }, { name: 'a/two.wav', data: wav }], { gzip: true });
    const goodTar = await tarOf([{ name: 'a/one.wav', data: wav }]);
    const zeros = new Uint8Array(8 * MiB);
    const manyEntries: ArchiveItem[] = Array.from({ length: 1001 }, (_, i) => ({ name: `d/${i}.txt`, data: 'x' }));

    const cases: { what: string; bytes: Uint8Array; status: number; code: string; raw?: string; fields?: Record<string, string> }[] = [
      { what: 'zip-slip (zip)', bytes: patchBytes(await zipOf([{ name: 'xx/evil.wav', data: wav }]), 'xx/evil.wav', '../evil.wav'), status: 422, code: 'path_traversal' },
      { what: 'zip-slip (tar)', bytes: await tarOf([{ name: 'ok/../../etc/evil.wav', data: wav }]), status: 422, code: 'path_traversal' },
      { what: 'absolute path (zip)', bytes: patchBytes(await zipOf([{ name: 'Xtmp/abs.wav', data: wav }]), 'Xtmp/abs.wav', '/tmp/abs.wav'), status: 422, code: 'absolute_path' },
      { what: 'absolute path (tgz)', bytes: await tarOf([{ name: '/tmp/abs.wav', data: wav }], { gzip: true }), status: 422, code: 'absolute_path', raw: 'application/gzip' },
      { what: 'symlink (zip)', bytes: await zipOf([{ name: 'a/link.wav', data: '/etc/passwd', mode: 0o120777 }]), status: 422, code: 'link_entry' },
      { what: 'symlink (tar)', bytes: await tarOf([{ name: 'a/ok.wav', data: wav }, { name: 'a/link.wav', type: 'symlink', linkname: '/etc/passwd' }]), status: 422, code: 'link_entry' },
      { what: 'hardlink (tar)', bytes: await tarOf([{ name: 'a/ok.wav', data: wav }, { name: 'a/hard.wav', type: 'link', linkname: 'a/ok.wav' }]), status: 422, code: 'link_entry' },
      { what: 'device (tar)', bytes: await tarOf([{ name: 'a/ok.wav', data: wav }, { name: 'dev/zero', type: 'character-device' }]), status: 422, code: 'special_entry' },
      { what: 'bomb (zip)', bytes: await zipOf([{ name: 'a/ok.wav', data: wav }, { name: 'a/big.wav', data: zeros }]), status: 422, code: 'compression_bomb' },
      { what: 'bomb (tgz, caught while streaming)', bytes: await tarOf([{ name: 'a/ok.wav', data: wav }, { name: 'a/big.wav', data: zeros }], { gzip: true }), status: 422, code: 'compression_bomb' },
      { what: 'over the total uncompressed size (tar)', bytes: await tarOf([{ name: 'a/1.wav', data: zeros }, { name: 'a/2.wav', data: zeros }]), status: 413, code: 'archive_too_large_uncompressed', raw: 'application/x-tar' },
      { what: 'too many entries', bytes: await zipOf(manyEntries), status: 413, code: 'too_many_entries' },
      { what: 'archive over the size limit', bytes: new Uint8Array(21 * MiB).fill(7), status: 413, code: 'archive_too_large', raw: 'application/zip' },
      { what: 'corrupt zip', bytes: Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(4096, 0x5a)]), status: 422, code: 'corrupt_archive' },
      { what: 'corrupt gzip', bytes: Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(4096, 0x33)]), status: 422, code: 'corrupt_archive' },
      { what: 'truncated zip', bytes: good.subarray(0, Math.floor(good.length * 0.6)), status: 422, code: 'corrupt_archive' },
      { what: 'truncated tgz', bytes: goodTgz.subarray(0, Math.floor(goodTgz.length * 0.6)), status: 422, code: 'corrupt_archive', raw: 'application/gzip' },
      { what: 'truncated tar', bytes: goodTar.subarray(0, 512 + 30_000), status: 422, code: 'corrupt_archive' },
      { what: 'empty upload', bytes: new Uint8Array(0), status: 400, code: 'empty_archive' },
      { what: 'empty zip', bytes: await zipOf([]), status: 400, code: 'empty_archive' },
      { what: 'no audio inside', bytes: await zipOf([{ name: 'README.txt', data: 'hello' }]), status: 422, code: 'no_audio_entries' },
      { what: 'not an archive (wav)', bytes: wav, status: 415, code: 'not_an_archive' },
      { what: 'not an archive (text, raw body)', bytes: Buffer.from('just text\n'.repeat(100)), status: 415, code: 'not_an_archive', raw: 'text/plain' },
      { what: 'callback to a non-http URL', bytes: good, status: 400, code: 'invalid_callback_url', fields: { callback_url: 'file:///etc/passwd' } },
      { what: 'bad reference option', bytes: good, status: 400, code: 'invalid_reference', fields: { reference: 'maybe' } },
    ];

    const keysBefore = (await redis.client.keys('*')).sort();
    for (const c of cases) {
      const r = c.raw ? await api.postRaw('/v1/batches?filename=x', c.bytes, c.raw) : await api.uploadBatch(c.bytes, 'upload.bin', c.fields ?? {});
      expect({ what: c.what, status: r.status, code: r.body.error?.code }).toEqual({ what: c.what, status: c.status, code: c.code });
      expect(r.body.error.message.length).toBeGreaterThan(10);
    }
    // Nothing was created: no job, batch, task or queue key, no stored blob.
    expect((await redis.client.keys('*')).sort()).toEqual(keysBefore);
    expect(await redis.client.keys('voxfleet:job:*')).toEqual([]);
    expect(await redis.client.keys('voxfleet:batch*')).toEqual([]);
    expect(await redis.client.keys('bull:transcribe:t-*')).toEqual([]);
    expect(await filesUnder(blobDir)).toEqual([]);
    expect((await api.get('/v1/batches/b_doesnotexist00')).status).toBe(404);
  }, 120_000);

  let firstFunasrMd5 = '';

  it('zip of real clips: upload → all complete → zip of SRTs whose paths mirror the archive; a duplicate is transcribed once', async () => {
    const funasr = new Uint8Array(await readFile(CLIP));
    const libri = new Uint8Array(await readFile(join(FIXTURES, 'en-librispeech-1995-1837-0001.wav')));
    const h0 = new Uint8Array(await readFile(join(HELDOUT, 'heldout-0000.flac')));
    const h1 = new Uint8Array(await readFile(join(HELDOUT, 'heldout-0001.flac')));
    const archive = await zipOf([
      { name: 'calls/', type: 'directory' },
      { name: 'calls/en-funasr-example.wav', data: funasr },
      { name: 'calls/en-librispeech.wav', data: libri },
      { name: 'calls/again/en-funasr-copy.wav', data: funasr },
      { name: 'heldout/heldout-0000.flac', data: h0 },
      { name: 'heldout/heldout-0001.flac', data: h1 },
      { name: 'notes/readme.md', data: '# notes' },
      { name: 'nested/inner.zip', data: await zipOf([{ name: 'x.wav', data: funasr }]) },
      { name: '__MACOSX/calls/._en-funasr-example.wav', data: 'mac' },
      { name: 'calls/empty.wav', data: '' },
      { name: 'calls/broken.wav', data: 'this is not audio at all, just text\n'.repeat(10) },
    ]);
    const tasksBefore = (await fleetStats(redis.client)).tasks.completed;
    const created = await api.uploadBatch(archive, 'calls.zip', { language: 'en' });
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ status: 'ingesting', archive: { filename: 'calls.zip', format: 'zip', bytes: archive.length }, entries: { total: 10, audio: 6 } });
    expect(created.body.id).toMatch(/^b_/);
    expect(sum(created.body.counts)).toBe(10);

    const done = await api.waitBatch(created.body.id);
    expect(done.status).toBe('completed');
    expect(done.counts).toEqual({ queued: 0, processing: 0, completed: 5, failed: 1, cancelled: 0, skipped: 4, cached: 0 });
    expect(done.deduplicated).toBe(1);
    expect(done.progress).toBe(100);
    expect(done.etaSec).toBe(0);
    expect(done.audio.totalSec).toBeGreaterThan(20);
    expect(done.audio.doneSec).toBeCloseTo(done.audio.totalSec, 1);
    expect(done.throughput.jobsPerSec).toBeGreaterThan(0);
    // Five audio entries completed, four distinct recordings: the copy shared the first one's task.
    expect((await fleetStats(redis.client)).tasks.completed).toBe(tasksBefore + 4);

    const skipped = await api.get(`/v1/batches/${done.id}/jobs?status=skipped`);
    expect(skipped.body.entries.map((e: { path: string; reason: string }) => [e.path, e.reason])).toEqual([
      ['notes/readme.md', 'not an audio file (.md)'],
      ['nested/inner.zip', 'nested archive (not extracted)'],
      ['__MACOSX/calls/._en-funasr-example.wav', 'operating-system metadata'],
      ['calls/empty.wav', 'empty file'],
    ]);
    const failed = await api.get(`/v1/batches/${done.id}/jobs?status=failed`);
    expect(failed.body.entries).toHaveLength(1);
    expect(failed.body.entries[0]).toMatchObject({ path: 'calls/broken.wav', error: { code: expect.stringMatching(/undecodable_audio|unsupported_audio/) } });

    // Paging through all entries, 3 at a time, in archive order.
    const paths: string[] = [];
    let cursor = '';
    for (let i = 0; i < 10; i++) {
      const page = await api.get(`/v1/batches/${done.id}/jobs?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      paths.push(...page.body.entries.map((e: { path: string }) => e.path));
      if (!page.body.nextCursor) break;
      cursor = page.body.nextCursor;
    }
    expect(paths).toHaveLength(10);
    expect(paths[0]).toBe('calls/en-funasr-example.wav');
    const completed = (await api.get(`/v1/batches/${done.id}/jobs?status=completed`)).body.entries as Record<string, any>[];
    expect(completed.map((e) => e.path).sort()).toEqual(['calls/again/en-funasr-copy.wav', 'calls/en-funasr-example.wav', 'calls/en-librispeech.wav', 'heldout/heldout-0000.flac', 'heldout/heldout-0001.flac']);
    const copy = completed.find((e) => e.path === 'calls/again/en-funasr-copy.wav')!;
    expect(copy.deduplicated).toBe(true);
    const job = await api.get(`/v1/jobs/${copy.jobId}`);
    expect(job.body).toMatchObject({ status: 'completed', language: 'en', batch: { id: done.id, path: 'calls/again/en-funasr-copy.wav', deduplicated: true } });
    firstFunasrMd5 = job.body.audio.md5;

    const zip = await api.getBytes(`/v1/batches/${done.id}/results?format=zip&transcript=srt`);
    expect(zip.status).toBe(200);
    expect(zip.contentType).toContain('application/zip');
    const files = await unzip(zip.bytes);
    expect([...files.keys()].sort()).toEqual(['calls/again/en-funasr-copy.srt', 'calls/en-funasr-example.srt', 'calls/en-librispeech.srt', 'heldout/heldout-0000.srt', 'heldout/heldout-0001.srt']);
    expect(files.get('calls/again/en-funasr-copy.srt')!.toString()).toBe(files.get('calls/en-funasr-example.srt')!.toString());
    for (const e of completed) {
      const srt = (await api.get(`/v1/jobs/${e.jobId}/transcript?format=srt`)).text;
      expect(files.get(e.path.replace(/\.(wav|flac)$/, '.srt'))!.toString()).toBe(srt);
    }
    expect((await api.get(`/v1/batches/${done.id}/results?format=pdf`)).status).toBe(400);
    expect((await api.post(`/v1/batches/${done.id}/cancel`)).status).toBe(409);
    // The archive itself is not kept once ingested: only the four distinct recordings are stored.
    expect(await filesUnder(blobDir).then((f) => f.filter((p) => !p.startsWith('.tmp')))).toHaveLength(4);
  }, 240_000);

  it('tar.gz (raw body) with hundreds of entries, sidecar references scored, a cached clip, and a signed callback retried until delivered', async () => {
    const texts = await heldout();
    const items: ArchiveItem[] = [];
    for (let i = 0; i < 200; i++) {
      const at = i * 397;
      items.push({ name: `gen/${String(Math.floor(i / 50))}/clip-${String(i).padStart(3, '0')}.wav`, data: wavBytes(samples.subarray(at, at + 9600)) });
    }
    const refs = ['heldout-0002.flac', 'heldout-0003.flac', 'heldout-0004.flac', 'heldout-0005.flac'];
    for (const f of refs) {
      items.push({ name: `eval/${f}`, data: new Uint8Array(await readFile(join(HELDOUT, f))) });
      items.push({ name: `eval/${f.replace('.flac', '.txt')}`, data: `${texts.get(f)}\n` });
    }
    items.push({ name: 'seen/en-funasr-example.wav', data: new Uint8Array(await readFile(CLIP)) });
    const archive = await tarOf(items, { gzip: true });

    const deliveries: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
    const hook: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        deliveries.push({ headers: req.headers, body });
        res.statusCode = deliveries.length === 1 ? 500 : 204; // the first attempt fails: retried
        res.end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/hook`;
    try {
      const tasksBefore = (await fleetStats(redis.client)).tasks.completed;
      const created = await api.postRaw(`/v1/batches?filename=gen.tgz&language=en&reference=sidecar&callback_url=${encodeURIComponent(hookUrl)}`, archive, 'application/gzip');
      expect(created.status).toBe(202);
      expect(created.body).toMatchObject({ status: 'ingesting', archive: { format: 'tgz', filename: 'gen.tgz' }, entries: { total: 209, audio: 205 }, options: { reference: 'sidecar', callbackUrl: hookUrl } });

      const done = await api.waitBatch(created.body.id);
      expect(done.status).toBe('completed');
      expect(done.counts).toEqual({ queued: 0, processing: 0, completed: 204, failed: 0, cancelled: 0, skipped: 4, cached: 1 });
      expect(sum(done.counts)).toBe(done.entries.total);
      expect((await fleetStats(redis.client)).tasks.completed).toBe(tasksBefore + 204);

      const cached = (await api.get(`/v1/batches/${done.id}/jobs?status=cached`)).body.entries;
      expect(cached).toHaveLength(1);
      expect(cached[0]).toMatchObject({ path: 'seen/en-funasr-example.wav', cached: true });
      expect((await api.get(`/v1/jobs/${cached[0].jobId}`)).body.audio.md5).toBe(firstFunasrMd5);

      // WER/CER: each scored entry against its sidecar, and the batch sums, computed consistently.
      const scored = (await api.get(`/v1/batches/${done.id}/jobs?limit=1000`)).body.entries.filter((e: { reference?: string }) => e.reference !== undefined);
      expect(scored.map((e: { path: string }) => e.path).sort()).toEqual(refs.map((f) => `eval/${f}`));
      let werE = 0;
      let werN = 0;
      for (const e of scored) {
        expect(e.reference).toBe(texts.get(e.path.slice(5)));
        const s = scoreTranscript(e.text, e.reference);
        expect(e.score).toEqual(s);
        werE += s.words.errors;
        werN += s.words.total;
        expect(scoreTranscript(e.reference, e.reference)).toMatchObject({ wer: 0, cer: 0 });
        expect((await api.get(`/v1/jobs/${e.jobId}`)).body.score).toEqual(s);
      }
      expect(done.score).toMatchObject({ scored: 4, words: { errors: werE, total: werN } });
      expect(done.score.wer).toBeCloseTo(werE / werN, 4);
      const sidecars = (await api.get(`/v1/batches/${done.id}/jobs?status=skipped`)).body.entries;
      expect(sidecars.map((e: { reason: string }) => e.reason)).toEqual(refs.map((f) => `reference transcript for ${f}`));

      const jsonl = (await api.get(`/v1/batches/${done.id}/results?format=jsonl`)).text.trim().split('\n').map((l: string) => JSON.parse(l));
      expect(jsonl).toHaveLength(209);
      expect(jsonl.filter((r: { status: string }) => r.status === 'completed')).toHaveLength(204);
      expect(jsonl.find((r: { path: string }) => r.path === 'eval/heldout-0002.flac')).toMatchObject({ reference: texts.get('heldout-0002.flac'), wer: expect.any(Number) });
      const csv = await api.get(`/v1/batches/${done.id}/results?format=csv`);
      expect(csv.contentType).toContain('text/csv');
      expect(csv.text.trim().split('\n')).toHaveLength(210);
      const zip = await unzip((await api.getBytes(`/v1/batches/${done.id}/results?format=zip&transcript=vtt`)).bytes);
      expect(zip.size).toBe(205);
      expect(zip.has('gen/3/clip-199.vtt')).toBe(true);
      expect(zip.get('eval/heldout-0003.vtt')!.toString().startsWith('WEBVTT')).toBe(true);

      // The callback: retried after a 500, signed with the key's derived secret.
      let view = done;
      for (let i = 0; i < 400 && view.callback?.status !== 'delivered'; i++) {
        await new Promise((r) => setTimeout(r, 50));
        view = (await api.get(`/v1/batches/${done.id}`)).body;
      }
      expect(view.callback).toMatchObject({ url: hookUrl, status: 'delivered', attempts: 2, lastError: null });
      expect(deliveries).toHaveLength(2);
      for (const d of deliveries) {
        const ts = String(d.headers['x-voxfleet-timestamp']);
        const expected = `sha256=${createHmac('sha256', callbackSecretForKey(KEY)).update(`${ts}.${d.body}`).digest('hex')}`;
        expect(d.headers['x-voxfleet-signature']).toBe(expected);
        expect(d.headers['x-voxfleet-event']).toBe('batch.finished');
        expect(d.headers['content-type']).toBe('application/json');
        const body = JSON.parse(d.body);
        expect(body).toMatchObject({ event: 'batch.finished', batch: { id: done.id, status: 'completed', counts: done.counts } });
      }
    } finally {
      hook.close();
    }
  }, 300_000);

  it('cancels a batch midway: nothing further runs and the counts add up', async () => {
    const items: ArchiveItem[] = Array.from({ length: 120 }, (_, i) => ({ name: `c/${i}.wav`, data: wavBytes(samples.subarray(50_000 + i * 211, 50_000 + i * 211 + 24_000)) }));
    const created = await api.uploadBatch(await zipOf(items), 'cancel.zip');
    expect(created.status).toBe(202);
    const id = created.body.id;
    const tasksBefore = (await fleetStats(redis.client)).tasks.completed;
    const cancelledBefore = (await fleetStats(redis.client)).tasks.cancelled;
    const mark0 = worker.output().length;
    let b = created.body;
    for (let i = 0; i < 2000 && b.counts.completed < 3; i++) {
      await new Promise((r) => setTimeout(r, 20));
      b = (await api.get(`/v1/batches/${id}`)).body;
    }
    expect(b.counts.completed).toBeGreaterThanOrEqual(3);

    const cancelled = await api.del(`/v1/batches/${id}`);
    const mark = worker.output().length;
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    expect(cancelled.body.counts.queued).toBe(0);
    expect(cancelled.body.counts.processing).toBe(0);
    expect(sum(cancelled.body.counts)).toBe(120);
    expect(cancelled.body.counts.cancelled).toBeGreaterThan(0);
    expect(cancelled.body.progress).toBe(100);

    // Let the worker settle: the queue is empty, nothing is active.
    for (let i = 0; i < 1000; i++) {
      const m = (await api.get('/metrics')).text;
      const n = (state: string): number => Number(new RegExp(`voxfleet_queue_jobs\\{queue="transcribe-voxfleet-en-char-ctc",state="${state}"\\} (\\d+)`).exec(m)?.[1] ?? -1);
      if (n('active') === 0 && n('waiting') === 0 && n('prioritized') === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    // Nothing further runs: a task the worker picked up while the cancel was in flight (its log line
    // may even arrive after the cancel returned) is aborted, never completed.
    const late = [...worker.output().slice(mark).matchAll(/task started taskId=(\S+)/g)].map((m) => m[1]!);
    for (const t of late) {
      expect(worker.output()).toContain(`task cancelled taskId=${t}`);
      expect(worker.output()).not.toContain(`task completed taskId=${t}`);
    }
    const after = (await api.get(`/v1/batches/${id}`)).body;
    expect(after.counts).toEqual(cancelled.body.counts);
    // Every task the worker started ended (completed, or aborted by the cancel); tasks still running at
    // the cancel may have finished anyway, so the worker completed at least what the batch counts.
    const started = worker.output().slice(mark0).match(/task started/g)?.length ?? 0;
    const workerCompleted = ((await fleetStats(redis.client)).tasks.completed) - tasksBefore;
    const workerCancelled = ((await fleetStats(redis.client)).tasks.cancelled) - cancelledBefore;
    expect(workerCompleted + workerCancelled).toBe(started);
    expect(workerCompleted).toBeGreaterThanOrEqual(after.counts.completed);
    expect(started).toBeLessThan(120);
    const listed = (await api.get(`/v1/batches/${id}/jobs?limit=1000`)).body.entries as { status: string }[];
    const byStatus = listed.reduce<Record<string, number>>((a, e) => ({ ...a, [e.status]: (a[e.status] ?? 0) + 1 }), {});
    expect(byStatus).toEqual(Object.fromEntries(Object.entries(after.counts).filter(([, v]) => v !== 0)));
    const again = await api.post(`/v1/batches/${id}/cancel`);
    expect(again.status).toBe(409);
  }, 240_000);
});
