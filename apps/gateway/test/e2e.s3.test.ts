/* eslint-disable @typescript-eslint/no-explicit-any -- JSON bodies are inspected field by field */
/**
 * Blobs in S3, end to end: a real s3rver (its own process on 127.0.0.1),
 * real redis-server, one real worker and the gateway over real HTTP, with
 * VOXFLEET_BLOB_STORE=s3 and a var dir of their own each — no blob directory
 * is shared (none is even created), as on hosts that share no disk. Then S3
 * going away: a worker whose endpoint is down fails the job with the reason
 * after its retries and keeps running; a gateway whose endpoint is down
 * answers 503 and keeps serving.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIP, Client, FIXTURES, baseEnv, encodeFile, filesUnder, fixtureSamples, freePort, spawnWorker, startRedis, startS3, tarOf, wavBytes, zipOf, type TestRedis, type TestS3, type TestWorker } from '@voxfleet/testkit';
import type { RunningGateway } from '../src/index.js';
import { startTestGateway } from './harness.js';

const KEY = 's3-e2e-test-key-0123456789abcdef';

describe('S3 blob store end to end (s3rver + redis + worker + gateway, no shared blob directory)', () => {
  let s3: TestS3;
  let redis: TestRedis;
  let gw: RunningGateway;
  let worker: TestWorker | undefined;
  let gwVar: string;
  let workerVar: string;
  let api: Client;
  const queue = { VOXFLEET_JOB_ATTEMPTS: '2', VOXFLEET_JOB_BACKOFF_MS: '100' };

  /** objects in the bucket now (s3rver keeps each as `<dir>/<bucket>/<key>._S3rver_object` beside its metadata) */
  const objects = async (): Promise<string[]> => (await filesUnder(join(s3.dir, s3.bucket))).filter((f) => f.endsWith('._S3rver_object'));

  beforeAll(async () => {
    [s3, redis] = await Promise.all([startS3(), startRedis()]);
    gwVar = await mkdtemp(join(tmpdir(), 'voxfleet-s3-gw-'));
    workerVar = await mkdtemp(join(tmpdir(), 'voxfleet-s3-worker-'));
    worker = await spawnWorker('ws3', { ...baseEnv(redis.url, workerVar), ...s3.env(), ...queue, VOXFLEET_BATCH_WAIT_MS: '50' });
    gw = await startTestGateway({ ...baseEnv(redis.url, gwVar), ...s3.env(), ...queue, VOXFLEET_API_KEYS: KEY });
    api = new Client(gw.url, KEY);
  }, 180_000);

  afterAll(async () => {
    await worker?.stop();
    await gw?.close();
    await redis?.stop();
    await s3?.stop();
    for (const d of [gwVar, workerVar]) if (d) await rm(d, { recursive: true, force: true });
  }, 60_000);

  it('transcribes single uploads whose audio lives only in the bucket (wav, and an m4a that needs seeking)', async () => {
    const wav = new Uint8Array(await readFile(CLIP));
    const created = await api.upload(wav, 'en-funasr-example.wav', { language: 'en' });
    expect(created.status).toBe(202);
    expect(created.body.audio).toMatchObject({ bytes: wav.length, format: 'wav' });
    expect(created.body.audio.durationSec).toBeCloseTo(7.18, 1);
    // The gateway kept nothing on its own disk: the upload went straight to the bucket.
    expect(await objects()).toHaveLength(1);
    const done = await api.waitFinal(created.body.id);
    expect(done.status).toBe('completed');
    expect(done.result.text.trim().length).toBeGreaterThan(5);
    expect(done.result.durationSec).toBeCloseTo(7.18, 1);

    // ffmpeg's mp4 muxer writes the index after the audio: probing and decoding it need a seekable file,
    // which the store lends each process from the bucket for the length of the call.
    const m4a = await encodeFile(CLIP, 'm4a', ['-c:a', 'aac', '-b:a', '64k']);
    const m = await api.upload(m4a, 'clip.m4a', { language: 'en' });
    expect(m.status).toBe(202);
    expect(m.body.audio).toMatchObject({ format: expect.stringMatching(/mp4|m4a|mov/) });
    expect(Math.abs(m.body.audio.durationSec - 7.2)).toBeLessThan(0.2); // AAC adds its priming samples
    const mDone = await api.waitFinal(m.body.id);
    expect(mDone.status).toBe('completed');
    expect(mDone.result.text.trim().length).toBeGreaterThan(5);

    for (const dir of [gwVar, workerVar]) expect(existsSync(join(dir, 'blobs'))).toBe(false);
    // the copies lent for probing and decoding are gone
    for (const dir of [gwVar, workerVar]) expect(await readdir(join(dir, 'blob-tmp')).catch(() => [])).toEqual([]);
  }, 180_000);

  it('ingests a zip and a tar.gz batch read in place from the bucket', async () => {
    const wav = new Uint8Array(await readFile(CLIP));
    const libri = new Uint8Array(await readFile(join(FIXTURES, 'en-librispeech-1995-1837-0001.wav')));
    const items = [
      { name: 'calls/', type: 'directory' as const },
      { name: 'calls/one.wav', data: wav },
      { name: 'calls/two.wav', data: libri },
      { name: 'calls/copy.wav', data: wav },
      { name: 'notes/readme.md', data: '# not audio' },
      { name: 'calls/broken.wav', data: 'this is not audio at all\n'.repeat(20) },
    ];
    // each with options of its own, so neither is answered from the other's (or the single upload's) cached results
    for (const [bytes, filename, fields] of [
      [await zipOf(items), 'calls.zip', {}],
      [await tarOf(items.filter((i) => i.type !== 'directory'), { gzip: true }), 'calls.tgz', { language: 'de' }],
    ] as const) {
      const created = await api.uploadBatch(bytes, filename, fields);
      expect(created.status).toBe(202);
      expect(created.body.entries).toMatchObject({ total: 5, audio: 4 });
      const done = await api.waitBatch(created.body.id);
      expect(done.status).toBe('completed');
      expect(done.counts).toMatchObject({ completed: 3, failed: 1, skipped: 1, cached: 0, queued: 0, processing: 0 });
      expect(done.deduplicated).toBe(1); // copy.wav shared one.wav's task
      const completed = (await api.get(`/v1/batches/${done.id}/jobs?status=completed`)).body.entries as Record<string, any>[];
      expect(completed.map((e) => e.path).sort()).toEqual(['calls/copy.wav', 'calls/one.wav', 'calls/two.wav']);
      for (const e of completed) expect(e.text.trim().length).toBeGreaterThan(0);
      const failed = (await api.get(`/v1/batches/${done.id}/jobs?status=failed`)).body.entries as Record<string, any>[];
      expect(failed.map((e) => e.path)).toEqual(['calls/broken.wav']);
    }
    for (const dir of [gwVar, workerVar]) expect(existsSync(join(dir, 'blobs'))).toBe(false);
  }, 240_000);

  it('a worker whose S3 endpoint is down fails the job with the reason after its retries, and keeps running', async () => {
    await worker!.stop();
    const dead = `http://127.0.0.1:${await freePort()}`;
    worker = await spawnWorker('ws3-down', { ...baseEnv(redis.url, workerVar), ...s3.env(), VOXFLEET_S3_ENDPOINT: dead, ...queue });
    // audio never sent before, so no cached result answers it
    const created = await api.upload(wavBytes((await fixtureSamples()).subarray(0, 3 * 16000)), 'clip.wav');
    expect(created.status).toBe(202);
    const done = await api.waitFinal(created.body.id);
    expect(done.status).toBe('failed');
    expect(done.error.code).toBe('processing_failed');
    expect(done.error.message).toMatch(new RegExp(`blob store s3://${s3.bucket}/blobs/ at ${dead.replace(/\./g, '\\.')}: download failed`));
    expect(worker.proc.exitCode).toBeNull();
    expect(worker.output()).toMatch(/will retry/);
    // and it still drains and exits cleanly on SIGTERM
    expect(await worker.stop()).toBe(0);
    worker = undefined;
  }, 180_000);

  it('a gateway whose S3 endpoint is down answers 503 service_unavailable, and keeps serving', async () => {
    const downVar = await mkdtemp(join(tmpdir(), 'voxfleet-s3-gwdown-'));
    const down = await startTestGateway({ ...baseEnv(redis.url, downVar), ...s3.env(), VOXFLEET_S3_ENDPOINT: `http://127.0.0.1:${await freePort()}`, VOXFLEET_API_KEYS: KEY });
    try {
      const client = new Client(down.url, KEY);
      const wav = new Uint8Array(await readFile(CLIP));
      for (const r of [await client.upload(wav, 'clip.wav'), await client.uploadBatch(await zipOf([{ name: 'a.wav', data: wav }]), 'a.zip'), await client.postRaw('/v1/batches?filename=a.zip', await zipOf([{ name: 'b.wav', data: wav }]), 'application/zip')]) {
        expect(r.status).toBe(503);
        expect(r.body.error.code).toBe('service_unavailable');
        expect(r.body.error.message).toMatch(/blob store .*upload failed/);
      }
      expect((await client.get('/healthz')).status).toBe(200);
    } finally {
      await down.close();
      await rm(downVar, { recursive: true, force: true });
    }
  }, 120_000);
});
