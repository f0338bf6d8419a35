/* eslint-disable @typescript-eslint/no-explicit-any -- API answers are inspected field by field */
/**
 * Routing by model across the fleet, end to end (real redis-server, gateway,
 * worker processes): two workers serve the default model and one serves it
 * under another name — another model as far as the fleet knows, with its own
 * queue. Each job goes to its model's queue and lands only on a worker that
 * holds that model; an unknown model is refused; a configured model with no
 * live worker queues its jobs and says so in /v1/models and /readyz. Then
 * both holders of the default model are killed (-9) mid-batch and a worker
 * with another build of it (int8) starts: the killed workers' jobs are taken
 * up again once their locks expire and it adopts them; nothing is lost, and a
 * re-run job reports 2 attempts.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, baseEnv, distinctClips, fixtureSamples, spawnWorker, startGatewayWith, startRedis, stopProcess, type TestRedis, type TestWorker, stopStack } from '@voxfleet/testkit';
import { startGateway, type RunningGateway } from '@voxfleet/gateway';

const KEY = 'test-key-0123456789abcdef';

describe('a fleet of several models and builds (redis + gateway + workers)', () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  let varDir: string;
  let api: Client;
  let env: Record<string, string>;
  let samples: Float32Array;
  const workers: TestWorker[] = [];

  beforeAll(async () => {
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-var-'));
    redis = await startRedis();
    // short heartbeats and locks, so a killed worker is noticed within seconds
    env = { ...baseEnv(redis.url, varDir), VOXFLEET_HEARTBEAT_TTL_MS: '2000', VOXFLEET_LOCK_MS: '2000', VOXFLEET_STALLED_INTERVAL_MS: '1000' };
    gw = await startGatewayWith(startGateway, { ...env, VOXFLEET_API_KEYS: KEY, VOXFLEET_MODELS: 'voxfleet-en-char-ctc,other-model,absent-model', VOXFLEET_MODEL_ALIASES: 'default=voxfleet-en-char-ctc,other=other-model' });
    api = new Client(gw.url, KEY);
    samples = await fixtureSamples('en-librispeech-1995-1837-0001.wav');
    workers.push(...(await Promise.all([spawnWorker('fp32-a', env), spawnWorker('fp32-b', env), spawnWorker('other', { ...env, VOXFLEET_MODEL_NAME: 'other-model' })])));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await stopStack({ gw, redis, varDir });
  }, 60_000);

  const modelOf = async (id: string): Promise<string> => {
    const r = await api.get('/readyz');
    return (r.body.workers as { id: string; models: { id: string }[] }[]).find((w) => w.id === id)!.models[0]!.id;
  };

  it("routes each job to its model's queue: it lands only on a worker holding that model", async () => {
    const fp32 = await modelOf('fp32-a');
    expect(await modelOf('fp32-b')).toBe(fp32);
    expect(fp32).toMatch(/^voxfleet-en-char-ctc@[0-9a-f]{12}\+beam-[0-9a-f]{8}\/fp32$/);
    const other = await modelOf('other');
    expect(other).toMatch(/^other-model@/);

    const clips = distinctClips(samples, 24, 1.3);
    const created = await Promise.all(clips.map((c, i) => api.upload(c, `mix-${i}.wav`, i % 2 ? { model: 'other' } : {})));
    for (const c of created) expect(c.status).toBe(202);
    const done = await Promise.all(created.map((c) => api.waitFinal(c.body.id, 60)));
    done.forEach((d, i) => {
      expect(d.status).toBe('completed');
      expect(d.processing.attempts).toBe(1);
      if (i % 2) {
        expect(d.result.modelId).toBe(other);
        expect(d.processing.workerId).toBe('other');
      } else {
        expect(d.result.modelId).toBe(fp32);
        expect(['fp32-a', 'fp32-b']).toContain(d.processing.workerId);
      }
    });
    expect(workers[2]!.output()).not.toMatch(/model_mismatch/);

    // unknown models are refused; a configured one with no worker queues its jobs and says so
    const unknown = await api.upload(clips[0]!, 'x.wav', { model: 'no-such-model' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('unknown_model');
    const waiting = await api.upload(clips[1]!, 'w.wav', { model: 'absent-model' });
    expect(waiting.status).toBe(202);
    expect(waiting.body.status).toBe('queued');
    const models = (await api.get('/v1/models')).body;
    expect(models.defaultModel).toBe('voxfleet-en-char-ctc');
    const byName = Object.fromEntries((models.models as { name: string }[]).map((m) => [m.name, m])) as Record<string, Record<string, any>>;
    expect(byName['voxfleet-en-char-ctc']).toMatchObject({ status: 'ready', default: true, identity: fp32, workers: { ready: 2 }, aliases: ['default'], kinds: ['voxfleet-ctc'], precisions: ['fp32'], providers: ['cpu'] });
    expect(byName['other-model']).toMatchObject({ status: 'ready', identity: other, workers: { ready: 1 }, aliases: ['other'] });
    expect(byName['absent-model']).toMatchObject({ status: 'no_workers', identity: null, workers: { ready: 0 } });
    expect(byName['absent-model']!.backlog.waiting + byName['absent-model']!.backlog.prioritized).toBe(1);
    expect((await api.get('/readyz?model=absent-model')).status).toBe(503);
    expect((await api.get('/readyz?model=other')).status).toBe(200);
    expect((await api.get('/readyz')).status).toBe(200);
  }, 240_000);

  it('loses nothing when both holders die mid-batch: another build of the model adopts their tasks, re-runs count 2 attempts', async () => {
    const [a, b] = workers;
    // Enough jobs that both holders have started some when they are killed.
    const marks = [a!.output().length, b!.output().length];
    const created = await Promise.all(distinctClips(samples.subarray(4000), 40, 1.6).map((c, i) => api.upload(c, `crash-${i}.wav`)));
    for (const c of created) expect(c.status).toBe(202);
    const started = (w: TestWorker, mark: number): boolean => /task started/.test(w.output().slice(mark));
    for (let i = 0; i < 500 && !(started(a!, marks[0]!) && started(b!, marks[1]!)); i++) await new Promise((r) => setTimeout(r, 10));
    await Promise.all([stopProcess(a!.proc, 'SIGKILL'), stopProcess(b!.proc, 'SIGKILL')]);
    workers.push(await spawnWorker('int8', { ...env, VOXFLEET_PRECISION: 'int8' }));
    const int8 = await modelOf('int8');
    expect(int8).toMatch(/\/int8$/);
    const done = await Promise.all(created.map((c) => api.waitFinal(c.body.id, 60)));
    expect(done.filter((d) => d.status !== 'completed').map((d) => [d.status, d.error])).toEqual([]);
    const byInt8 = done.filter((d) => d.processing.workerId === 'int8');
    expect(byInt8.length).toBeGreaterThan(0);
    for (const d of byInt8) expect(d.result.modelId).toBe(int8);
    expect(done.every((d) => d.processing.workerId !== 'other')).toBe(true);
    // Jobs the killed workers had started ran a second time, on the int8 worker.
    const rerun = done.filter((d) => d.processing.attempts === 2);
    expect(rerun.length).toBeGreaterThan(0);
    for (const d of rerun) expect(d.processing.workerId).toBe('int8');
    expect(done.every((d) => d.processing.attempts <= 2)).toBe(true);
  }, 240_000);
});
