/**
 * The references the field report describes, as a tiny Express service:
 *
 * - synchronous (default): one process, the model preloaded once; each HTTP
 *   request is decoded and transcribed, and answered with the transcript. No
 *   queue: concurrent requests simply share the one engine.
 * - `--naive`: the field report's starting point — the model is loaded for
 *   every request (and released after it), batch 1.
 *
 * `POST /transcribe` (raw audio bytes) → `{ text, durationSec, decodeMs, inferenceMs }`.
 * Audio goes the one long-audio path (@voxfleet/segmenter transcribeLong:
 * decode + VAD on the segmenter thread; over 30 s cut at pauses); a
 * request's pieces are batched into engine calls (naive: one at a time).
 * decodeMs is the time spent waiting for decoded pieces, inferenceMs the rest.
 * Prints `listening <port>` once ready.
 */
import express from 'express';
import { cpus } from 'node:os';
import { AsrEngine, asrConfigFromEnv } from '@voxfleet/asr';
import { batchingSubmit, transcribeLong } from '@voxfleet/segmenter';

const naive = process.argv.includes('--naive');
const port = Number(process.env.PORT ?? 0);
// one process for the whole machine: let ONNX Runtime use every core
const cfg = asrConfigFromEnv(process.env, { provider: 'cpu', precision: 'fp32', threads: Number(process.env.VOXFLEET_THREADS ?? cpus().length) });

async function main(): Promise<void> {
  const shared = naive ? undefined : await AsrEngine.start(cfg);
  const app = express();
  app.post('/transcribe', express.raw({ type: '*/*', limit: '1gb' }), async (req, res) => {
    try {
      const t0 = performance.now();
      const engine = shared ?? (await AsrEngine.start(cfg));
      try {
        const t1 = performance.now();
        // per request: its own pieces share engine calls (naive: one piece per call, one at a time)
        const submit = batchingSubmit(engine, { maxBatch: naive ? 1 : 64 });
        const t = await transcribeLong(new Uint8Array(req.body as Buffer), submit, { maxInflight: naive ? 1 : 64 });
        const t2 = performance.now();
        res.json({ text: t.text, durationSec: t.stats.totalSamples / 16000, loadMs: t1 - t0, decodeMs: t.waitMs, inferenceMs: t2 - t1 - t.waitMs });
      } finally {
        if (!shared) await engine.close();
      }
    } catch (err) {
      res.status(500).json({ error: err instanceof Error ? err.message : String(err) });
    }
  });
  const server = app.listen(port, '127.0.0.1', () => {
    const addr = server.address();
    console.log(`listening ${typeof addr === 'object' && addr ? addr.port : port} (${naive ? 'naive: model per request' : 'synchronous: model preloaded'}, threads ${cfg.threads})`);
  });
  const stop = (): void => {
    server.close();
    void shared?.close().finally(() => process.exit(0));
    if (!shared) process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
