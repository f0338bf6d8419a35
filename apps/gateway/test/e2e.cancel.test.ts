/**
 * Cancel end to end: a queued job (no worker running yet) is removed from the
 * queue and never runs; a processing job is aborted on its worker, which
 * stays healthy.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetStats } from '@voxfleet/queue';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../src/index.js';
import { Client, baseEnv, distinctClips, fixtureSamples, spawnWorker, startRedis, type TestRedis, type TestWorker, stopStack, filesUnder } from '@voxfleet/testkit';
import { startTestGateway } from './harness.js';

/** the fleet's counters now */
const fleetStats = (client: Redis) => new FleetStats(client, 'voxfleet').read();

describe('cancel (redis + gateway + a worker started later)', () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  let worker: TestWorker | undefined;
  let varDir: string;
  let api: Client;
  let env: Record<string, string>;
  let samples: Float32Array;
  let queuedId = '';

  beforeAll(async () => {
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-var-'));
    redis = await startRedis();
    env = baseEnv(redis.url, varDir);
    gw = await startTestGateway({ ...env, VOXFLEET_API_KEYS: 'test-key-0123456789abcdef' });
    api = new Client(gw.url, 'test-key-0123456789abcdef');
    samples = await fixtureSamples('en-librispeech-1995-1837-0001.wav');
  }, 60_000);

  afterAll(() => stopStack({ worker, gw, redis, varDir }), 60_000);

  it('is not ready without a worker', async () => {
    const r = await api.get('/readyz');
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ ready: false, redis: true, workers: [] });
  });

  it('cancels a queued job: it leaves the queue, its audio is deleted at once, a later cancel is 409', async () => {
    const [clip] = distinctClips(samples, 1, 2);
    const created = await api.upload(clip!, 'queued.wav');
    expect(created.status).toBe(202);
    expect(created.body.status).toBe('queued');
    queuedId = created.body.id;

    const cancelled = await api.del(`/v1/jobs/${queuedId}`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    expect((await api.get(`/v1/jobs/${queuedId}?wait=5`)).body.status).toBe('cancelled');
    const again = await api.post(`/v1/jobs/${queuedId}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('already_finished');
    expect((await api.get(`/v1/jobs/${queuedId}/transcript`)).status).toBe(409);
    // the cancelled job's audio is deleted at once, not at retention
    expect(await filesUnder(join(varDir, 'blobs'))).toEqual([]);
    // DELETE on the (now final) job erases it
    expect((await api.del(`/v1/jobs/${queuedId}`)).status).toBe(204);
    expect((await api.get(`/v1/jobs/${queuedId}`)).status).toBe(404);
    const metrics = (await api.get('/metrics')).text;
    expect(metrics).toMatch(/voxfleet_queue_jobs\{queue="transcribe-voxfleet-en-char-ctc",state="prioritized"\} 0/);
    expect(metrics).toMatch(/voxfleet_queue_jobs\{queue="transcribe-voxfleet-en-char-ctc",state="waiting"\} 0/);
  });

  it('cancels a processing job on its worker; the worker stays healthy', async () => {
    // A long batching window keeps the job in "processing" (waiting for batch-mates) long enough to cancel it
    // (adaptive wait off: a lone job would otherwise run at once).
    worker = await spawnWorker('wc', { ...env, VOXFLEET_BATCH_MAX: '64', VOXFLEET_BATCH_WAIT_MS: '8000', VOXFLEET_BATCH_ADAPTIVE: 'off' });
    const [clip] = distinctClips(samples, 1, 3);
    const created = await api.upload(clip!, 'processing.wav');
    expect(created.status).toBe(202);
    const id = created.body.id;
    let status = created.body.status;
    for (let i = 0; i < 300 && status !== 'processing'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      status = (await api.get(`/v1/jobs/${id}`)).body.status;
    }
    expect(status).toBe('processing');

    const cancelled = await api.del(`/v1/jobs/${id}`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    // The worker aborts the task and records it.
    for (let i = 0; i < 500 && ((await fleetStats(redis.client)).tasks.cancelled) < 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await fleetStats(redis.client)).tasks.cancelled).toBe(1);
    expect(worker.output()).toMatch(/task cancelled/);
    expect((await fleetStats(redis.client)).tasks.completed).toBe(0);
    // Only the processing job ever started; the queued one was removed before any worker saw it.
    expect(worker.output().match(/task started/g)).toHaveLength(1);
    // The worker deleted the cancelled task's audio when it stopped it.
    for (let i = 0; i < 200 && (await filesUnder(join(varDir, 'blobs'))).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await filesUnder(join(varDir, 'blobs'))).toEqual([]);

    const [next] = distinctClips(samples, 1, 1.4);
    const ok = await api.upload(next!, 'after.wav');
    const done = await api.waitFinal(ok.body.id);
    expect(done.status).toBe('completed');
    // the queued job was erased by its DELETE in the test above
    expect((await api.get(`/v1/jobs/${queuedId}`)).status).toBe(404);
  }, 120_000);
});
