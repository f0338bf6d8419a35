/* eslint-disable @typescript-eslint/no-explicit-any -- Prometheus API answers are inspected field by field */
/**
 * Metrics end to end: a real Prometheus (Debian's `prometheus`, on a free
 * loopback port, its own temporary storage, scraping every second, loading
 * deploy/prometheus/rules.yml) scrapes a real gateway and a real worker
 * process (real redis-server, the default model) through their own metrics
 * listeners. The key series exist from the start, move once jobs have run,
 * and the alert rules evaluate against them without error. Skipped only when
 * prometheus is not installed (CI installs it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@voxfleet/config';
import { startGateway, type RunningGateway } from '@voxfleet/gateway';
import { Client, baseEnv, distinctClips, fixtureSamples, freePort, spawnWorker, startGatewayWith, startRedis, stopProcess, stopStack, type TestRedis, type TestWorker } from '@voxfleet/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const KEY = 'test-key-0123456789abcdef';
const hasPrometheus = spawnSync('prometheus', ['--version']).status === 0;
if (!hasPrometheus) console.warn('e2e.prometheus: skipped, `prometheus` is not installed (Debian: apt-get install prometheus)');

describe.skipIf(!hasPrometheus)('Prometheus scraping a gateway and a worker (real prometheus, redis, processes)', () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  let worker: TestWorker;
  let prom: ChildProcess;
  let promOut = '';
  let varDir: string;
  let promUrl: string;
  let api: Client;

  /** One instant query: the sum of all matching series' values (NaN when there are none). */
  const value = async (q: string): Promise<number> => {
    const r = (await (await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as any;
    if (r.status !== 'success') throw new Error(`query ${q}: ${JSON.stringify(r)}`);
    const rows = r.data.result as { value: [number, string] }[];
    return rows.length === 0 ? NaN : rows.reduce((n, row) => n + Number(row.value[1]), 0);
  };
  /** Waits until `check` holds for the value of `q` (scrapes are 1 s apart). */
  const until = async (q: string, check: (v: number) => boolean, ms = 30_000): Promise<number> => {
    const end = Date.now() + ms;
    let v = NaN;
    while (Date.now() < end) {
      v = await value(q);
      if (check(v)) return v;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${q} is ${v} after ${ms} ms\n${promOut.slice(-2000)}`);
  };

  beforeAll(async () => {
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-prom-'));
    redis = await startRedis();
    const [workerPort, gatewayPort, promPort] = [await freePort(), await freePort(), await freePort()];
    const env = baseEnv(redis.url, varDir);
    worker = await spawnWorker('wprom', { ...env, VOXFLEET_METRICS_PORT: String(workerPort), VOXFLEET_BATCH_WAIT_MS: '50' });
    gw = await startGatewayWith(startGateway, { ...env, VOXFLEET_API_KEYS: KEY, VOXFLEET_METRICS_PORT: String(gatewayPort) });
    api = new Client(gw.url, KEY);
    expect(gw.telemetry.prometheusUrl).toBe(`http://127.0.0.1:${gatewayPort}/metrics`);

    const config = join(varDir, 'prometheus.yml');
    await writeFile(
      config,
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: ['${join(REPO_ROOT, 'deploy/prometheus/rules.yml')}']`,
        'scrape_configs:',
        `  - { job_name: voxfleet-gateway, static_configs: [{ targets: ['127.0.0.1:${gatewayPort}'] }] }`,
        `  - { job_name: voxfleet-worker, static_configs: [{ targets: ['127.0.0.1:${workerPort}'] }] }`,
        '',
      ].join('\n'),
    );
    prom = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(varDir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    prom.stdout!.on('data', (b: Buffer) => (promOut += b.toString()));
    prom.stderr!.on('data', (b: Buffer) => (promOut += b.toString()));
    promUrl = `http://127.0.0.1:${promPort}`;
    for (let i = 0; ; i++) {
      const ready = await fetch(`${promUrl}/-/ready`).then((r) => r.ok, () => false);
      if (ready) break;
      if (i > 200 || prom.exitCode !== null) throw new Error(`prometheus did not start:\n${promOut}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 180_000);

  afterAll(async () => {
    if (prom) await stopProcess(prom);
    await worker?.stop();
    await stopStack({ gw, redis, varDir });
    if (varDir) await rm(varDir, { recursive: true, force: true });
  }, 60_000);

  it('scrapes both processes: their health, queue, worker and model series exist before any job', async () => {
    await until('up{job="voxfleet-gateway"}', (v) => v === 1);
    await until('up{job="voxfleet-worker"}', (v) => v === 1);
    await until('voxfleet_workers{model="voxfleet-en-char-ctc",status="ready"}', (v) => v === 1);
    expect(await until('count(voxfleet_queue_jobs{queue="transcribe-voxfleet-en-char-ctc"})', (v) => v >= 5)).toBeGreaterThanOrEqual(5); // every state
    expect(await until('voxfleet_model_loaded{model="voxfleet-en-char-ctc"}', (v) => v === 1)).toBe(1);
    expect(await until('voxfleet_model_load_seconds{model="voxfleet-en-char-ctc",precision="fp32"}', (v) => v > 0)).toBeGreaterThan(0);
    for (const job of ['voxfleet-gateway', 'voxfleet-worker']) expect(await until(`voxfleet_process_memory_bytes{job="${job}",type="rss"}`, (v) => v > 10e6)).toBeGreaterThan(10e6);
    // the resource names the process
    expect(await until('count(target_info{job="voxfleet-worker",service_name="voxfleet-worker",service_instance_id="wprom"})', (v) => v === 1)).toBe(1);
  });

  it('the job, batch, cache and request series move once jobs have run', async () => {
    const before = {
      completed: (await value('voxfleet_tasks_total{outcome="completed"}')) || 0,
      uploads: (await value('voxfleet_http_request_duration_seconds_count{method="POST",route="/v1/jobs"}')) || 0,
    };
    const clips = distinctClips(await fixtureSamples(), 4, 1.2);
    const created = await Promise.all(clips.map((c, i) => api.upload(c, `c${i}.wav`)));
    for (const c of created) expect(c.status).toBe(202);
    for (const c of created) expect((await api.get(`/v1/jobs/${c.body.id}?wait=60`)).body.status).toBe('completed');
    // the same audio again: answered from the result cache
    const again = await api.upload(clips[0]!, 'again.wav');
    expect(again.body.cached).toBe(true);

    const model = 'model="voxfleet-en-char-ctc"';
    expect(await until(`voxfleet_job_duration_seconds_count{${model},outcome="completed"}`, (v) => v >= 4)).toBeGreaterThanOrEqual(4);
    expect(await until(`voxfleet_job_queue_wait_seconds_count{${model}}`, (v) => v >= 4)).toBeGreaterThanOrEqual(4);
    expect(await until(`voxfleet_job_rtfx_count{${model}}`, (v) => v >= 4)).toBeGreaterThanOrEqual(4);
    expect(await until(`voxfleet_audio_seconds_total{${model}}`, (v) => v > 4 * 1.2)).toBeGreaterThan(4 * 1.2);
    expect(await until(`voxfleet_batch_size_count{${model}}`, (v) => v >= 1)).toBeGreaterThanOrEqual(1);
    expect(await until(`voxfleet_batch_size_sum{${model}}`, (v) => v >= 4)).toBeGreaterThanOrEqual(4); // every piece ran in a batch
    expect(await until(`voxfleet_batch_padding_ratio_count{${model}}`, (v) => v >= 1)).toBeGreaterThanOrEqual(1);
    expect(await until(`voxfleet_inference_duration_seconds_sum{${model},stage="inference"}`, (v) => v > 0)).toBeGreaterThan(0);
    expect(await until('voxfleet_tasks_total{outcome="completed"}', (v) => v >= before.completed + 4)).toBeGreaterThanOrEqual(before.completed + 4);
    expect(await until(`voxfleet_cache_lookups_total{${model},result="miss"}`, (v) => v >= 4)).toBeGreaterThanOrEqual(4);
    expect(await until(`voxfleet_cache_lookups_total{${model},result="hit"}`, (v) => v >= 1)).toBeGreaterThanOrEqual(1);
    expect(await until('voxfleet_http_request_duration_seconds_count{method="POST",route="/v1/jobs",status="202"}', (v) => v >= before.uploads + 4)).toBeGreaterThanOrEqual(before.uploads + 4);
    // route templates, never raw paths with ids
    expect(await until('count(voxfleet_http_request_duration_seconds_count{route="/v1/jobs/:id"})', (v) => v >= 1)).toBeGreaterThanOrEqual(1);
    expect(await value('count(voxfleet_http_request_duration_seconds_count{route=~".*j_.*"})')).toBeNaN();
    // More jobs once those counts are scraped: the series move (a rate needs a rise between two scrapes), and the dashboard's latency query answers.
    const seen = await value(`voxfleet_job_duration_seconds_count{${model},outcome="completed"}`);
    const more = await Promise.all(distinctClips(await fixtureSamples(), 2, 2.5).map((c, i) => api.upload(c, `m${i}.wav`)));
    for (const c of more) expect((await api.get(`/v1/jobs/${c.body.id}?wait=60`)).body.status).toBe('completed');
    expect(await until(`voxfleet_job_duration_seconds_count{${model},outcome="completed"}`, (v) => v >= seen + 2)).toBeGreaterThanOrEqual(seen + 2);
    const p95 = await until('histogram_quantile(0.95, sum by (le, model) (rate(voxfleet_job_duration_seconds_bucket{outcome="completed"}[1m])))', (v) => v > 0);
    expect(p95).toBeLessThan(60);
  }, 180_000);

  it('loads the alert rules and evaluates every one without error; none fires on a healthy stack', async () => {
    let rules: any[] = [];
    for (let i = 0; i < 40; i++) {
      const r = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as any;
      rules = r.data.groups.flatMap((g: any) => g.rules);
      if (rules.length === 5 && rules.every((x: any) => x.health === 'ok' && x.lastEvaluation !== '0001-01-01T00:00:00Z')) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    expect(rules.map((x) => x.name).sort()).toEqual(['RedisMemoryNearLimit', 'VoxFleetBacklogGrowing', 'VoxFleetFailureRatioHigh', 'VoxFleetJobLatencyP95High', 'VoxFleetNoReadyWorker']);
    for (const x of rules) expect({ rule: x.name, health: x.health, error: x.lastError ?? '' }).toEqual({ rule: x.name, health: 'ok', error: '' });
    expect(rules.filter((x) => x.state !== 'inactive').map((x) => x.name)).toEqual([]);
  });
});
