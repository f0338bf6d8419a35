/**
 * Tenants and erasure end to end (real redis-server, gateway, one worker):
 * the result cache is scoped per API key (tenant B uploading tenant A's exact
 * bytes is transcribed for B, not answered from A's cache); `DELETE` on a
 * finished job or batch erases its records, transcripts, cached results and
 * audio at once; `POST …/cancel` never erases.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobStore, ResultStore } from '@voxfleet/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../src/index.js';
import { Client, baseEnv, distinctClips, fixtureSamples, spawnWorker, startRedis, zipOf, type TestRedis, type TestWorker, filesUnder } from '@voxfleet/testkit';
import { startTestGateway } from './harness.js';

const KEY_A = 'tenant-a-key-0123456789abcdef';
const KEY_B = 'tenant-b-key-0123456789abcdef';

describe('tenant-scoped cache and erasure (redis + gateway + a worker)', () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  let worker: TestWorker;
  let varDir: string;
  let a: Client;
  let b: Client;
  let samples: Float32Array;
  const blobDir = (): string => join(varDir, 'blobs');

  beforeAll(async () => {
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-var-'));
    redis = await startRedis();
    const env = baseEnv(redis.url, varDir);
    worker = await spawnWorker('we', env);
    gw = await startTestGateway({ ...env, VOXFLEET_API_KEYS: `${KEY_A},${KEY_B}` });
    a = new Client(gw.url, KEY_A);
    b = new Client(gw.url, KEY_B);
    samples = await fixtureSamples('en-librispeech-1995-1837-0001.wav');
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
    await gw?.close();
    await redis?.stop();
    if (varDir) await rm(varDir, { recursive: true, force: true });
  }, 60_000);

  it("never answers one tenant from another's cache; each tenant's own repeat is cached", async () => {
    const [clip] = distinctClips(samples, 1, 2.4);
    const first = await a.upload(clip!, 'a.wav');
    expect(first.status).toBe(202);
    const doneA = await a.waitFinal(first.body.id);
    expect(doneA.status).toBe('completed');

    const fromB = await b.upload(clip!, 'b.wav');
    expect(fromB.status).toBe(202);
    expect(fromB.body.cached).toBe(false);
    const doneB = await b.waitFinal(fromB.body.id);
    expect(doneB).toMatchObject({ status: 'completed', cached: false });
    expect(doneB.result.text).toBe(doneA.result.text);

    const againA = await a.upload(clip!, 'a2.wav');
    expect(againA.status).toBe(200);
    expect(againA.body.cached).toBe(true);
    // and B cannot see A's jobs
    expect((await b.get(`/v1/jobs/${first.body.id}`)).status).toBe(404);
    expect((await b.del(`/v1/jobs/${first.body.id}`)).status).toBe(404);
  }, 120_000);

  it('erases a finished job: record, outcome, cached transcript and audio; cancel never erases', async () => {
    const [clip] = distinctClips(samples.subarray(3000), 1, 1.9);
    const created = await a.upload(clip!, 'erase-me.wav');
    const done = await a.waitFinal(created.body.id);
    expect(done.status).toBe('completed');
    const id = created.body.id as string;
    const record = await new JobStore(redis.client, 'voxfleet', 60).get(id);
    expect(record).not.toBeNull();
    const blobsBefore = await filesUnder(blobDir());
    expect(blobsBefore).toContain(record!.blobKey);

    const late = await a.post(`/v1/jobs/${id}/cancel`);
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('already_finished');

    const erased = await a.del(`/v1/jobs/${id}`);
    expect(erased.status).toBe(204);
    expect(erased.body).toBeNull();
    expect((await a.get(`/v1/jobs/${id}`)).status).toBe(404);
    expect((await a.get(`/v1/jobs/${id}/transcript`)).status).toBe(404);
    expect((await a.del(`/v1/jobs/${id}`)).status).toBe(404);
    expect(await new JobStore(redis.client, 'voxfleet', 60).get(id)).toBeNull();
    expect(await new ResultStore(redis.client, 'voxfleet', 60).get(record!.taskId)).toBeNull();
    expect(await filesUnder(blobDir())).toEqual(blobsBefore.filter((k) => k !== record!.blobKey));
    const listed = await a.get('/v1/jobs?limit=100');
    expect(listed.body.jobs.map((j: { id: string }) => j.id)).not.toContain(id);
    // the cached transcript went too: the same audio is transcribed again
    const again = await a.upload(clip!, 'erase-me.wav');
    expect(again.status).toBe(202);
    expect((await a.waitFinal(again.body.id)).status).toBe('completed');
  }, 120_000);

  it('erases a finished batch with its jobs and their audio', async () => {
    const clips = distinctClips(samples.subarray(6000), 2, 1.5);
    const zip = await zipOf(clips.map((c, i) => ({ name: `calls/c${i}.wav`, data: c })));
    const up = await a.uploadBatch(zip, 'calls.zip');
    expect(up.status).toBe(202);
    const done = await a.waitBatch(up.body.id);
    expect(done.status).toBe('completed');
    const entries = (await a.get(`/v1/batches/${up.body.id}/jobs`)).body.entries as { jobId: string }[];
    expect(entries).toHaveLength(2);
    const records = await Promise.all(entries.map((e) => new JobStore(redis.client, 'voxfleet', 60).get(e.jobId)));
    const blobs = records.map((r) => r!.blobKey);
    for (const k of blobs) expect(await filesUnder(blobDir())).toContain(k);

    expect((await a.post(`/v1/batches/${up.body.id}/cancel`)).status).toBe(409);
    expect((await b.del(`/v1/batches/${up.body.id}`)).status).toBe(404);
    const erased = await a.del(`/v1/batches/${up.body.id}`);
    expect(erased.status).toBe(204);
    expect((await a.get(`/v1/batches/${up.body.id}`)).status).toBe(404);
    for (const e of entries) expect((await a.get(`/v1/jobs/${e.jobId}`)).status).toBe(404);
    const left = await filesUnder(blobDir());
    for (const k of blobs) expect(left).not.toContain(k);
  }, 120_000);
});
