/**
 * One trace from the HTTP request to the worker's inference, on an
 * in-memory span exporter: the gateway's Express adapter (server span) runs
 * a handler that enqueues through TaskService (enqueue span, its traceparent
 * put in the job data); the worker's processor takes that job data (job
 * span, parented by the enqueue span) and runs the real long-audio path on a
 * real clip (decode on the segmenter thread) over a stub batcher (batch wait
 * and inference spans). The queue and the stores are stubs: no Redis.
 */
import type { Logger } from '@voxfleet/config';
import { httpConfigSchema } from '@voxfleet/config';
import { ApiKeyAuth, TaskService, createApp } from '@voxfleet/gateway';
import type { NewTask, TranscribeJob } from '@voxfleet/queue';
import { InMemorySpanExporter, SimpleSpanProcessor, SpanKind, startTelemetry, type ReadableSpan } from '@voxfleet/telemetry';
import { CLIP } from '@voxfleet/testkit';
import { describe, expect, it } from 'vitest';
import { longAudio } from '../src/audio.js';
import { createProcessor, type TaskJob } from '../src/processor.js';

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };
const MD5 = 'e'.repeat(32);

describe('tracing: gateway request → enqueue → worker job → batch wait and inference', () => {
  it('links every span by one trace id, each under its parent', async () => {
    const exporter = new InMemorySpanExporter();
    const spans = new SimpleSpanProcessor({ exporter });
    const telemetry = await startTelemetry({ service: 'test', spanProcessors: [spans] });
    try {
      // gateway: the real adapter and task module, the queue a stub that keeps what it is given
      const queued: NewTask[] = [];
      const queue = { name: 'transcribe-m', add: async (t: NewTask[]) => void queued.push(...t), get: async () => null, takeBack: async () => 'gone' as const, removeFinished: async () => {} };
      const tasks = new TaskService({ retentionSec: 60, shareCache: false, queue: () => queue, defaultModel: 'm', tracer: telemetry.tracer, served: async () => null } as unknown as ConstructorParameters<typeof TaskService>[0]);
      const payload: TranscribeJob = { v: 2, blobKey: 'ab/clip', md5: MD5, bytes: 1, filename: 'clip.wav', durationSec: 7.2, language: null, itn: null, modelId: null, modelName: 'm', cacheKey: MD5, cacheScope: '', submittedAt: Date.now() };
      const app = createApp({
        routes: [{ method: 'POST', path: '/v1/jobs', auth: 'none', handler: async () => (await tasks.enqueue('m', [{ id: 't-1', payload, priority: 50 }]), { status: 202, json: { id: 't-1' } }) }],
        auth: new ApiKeyAuth([], false),
        admin: { user: 'admin', password: 'x'.repeat(16) },
        board: [],
        blobs: {} as never,
        trustProxy: false,
        http: httpConfigSchema.parse({ headersTimeoutMs: 5000, requestTimeoutMs: 0, bodyIdleTimeoutMs: 5000, bodyMinBytesPerSec: 0, uploadsPerSec: 0, uploadBurst: 1, authFailuresPerMin: 0, authFailureBurst: 1 }),
        uploads: {},
        observe: { tracer: telemetry.tracer },
      });
      const server = app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      const { port } = server.address() as { port: number };
      expect((await fetch(`http://127.0.0.1:${port}/v1/jobs`, { method: 'POST' })).status).toBe(202);
      await new Promise<void>((r) => server.close(() => r()));
      expect(queued).toHaveLength(1);
      expect(queued[0]!.payload.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

      // worker: the job data as BullMQ hands it over, the real long-audio path over a stub batcher
      const blobs = { withFile: <T>(_k: string, use: (p: string) => Promise<T>) => use(CLIP), localPath: () => CLIP, read: async () => Buffer.alloc(0), delete: async () => {} };
      const process = createProcessor({
        workerId: 'w1',
        queue: 'transcribe-m',
        model: { id: 'm@aaaaaaaaaaaa+greedy/fp32', name: 'm' },
        blobs,
        results: { commit: async () => 'written' as const, get: async () => null },
        cache: { entry: (key) => ({ key, value: '', ttlSec: 1 }), releaseInflight: async () => {} },
        stats: { countersKey: 'stats', countRun: async () => 1 },
        events: { taskFinished: async () => {} },
        cancels: { isCancelled: async () => false },
        transcribeAudio: longAudio({
          submit: async (samples) => {
            await new Promise((r) => setTimeout(r, 5));
            return { output: { text: 'x', segments: [], tokens: [], durationSec: samples.length / 16000 }, batchSize: 3, waitMs: 2, runMs: 3 };
          },
          maxAudioSec: 600,
          decodeTimeoutMs: 30_000,
          segmentMaxSec: 30,
          maxInflightSegments: 4,
          tracer: telemetry.tracer,
        }),
        retentionSec: 60,
        log: quiet,
        tracer: telemetry.tracer,
      });
      const job: TaskJob = { id: 't-1', queueQualifiedName: 'bull:transcribe-m', data: JSON.parse(JSON.stringify(queued[0]!.payload)), timestamp: Date.now(), processedOn: Date.now(), attemptsMade: 0, opts: { attempts: 1 }, updateProgress: async () => {}, moveToDelayed: async () => {} };
      expect((await process(job)).status).toBe('completed');
      await spans.forceFlush();

      const finished = exporter.getFinishedSpans();
      const one = (name: string): ReadableSpan => {
        const found = finished.filter((s) => s.name === name);
        expect(found, `${name} among ${finished.map((s) => s.name).join(', ')}`).toHaveLength(1);
        return found[0]!;
      };
      const request = one('POST /v1/jobs');
      const enqueue = one('enqueue');
      const worked = one('job');
      const decode = one('decode');
      const wait = one('batch wait');
      const inference = one('inference');
      const traceId = request.spanContext().traceId;
      for (const s of [enqueue, worked, decode, wait, inference]) expect(s.spanContext().traceId).toBe(traceId);
      const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
      expect(parentOf(request)).toBeUndefined();
      expect(parentOf(enqueue)).toBe(request.spanContext().spanId);
      expect(parentOf(worked)).toBe(enqueue.spanContext().spanId);
      for (const s of [decode, wait, inference]) expect(parentOf(s)).toBe(worked.spanContext().spanId);
      expect([request.kind, enqueue.kind, worked.kind]).toEqual([SpanKind.SERVER, SpanKind.PRODUCER, SpanKind.CONSUMER]);
      expect(request.attributes).toMatchObject({ 'http.route': '/v1/jobs', 'http.response.status_code': 202 });
      expect(inference.attributes['voxfleet.batch_size']).toBe(3);
      expect(worked.attributes).toMatchObject({ 'voxfleet.task_id': 't-1', 'voxfleet.model': 'm' });
    } finally {
      await telemetry.shutdown();
    }
  }, 60_000);
});
