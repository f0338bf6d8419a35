/**
 * The fleet across workers of different model builds, end to end (real
 * redis-server, gateway, worker processes with the default model): two fp32
 * workers and one int8 worker serve one queue. The gateway keys tasks with
 * the identity most live workers announce (fp32), so the int8 worker hands
 * every task it picks up back to the queue (`model_mismatch`) and each job
 * lands on an fp32 worker. Then both fp32 workers are killed (-9) mid-batch:
 * their jobs are taken up again once their locks expire and, with no fp32
 * worker left, the int8 worker adopts them (same model, other precision);
 * nothing is lost and a re-run job reports 2 attempts.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, baseEnv, distinctClips, fixtureSamples, spawnWorker, startGatewayWith, startRedis, stopProcess, type TestRedis, type TestWorker, stopStack } from '@voxfleet/testkit';
import { startGateway, type RunningGateway } from '@voxfleet/gateway';

const KEY = 'test-key-0123456789abcdef';

describe('fleet of mixed model builds (redis + gateway + 3 workers)', () => {
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
    gw = await startGatewayWith(startGateway, { ...env, VOXFLEET_API_KEYS: KEY });
    api = new Client(gw.url, KEY);
    samples = await fixtureSamples('en-librispeech-1995-1837-0001.wav');
    workers.push(...(await Promise.all([spawnWorker('fp32-a', env), spawnWorker('fp32-b', env), spawnWorker('int8', { ...env, VOXFLEET_PRECISION: 'int8' })])));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await stopStack({ gw, redis, varDir });
  }, 60_000);

  const modelOf = async (id: string): Promise<string> => {
    const r = await api.get('/readyz');
    return (r.body.workers as { id: string; model: string }[]).find((w) => w.id === id)!.model;
  };

  it('sends every job to a worker holding the model it was keyed for; the other build hands tasks back', async () => {
    const fp32 = await modelOf('fp32-a');
    expect(await modelOf('fp32-b')).toBe(fp32);
    const int8 = await modelOf('int8');
    expect(int8).not.toBe(fp32);
    expect(int8.replace(/@.*$/, '')).toBe(fp32.replace(/@.*$/, '')); // one model, two builds
    expect(fp32).toMatch(/\/fp32$/);

    const created = await Promise.all(distinctClips(samples, 24, 1.3).map((c, i) => api.upload(c, `mix-${i}.wav`)));
    for (const c of created) expect(c.status).toBe(202);
    const done = await Promise.all(created.map((c) => api.waitFinal(c.body.id, 60)));
    for (const d of done) {
      expect(d.status).toBe('completed');
      expect(d.result.modelId).toBe(fp32);
      expect(['fp32-a', 'fp32-b']).toContain(d.processing.workerId);
      expect(d.processing.attempts).toBe(1);
    }
    expect(workers[2]!.output()).toMatch(/model_mismatch: handing the task back/);
  }, 240_000);

  it('loses nothing when the fp32 workers die mid-batch: the int8 worker adopts their tasks, re-runs count 2 attempts', async () => {
    const int8 = await modelOf('int8');
    const [a, b] = workers;
    // Enough jobs that both fp32 workers hold some when they are killed.
    const marks = [a!.output().length, b!.output().length];
    const created = await Promise.all(distinctClips(samples.subarray(4000), 40, 1.6).map((c, i) => api.upload(c, `crash-${i}.wav`)));
    for (const c of created) expect(c.status).toBe(202);
    const started = (w: TestWorker, mark: number): boolean => /task started/.test(w.output().slice(mark));
    for (let i = 0; i < 500 && !(started(a!, marks[0]!) && started(b!, marks[1]!)); i++) await new Promise((r) => setTimeout(r, 10));
    await Promise.all([stopProcess(a!.proc, 'SIGKILL'), stopProcess(b!.proc, 'SIGKILL')]);
    const done = await Promise.all(created.map((c) => api.waitFinal(c.body.id, 60)));
    expect(done.filter((d) => d.status !== 'completed').map((d) => [d.status, d.error])).toEqual([]);
    const byInt8 = done.filter((d) => d.processing.workerId === 'int8');
    expect(byInt8.length).toBeGreaterThan(0);
    for (const d of byInt8) expect(d.result.modelId).toBe(int8);
    // Jobs the killed workers had started ran a second time on the int8 worker.
    const rerun = done.filter((d) => d.processing.attempts === 2);
    expect(rerun.length).toBeGreaterThan(0);
    for (const d of rerun) expect(d.processing.workerId).toBe('int8');
    expect(done.every((d) => d.processing.attempts <= 2)).toBe(true);
  }, 240_000);
});
