/* eslint-disable @typescript-eslint/no-explicit-any -- OTLP/JSON bodies are inspected field by field */
/**
 * OpenTelemetry end to end, as a deployment runs it: a gateway process and a
 * worker process (their real entry points, so the SDK is NodeSDK registered
 * as the process's globals), a real redis-server and the default model,
 * both exporting over OTLP/HTTP to a collector this test listens as. One
 * upload gives one trace: the gateway's HTTP span and its enqueue span, and
 * in the other process the job span (its parent: the enqueue span, through
 * the traceparent in the job data) with its decode, batch wait and
 * inference spans. Both processes' metrics arrive over OTLP too.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, baseEnv, distinctClips, fixtureSamples, spawnGateway, spawnWorker, startRedis, type TestGatewayProcess, type TestRedis, type TestWorker } from '@voxfleet/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const KEY = 'test-key-0123456789abcdef';

interface ReceivedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  kind: number;
}

/** service.name of an OTLP/JSON resource */
const serviceOf = (resource: any): string => resource?.attributes?.find((a: any) => a.key === 'service.name')?.value?.stringValue ?? '?';

describe('OTLP traces and metrics from a gateway and a worker process (NodeSDK, real redis, processes)', () => {
  let redis: TestRedis;
  let gw: TestGatewayProcess;
  let worker: TestWorker;
  let collector: Server;
  let varDir: string;
  const spans: ReceivedSpan[] = [];
  const metricNames = new Map<string, Set<string>>();
  const bad: string[] = [];

  beforeAll(async () => {
    collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (b: Buffer) => chunks.push(b));
      req.on('error', (err) => bad.push(`request: ${err.message}`));
      req.on('end', () => {
        try {
          if (!String(req.headers['content-type']).includes('json')) throw new Error(`${req.url}: content-type ${req.headers['content-type']}`);
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          if (req.url === '/v1/traces') {
            for (const rs of body.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) spans.push({ service: serviceOf(rs.resource), name: s.name, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', kind: s.kind });
          } else if (req.url === '/v1/metrics') {
            for (const rm of body.resourceMetrics ?? []) {
              const names = metricNames.get(serviceOf(rm.resource)) ?? new Set<string>();
              for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) names.add(m.name);
              metricNames.set(serviceOf(rm.resource), names);
            }
          } else throw new Error(`unexpected path ${req.url}`);
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        } catch (err) {
          bad.push(String(err));
          res.writeHead(400).end();
        }
      });
    }).listen(0, '127.0.0.1');
    await new Promise((r) => collector.once('listening', r));
    const endpoint = `http://127.0.0.1:${(collector.address() as { port: number }).port}`;
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-otlp-'));
    redis = await startRedis();
    // Short export intervals so the test does not wait out the defaults (15 s metrics, 5 s spans).
    const env = { ...baseEnv(redis.url, varDir), OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_METRIC_EXPORT_INTERVAL: '1000', OTEL_BSP_SCHEDULE_DELAY: '200' };
    worker = await spawnWorker('wotlp', { ...env, VOXFLEET_BATCH_WAIT_MS: '50' });
    gw = await spawnGateway({ ...env, VOXFLEET_API_KEYS: KEY, VOXFLEET_PORT: '0' });
  }, 180_000);

  afterAll(async () => {
    await worker?.stop();
    await gw?.stop();
    await redis?.stop();
    collector?.close();
    if (varDir) await rm(varDir, { recursive: true, force: true });
  }, 60_000);

  it('both processes say they run NodeSDK', () => {
    expect(gw.output()).toMatch(/telemetry.*sdk="?NodeSDK \(registered\)/);
    expect(worker.output()).toMatch(/telemetry.*sdk="?NodeSDK \(registered\)/);
  });

  it('one upload is one trace from the HTTP request through the queue to the worker\'s decode and inference', async () => {
    const api = new Client(gw.url, KEY);
    const [clip] = distinctClips(await fixtureSamples(), 1, 1.5);
    const created = await api.upload(clip!, 'trace.wav');
    expect(created.status).toBe(202);
    expect((await api.get(`/v1/jobs/${created.body.id}?wait=60`)).body.status).toBe('completed');

    const want = ['POST', 'enqueue', 'job', 'decode', 'batch wait', 'inference'];
    let trace: ReceivedSpan[] = [];
    for (let i = 0; i < 200; i++) {
      const upload = spans.find((s) => s.service === 'voxfleet-gateway' && s.name === 'enqueue');
      trace = upload ? spans.filter((s) => s.traceId === upload.traceId) : [];
      if (want.every((n) => trace.some((s) => s.name.startsWith(n)))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const names = trace.map((s) => `${s.service}:${s.name}`);
    expect(bad).toEqual([]);
    const one = (service: string, name: string): ReceivedSpan => {
      const found = trace.filter((s) => s.service === service && s.name === name);
      expect(found, `${service}:${name} in ${names.join(', ')}`).toHaveLength(1);
      return found[0]!;
    };
    const request = one('voxfleet-gateway', 'POST /v1/jobs');
    const enqueue = one('voxfleet-gateway', 'enqueue');
    const job = one('voxfleet-worker', 'job');
    const decode = one('voxfleet-worker', 'decode');
    expect(request.parentSpanId).toBe(''); // the trace's root
    expect(enqueue.parentSpanId).toBe(request.spanId);
    expect(job.parentSpanId).toBe(enqueue.spanId); // across processes, through the job data
    for (const s of [decode, one('voxfleet-worker', 'batch wait'), one('voxfleet-worker', 'inference')]) expect(s.parentSpanId).toBe(job.spanId);
  }, 120_000);

  it('both processes export their metrics over OTLP', async () => {
    const want = { 'voxfleet-gateway': ['voxfleet_http_request_duration_seconds', 'voxfleet_queue_jobs', 'voxfleet_process_memory_bytes'], 'voxfleet-worker': ['voxfleet_job_duration_seconds', 'voxfleet_batch_size', 'voxfleet_model_loaded'] };
    for (let i = 0; i < 100; i++) {
      if (Object.entries(want).every(([svc, ns]) => ns.every((n) => metricNames.get(svc)?.has(n)))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const [svc, ns] of Object.entries(want)) expect([...(metricNames.get(svc) ?? [])], svc).toEqual(expect.arrayContaining(ns));
    expect(bad).toEqual([]);
  }, 30_000);
});
