/**
 * startTelemetry({ register: true }): NodeSDK registers the providers as the
 * process's OpenTelemetry globals, so code that only knows the API (a library,
 * an instrumentation) reports through VoxFleet's readers and processors.
 * Once per process; a second registration is refused before it binds
 * anything; after shutdown the process can register again.
 */
import { createServer } from 'node:http';
import { metrics, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InMemorySpanExporter, SimpleSpanProcessor, startTelemetry, type Telemetry } from '../src/index.js';

describe('telemetry registered through NodeSDK', () => {
  const started: Telemetry[] = [];
  afterEach(async () => {
    for (const t of started.splice(0)) await t.shutdown();
    vi.unstubAllEnvs();
  });

  it('the API globals report into its Prometheus reader and span processors', async () => {
    const exporter = new InMemorySpanExporter();
    const t = await startTelemetry({ service: 'reg', register: true, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    started.push(t);
    expect(t.registered).toBe(true);
    // code that knows only @opentelemetry/api
    metrics.getMeter('some-library').createCounter('library_calls_total').add(3);
    trace.getTracer('some-library').startSpan('library work').end();
    expect(await t.metricsText()).toMatch(/^library_calls_total(\{[^}]*\})? 3$/m);
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['library work']);
    expect(exporter.getFinishedSpans()[0]!.resource.attributes['service.name']).toBe('reg');
  });

  it('without an exporter, spans still carry real trace ids (they go through the queue)', async () => {
    const t = await startTelemetry({ service: 'reg', register: true });
    started.push(t);
    const span = t.tracer.startSpan('enqueue');
    expect(trace.isSpanContextValid(span.spanContext())).toBe(true);
    span.end();
  });

  it('registers once per process, refusing a second start before it binds a port; again after shutdown', async () => {
    const first = await startTelemetry({ service: 'reg', register: true });
    // shut down by afterEach if an assertion below fails, so the process-wide registration does not outlive this test
    started.push(first);
    await expect(startTelemetry({ service: 'reg', register: true, prometheusPort: 1 })).rejects.toThrow(/already registered/);
    // private telemetry beside it is fine
    const own = await startTelemetry({ service: 'private' });
    expect(own.registered).toBe(false);
    await own.shutdown();
    await first.shutdown();
    metrics.getMeter('x').createCounter('after_shutdown_total').add(1); // a no-op again, not an error
    const again = await startTelemetry({ service: 'reg', register: true });
    started.push(again);
    expect(again.registered).toBe(true);
    // shutdown is idempotent: the first one's again (as afterEach does) leaves the second registration alone
    await first.shutdown();
    await expect(startTelemetry({ service: 'reg', register: true })).rejects.toThrow(/already registered/);
  });

  it('OTEL_SDK_DISABLED=true: nothing is registered, no OTLP export, VoxFleet\'s Prometheus metrics still render', async () => {
    vi.stubEnv('OTEL_SDK_DISABLED', 'true');
    let posts = 0;
    const collector = createServer((_req, res) => void (posts++, res.writeHead(200).end('{}'))).listen(0, '127.0.0.1');
    await new Promise((r) => collector.once('listening', r));
    const t = await startTelemetry({ service: 'reg', register: true, otlpEndpoint: `http://127.0.0.1:${(collector.address() as { port: number }).port}`, otlpIntervalMs: 100 });
    expect(t.registered).toBe(false);
    t.tracer.startSpan('not exported').end();
    await new Promise((r) => setTimeout(r, 300));
    await t.shutdown();
    collector.close();
    expect(posts).toBe(0);
    expect([t.otlp, t.note]).toEqual([false, expect.stringMatching(/OTEL_SDK_DISABLED/)]);
    const own = await startTelemetry({ service: 'reg', register: true });
    started.push(own);
    own.meter.createCounter('own_total').add(2);
    expect(await own.metricsText()).toMatch(/^own_total(\{[^}]*\})? 2$/m);
  });
});
