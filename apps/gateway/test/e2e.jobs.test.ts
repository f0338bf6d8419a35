/**
 * End to end: real redis-server, two real worker processes with the default
 * model, the gateway over real HTTP.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetStats } from '@voxfleet/queue';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../src/index.js';
import {
  CLIP,
  Client,
  baseEnv,
  distinctClips,
  ffmpegEncode,
  fixtureSamples,
 
  spawnWorker,
  startRedis,
  type TestRedis,
  type TestWorker,
} from '@voxfleet/testkit';
import { startTestGateway } from './harness.js';

/** the fleet's counters now */
const fleetStats = (client: Redis) => new FleetStats(client, 'voxfleet').read();
const MAX_UPLOAD = 1024 * 1024;

describe('job service end to end (redis + 2 workers + gateway)', () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  let workers: TestWorker[] = [];
  let varDir: string;
  let api: Client;
  let samples: Float32Array;

  beforeAll(async () => {
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-var-'));
    redis = await startRedis();
    const env = { ...baseEnv(redis.url, varDir), VOXFLEET_BATCH_MAX: '8', VOXFLEET_BATCH_WAIT_MS: '100' };
    workers = await Promise.all([spawnWorker('w1', env), spawnWorker('w2', env)]);
    gw = await startTestGateway({ ...env, VOXFLEET_MAX_UPLOAD_BYTES: String(MAX_UPLOAD) });
    api = new Client(gw.url, gw.apiKeys.keys[0]!);
    samples = await fixtureSamples();
  }, 180_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await gw?.close();
    await redis?.stop();
    if (varDir) await rm(varDir, { recursive: true, force: true });
  }, 60_000);

  it('generates an API key on first start and stores it with mode 0600', async () => {
    expect(gw.apiKeys.generated).toBe(true);
    const { stat } = await import('node:fs/promises');
    const st = await stat(join(varDir, 'api-key'));
    expect(st.mode & 0o777).toBe(0o600);
    expect((await readFile(join(varDir, 'api-key'), 'utf8')).trim()).toBe(gw.apiKeys.keys[0]);
  });

  it('is healthy and ready with both workers reporting a loaded model', async () => {
    expect((await api.get('/healthz')).status).toBe(200);
    const ready = await api.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.ready).toBe(true);
    expect(ready.body.workers.map((w: { id: string }) => w.id).sort()).toEqual(['w1', 'w2']);
  });

  it('transcribes a real clip: upload → long-poll → transcript as json, txt, srt and vtt', async () => {
    const bytes = new Uint8Array(await readFile(CLIP));
    const created = await api.upload(bytes, 'en-funasr-example.wav', { language: 'en' });
    expect(created.status).toBe(202);
    expect(['queued', 'processing']).toContain(created.body.status);
    expect(created.body).toMatchObject({ cached: false, audio: { bytes: bytes.length, filename: 'en-funasr-example.wav', format: 'wav' } });
    expect(created.body.id).toMatch(/^j_/);
    expect(created.body.audio.md5).toMatch(/^[0-9a-f]{32}$/);
    expect(created.body.audio.durationSec).toBeCloseTo(7.18, 1);

    const done = await api.waitFinal(created.body.id);
    expect(done.status).toBe('completed');
    expect(done.progress).toBe(100);
    expect(done.result).toMatchObject({ language: 'en', modelId: expect.any(String) });
    expect(done.result.durationSec).toBeCloseTo(7.18, 1);
    expect(Array.isArray(done.result.segments)).toBe(true);
    for (const s of done.result.segments) expect(s.end).toBeGreaterThanOrEqual(s.start);
    expect(done.startedAt).not.toBeNull();
    expect(done.completedAt).not.toBeNull();

    const json = await api.get(`/v1/jobs/${done.id}/transcript?format=json`);
    expect(json.status).toBe(200);
    expect(json.contentType).toContain('application/json');
    expect(json.body).toMatchObject({ id: done.id, text: done.result.text, segments: done.result.segments });

    const txt = await api.get(`/v1/jobs/${done.id}/transcript?format=txt`);
    expect(txt.contentType).toContain('text/plain');
    expect(txt.text).toBe(`${done.result.text.trim()}\n`);

    const srt = await api.get(`/v1/jobs/${done.id}/transcript?format=srt`);
    expect(srt.contentType).toContain('application/x-subrip');
    const vtt = await api.get(`/v1/jobs/${done.id}/transcript?format=vtt`);
    expect(vtt.contentType).toContain('text/vtt');
    expect(vtt.text.startsWith('WEBVTT\n')).toBe(true);
    const cues = done.result.segments.filter((s: { text: string }) => s.text.trim() !== '');
    expect(srt.text.match(/-->/g)?.length ?? 0).toBe(cues.length);
    expect(vtt.text.match(/-->/g)?.length ?? 0).toBe(cues.length);
    if (cues.length > 0) {
      expect(srt.text).toMatch(/^1\n\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}\n/);
      expect(vtt.text).toMatch(/\n\d{2}:\d{2}:\d{2}\.\d{3} --> \d{2}:\d{2}:\d{2}\.\d{3}\n/);
    }
    expect((await api.get(`/v1/jobs/${done.id}/transcript?format=doc`)).status).toBe(400);

    // The same bytes again: answered from the cache, no job run, no inference.
    const before = { items: (await fleetStats(redis.client)).batchItems, tasks: (await fleetStats(redis.client)).tasks.completed };
    const again = await api.upload(bytes, 'copy.wav', { language: 'en' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ status: 'completed', cached: true, progress: 100, result: { text: done.result.text } });
    expect(again.body.id).not.toBe(done.id);
    expect((await api.get(`/v1/jobs/${again.body.id}`)).body).toMatchObject({ status: 'completed', cached: true });
    expect((await api.get(`/v1/jobs/${again.body.id}/transcript?format=txt`)).text).toBe(txt.text);
    expect((await fleetStats(redis.client)).batchItems).toBe(before.items);
    expect((await fleetStats(redis.client)).tasks.completed).toBe(before.tasks);

    // Other output options are another cache entry.
    const otherLang = await api.upload(bytes, 'copy.wav', { language: 'de' });
    expect(otherLang.status).toBe(202);
    expect((await api.waitFinal(otherLang.body.id)).status).toBe('completed');
  });

  it('transcribes identical uploads in flight together once, and honours Idempotency-Key', async () => {
    const [clip] = distinctClips(samples.subarray(16000), 1, 2.2);
    const runsBefore = (await fleetStats(redis.client)).tasks.completed;
    const [a, b] = await Promise.all([api.upload(clip!, 'a.wav'), api.upload(clip!, 'b.wav')]);
    // Whichever arrives second attaches to the first one's task (202), or, if that already finished, gets its cached result (200).
    expect([a.status, b.status].sort()).toContain(202);
    for (const s of [a.status, b.status]) expect([200, 202]).toContain(s);
    const [da, db] = await Promise.all([api.waitFinal(a.body.id), api.waitFinal(b.body.id)]);
    expect(da.status).toBe('completed');
    expect(db.status).toBe('completed');
    expect(db.result.text).toBe(da.result.text);
    expect((await fleetStats(redis.client)).tasks.completed).toBe(runsBefore + 1);

    const [clip2] = distinctClips(samples.subarray(8000), 1, 1.3);
    const first = await api.upload(clip2!, 'i.wav', {}, { 'Idempotency-Key': 'order-42' });
    const replay = await api.upload(clip2!, 'i.wav', {}, { 'Idempotency-Key': 'order-42' });
    expect(replay.body.id).toBe(first.body.id);
    await api.waitFinal(first.body.id);
  });

  it('runs 40 concurrent jobs on two workers: each completed exactly once, batches larger than 1', async () => {
    const clips = distinctClips(samples, 40, 1.2);
    const tasksBefore = (await fleetStats(redis.client)).tasks.completed;
    const created = await Promise.all(clips.map((c, i) => api.upload(c, `clip-${i}.wav`)));
    for (const c of created) expect(c.status).toBe(202);
    const done = await Promise.all(created.map((c) => api.waitFinal(c.body.id, 60)));
    for (const d of done) {
      expect(d.status).toBe('completed');
      expect(d.processing.attempts).toBe(1);
    }
    expect((await fleetStats(redis.client)).tasks.completed).toBe(tasksBefore + 40);
    // Every task ran exactly once (attempts counts the runs a task started).
    expect(done.every((d) => d.processing.attempts === 1)).toBe(true);
    const batchSizes = done.flatMap((d) => d.processing.batchSizes as number[]);
    expect(Math.max(...batchSizes)).toBeGreaterThan(1);
    const workersUsed = new Set(done.map((d) => d.processing.workerId));
    expect(workersUsed.size).toBe(2);
    const histogram = (await fleetStats(redis.client)).batchSizes;
    expect(Object.keys(histogram).some((k) => Number(k) > 1)).toBe(true);
    // the gateway's /metrics: the fleet's outcomes (batch histograms are on each worker's own listener)
    const metrics = await api.get('/metrics');
    expect(Number(/voxfleet_tasks_total\{outcome="completed"\} (\d+)/.exec(metrics.text)?.[1])).toBeGreaterThanOrEqual(tasksBefore + 40);
    expect(metrics.text).toMatch(/voxfleet_http_request_duration_seconds_count\{method="POST",route="\/v1\/jobs",status="202"\} \d+/);
  }, 240_000);

  it('rejects bad input with a clear 4xx and the workers stay healthy', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'voxfleet-bad-'));
    try {
      const empty = await api.upload(new Uint8Array(0), 'empty.wav');
      expect(empty.status).toBe(400);
      expect(empty.body.error).toMatchObject({ code: 'empty_file', message: expect.stringMatching(/empty/) });

      const text = await api.upload(new TextEncoder().encode('this is not audio, just a text file\n'.repeat(20)), 'notes.wav');
      expect([415, 422]).toContain(text.status);
      expect(text.body.error.code).toMatch(/undecodable_audio|unsupported_audio/);
      expect(text.body.error.message).toMatch(/audio/i);

      // A truncated mp3: only its first 300 bytes (no complete frame). Encoded with the bundled ffmpeg (no system ffmpeg needed).
      const mp3 = join(tmp, 'clip.mp3');
      await ffmpegEncode(['-i', CLIP, '-c:a', 'libmp3lame', '-b:a', '64k', mp3]);
      const truncated = (await readFile(mp3)).subarray(0, 300);
      const bad = await api.upload(new Uint8Array(truncated), 'cut.mp3');
      expect([415, 422]).toContain(bad.status);
      expect(bad.body.error.message).toMatch(/decode|audio/i);

      const big = await api.upload(new Uint8Array(MAX_UPLOAD + 200_000), 'big.wav');
      expect(big.status).toBe(413);
      expect(big.body.error).toMatchObject({ code: 'file_too_large', message: expect.stringMatching(/limit/) });

      const form = new FormData();
      form.append('language', 'en');
      const noFile = await fetch(`${gw.url}/v1/jobs`, { method: 'POST', body: form, headers: api.headers() });
      expect(noFile.status).toBe(400);
      expect(((await noFile.json()) as { error: { code: string } }).error.code).toBe('missing_file');

      const notMultipart = await fetch(`${gw.url}/v1/jobs`, { method: 'POST', body: 'x', headers: api.headers({ 'content-type': 'text/plain' }) });
      expect(notMultipart.status).toBe(400);

      const badLang = await api.upload(new Uint8Array(await readFile(CLIP)), 'x.wav', { language: 'english please' });
      expect(badLang.status).toBe(400);
      expect(badLang.body.error.code).toBe('invalid_language');

      const unknown = await api.get('/v1/jobs/j_doesnotexist000');
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.code).toBe('not_found');
      expect((await api.del('/v1/jobs/j_doesnotexist000')).status).toBe(404);

      const noKey = await new Client(gw.url, null).upload(new Uint8Array(await readFile(CLIP)));
      expect(noKey.status).toBe(401);
      expect(noKey.body.error.message).toMatch(/API key/);
      const wrongKey = await new Client(gw.url, 'vf_wrong_wrong_wrong_wrong').get('/v1/jobs');
      expect(wrongKey.status).toBe(401);
      expect(wrongKey.body.error).toMatchObject({ code: 'unauthorized', message: 'invalid API key' });
      expect((await api.get('/v1/nothing')).status).toBe(404);

      // Nothing bad was stored or queued, and the fleet still works.
      const [clip] = distinctClips(samples.subarray(4000), 1, 1.7);
      const ok = await api.upload(clip!, 'fine.wav');
      expect(ok.status).toBe(202);
      expect((await api.waitFinal(ok.body.id)).status).toBe('completed');
      expect((await api.get('/readyz')).body.workers).toHaveLength(2);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('lists jobs newest first with status filter and cursor paging', async () => {
    const all = await api.get('/v1/jobs?limit=100');
    expect(all.status).toBe(200);
    expect(all.body.jobs.length).toBeGreaterThan(40);
    const created = all.body.jobs.map((j: { createdAt: string }) => j.createdAt);
    expect([...created].sort().reverse()).toEqual(created);
    const page1 = await api.get('/v1/jobs?limit=5&status=completed');
    expect(page1.body.jobs).toHaveLength(5);
    expect(page1.body.jobs.every((j: { status: string }) => j.status === 'completed')).toBe(true);
    const page2 = await api.get(`/v1/jobs?limit=5&status=completed&cursor=${page1.body.nextCursor}`);
    const ids1 = new Set(page1.body.jobs.map((j: { id: string }) => j.id));
    expect(page2.body.jobs.some((j: { id: string }) => ids1.has(j.id))).toBe(false);
    expect((await api.get('/v1/jobs?status=bogus')).status).toBe(400);
    // A finished job cannot be cancelled.
    const conflict = await api.post(`/v1/jobs/${page1.body.jobs[0].id}/cancel`);
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('already_finished');
  });

  it('drains on SIGTERM mid-batch: the worker finishes its jobs and exits 0, none are lost', async () => {
    const [w1] = workers;
    const clips = distinctClips(samples.subarray(2000), 16, 2.5);
    const mark = w1!.output().length;
    const created = await Promise.all(clips.map((c, i) => api.upload(c, `drain-${i}.wav`)));
    // Wait until w1 has taken jobs, then ask it to stop.
    for (let i = 0; i < 600 && !/task started/.test(w1!.output().slice(mark)); i++) await new Promise((r) => setTimeout(r, 20));
    w1!.proc.kill('SIGTERM');
    const code = await w1!.exited;
    expect(code).toBe(0);
    expect(w1!.output().slice(mark)).toMatch(/draining[\s\S]*stopped/);
    const done = await Promise.all(created.map((c) => api.waitFinal(c.body.id, 60)));
    expect(done.every((d) => d.status === 'completed')).toBe(true);
    const byW1 = done.filter((d) => d.processing.workerId === 'w1').length;
    expect(byW1).toBeGreaterThan(0); // w1 finished what it had taken
    // none ran twice: w1 finished what it had started
    expect(done.every((d) => d.processing.attempts === 1)).toBe(true);
    const ready = await api.get('/readyz');
    expect(ready.body.workers.map((w: { id: string }) => w.id)).toEqual(['w2']);
  }, 240_000);
});
