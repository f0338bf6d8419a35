/**
 * Request telemetry in the Express adapter: each request measured once with
 * its route template (never the raw path), method and status; unmatched
 * paths and Bull Board collapse to one label each; a server span per request.
 */
import { httpConfigSchema } from '@voxfleet/config';
import { InMemorySpanExporter, SimpleSpanProcessor, startTelemetry } from '@voxfleet/telemetry';
import { describe, expect, it } from 'vitest';
import { ApiKeyAuth, createApp } from '../src/index.js';
import { json } from '../src/api/types.js';

describe('request telemetry', () => {
  it('labels requests by route template and status, one measurement and one span each', async () => {
    const exporter = new InMemorySpanExporter();
    const spans = new SimpleSpanProcessor({ exporter });
    const telemetry = await startTelemetry({ service: 'test', spanProcessors: [spans] });
    const seen: { method: string; route: string; status: number; seconds: number }[] = [];
    const app = createApp({
      routes: [
        { method: 'GET', path: '/v1/jobs/:id', auth: 'none', handler: async (req) => json({ id: req.params.id }) },
        { method: 'GET', path: '/boom', auth: 'none', handler: async () => { throw new Error('boom'); } },
      ],
      auth: new ApiKeyAuth([], false),
      admin: { user: 'admin', password: 'p'.repeat(16) },
      board: [],
      blobs: {} as never,
      trustProxy: false,
      http: httpConfigSchema.parse({ headersTimeoutMs: 5000, requestTimeoutMs: 0, bodyIdleTimeoutMs: 5000, bodyMinBytesPerSec: 0, uploadsPerSec: 0, uploadBurst: 1, authFailuresPerMin: 0, authFailureBurst: 1 }),
      uploads: {},
      observe: { tracer: telemetry.tracer, record: (r) => seen.push(r) },
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const origError = console.error;
      console.error = () => {}; // the adapter logs the unhandled error of /boom
      try {
        for (const path of ['/v1/jobs/j_abc', '/v1/jobs/j_def', '/nope/123', '/boom', '/admin/queues/api/queues']) await (await fetch(`${base}${path}`)).arrayBuffer();
      } finally {
        console.error = origError;
      }
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    expect(seen.map(({ method, route, status }) => `${method} ${route} ${status}`)).toEqual(['GET /v1/jobs/:id 200', 'GET /v1/jobs/:id 200', 'GET unmatched 404', 'GET /boom 500', 'GET /admin/queues 401']);
    expect(seen.every((r) => r.seconds >= 0 && r.seconds < 5)).toBe(true);
    await spans.forceFlush();
    const finished = exporter.getFinishedSpans();
    expect(finished.map((s) => s.name)).toEqual(['GET /v1/jobs/:id', 'GET /v1/jobs/:id', 'GET unmatched', 'GET /boom', 'GET /admin/queues']);
    expect(finished[3]!.status.code).toBe(2); // ERROR
    await telemetry.shutdown();
  });
});
