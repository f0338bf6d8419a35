/**
 * The telemetry package on its own: the Prometheus page names exactly the
 * series of the names module, the listener binds where told (and says so
 * when it cannot), nvidia-smi's CSV is read, and a traceparent carries a
 * span's context across (as it does through the job data).
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { METRICS, contextFromTraceparent, counter, exportedSeries, gauge, histogram, observe, parseNvidiaSmi, startTelemetry, traceparentOf, type MetricKey, type Telemetry } from '../src/index.js';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** series names on a Prometheus text page */
const seriesOn = (text: string): Set<string> => new Set(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]!));

describe('telemetry', () => {
  const started: Telemetry[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((t) => t.shutdown()));
  });

  it('exports every metric of the names module under exactly its name (no unit or _total added)', async () => {
    const t = await startTelemetry({ service: 'test' });
    started.push(t);
    for (const key of Object.keys(METRICS) as MetricKey[]) {
      const m = METRICS[key];
      const attrs = Object.fromEntries(m.attributes.map((a) => [a, 'x']));
      if (m.kind === 'histogram') histogram(t.meter, key as Parameters<typeof histogram>[1]).record(1, attrs);
      else if (m.kind === 'counter') counter(t.meter, key as Parameters<typeof counter>[1]).add(1, attrs);
      else observe(gauge(t.meter, key as Parameters<typeof gauge>[1]), (r) => r.observe(1, attrs));
    }
    const text = await t.metricsText();
    const names = seriesOn(text);
    names.delete('target_info');
    expect([...names].sort()).toEqual([...exportedSeries()].sort());
    // no per-series scope label: series read as the dashboards and rules name them
    expect(text).not.toMatch(/otel_scope_name/);
    expect(text).toMatch(/voxfleet_queue_jobs\{queue="x",state="x"\} 1/);
  });

  it('serves Prometheus text on its own listener, and stops serving at shutdown', async () => {
    const port = await freePort();
    const t = await startTelemetry({ service: 'test', prometheusPort: port });
    expect(t.prometheusUrl).toBe(`http://127.0.0.1:${port}/metrics`);
    observe(gauge(t.meter, 'processMemory'), (r) => r.observe(123, { type: 'rss' }));
    const page = await (await fetch(t.prometheusUrl!)).text();
    expect(page).toMatch(/voxfleet_process_memory_bytes\{type="rss"\} 123/);
    await t.shutdown();
    await expect(fetch(t.prometheusUrl!)).rejects.toThrow();
  });

  it('names the setting when its port is taken', async () => {
    const port = await freePort();
    const holder = createServer().listen(port, '127.0.0.1');
    await new Promise((r) => holder.once('listening', r));
    try {
      await expect(startTelemetry({ service: 'test', prometheusPort: port })).rejects.toThrow(/VOXFLEET_METRICS_PORT/);
    } finally {
      holder.close();
    }
  });

  it('pushes metrics and spans over OTLP/HTTP when an endpoint is set', async () => {
    const posts: { path: string; bytes: number }[] = [];
    const collector = createHttpServer((req, res) => {
      let bytes = 0;
      req.on('data', (b: Buffer) => (bytes += b.length));
      req.on('end', () => {
        posts.push({ path: req.url ?? '', bytes });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    }).listen(0, '127.0.0.1');
    await new Promise((r) => collector.once('listening', r));
    const { port } = collector.address() as { port: number };
    try {
      const t = await startTelemetry({ service: 'test', otlpEndpoint: `http://127.0.0.1:${port}/`, otlpIntervalMs: 200 });
      expect(t.otlp).toBe(true);
      counter(t.meter, 'audioSeconds').add(3, { model: 'm' });
      t.tracer.startSpan('job').end();
      for (let i = 0; i < 100 && !posts.some((p) => p.path === '/v1/metrics'); i++) await new Promise((r) => setTimeout(r, 50));
      await t.shutdown(); // flushes the spans
      expect(posts.find((p) => p.path === '/v1/metrics')?.bytes).toBeGreaterThan(0);
      expect(posts.find((p) => p.path === '/v1/traces')?.bytes).toBeGreaterThan(0);
    } finally {
      collector.close();
    }
  });

  it('reads nvidia-smi CSV (MiB, percent) and leaves out what it could not measure', () => {
    const csv = '0, NVIDIA H200, 1024, 143771, 37\n1, NVIDIA H200, [N/A], 143771, [N/A]\n';
    expect(parseNvidiaSmi(csv)).toEqual([{ index: '0', name: 'NVIDIA H200', memoryUsedBytes: 1024 * 1024 * 1024, memoryTotalBytes: 143771 * 1024 * 1024, utilization: 0.37 }]);
    expect(parseNvidiaSmi('')).toEqual([]);
  });

  it('carries a span context through a traceparent string', async () => {
    const spans = new InMemorySpanExporter();
    const processor = new SimpleSpanProcessor({ exporter: spans });
    const t = await startTelemetry({ service: 'test', spanProcessors: [processor] });
    started.push(t);
    const parent = t.tracer.startSpan('enqueue');
    const tp = traceparentOf(parent);
    expect(tp).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const child = t.tracer.startSpan('job', {}, contextFromTraceparent(tp));
    child.end();
    parent.end();
    await processor.forceFlush();
    const [job, enq] = spans.getFinishedSpans();
    expect(job!.spanContext().traceId).toBe(enq!.spanContext().traceId);
    expect(job!.parentSpanContext?.spanId).toBe(enq!.spanContext().spanId);
    // no traceparent: a root of its own
    expect(trace.getSpanContext(contextFromTraceparent(undefined))).toBeUndefined();
  });
});
