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
 * Audio longer than 20 s is cut with the engine package's `chunkAudio` and
 * the pieces go in one batch (naive: one at a time).
 * Prints `listening <port>` once ready.
 */
import express from 'express';
import { cpus } from 'node:os';
import { AsrEngine, asrConfigFromEnv, chunkAudio, stitch, type Transcript } from '@voxfleet/asr';
import { decodeBuffer } from '@voxfleet/audio';

const naive = process.argv.includes('--naive');
const port = Number(process.env.PORT ?? 0);
// one process for the whole machine: let ONNX Runtime use every core
const cfg = asrConfigFromEnv(process.env, { provider: 'cpu', precision: 'fp32', threads: Number(process.env.VOXFLEET_THREADS ?? cpus().length) });

async function transcribe(engine: AsrEngine, samples: Float32Array, batch: boolean): Promise<Transcript> {
  const pieces = chunkAudio(samples);
  if (pieces.length === 1) return (await engine.transcribe([samples])).transcripts[0]!;
  const outs: Transcript[] = [];
  if (batch) outs.push(...(await engine.transcribe(pieces.map((p) => p.samples.slice()))).transcripts);
  else for (const p of pieces) outs.push((await engine.transcribe([p.samples.slice()])).transcripts[0]!);
  return stitch(
    pieces.map((p, i) => ({ offsetSec: p.start / 16000, transcript: outs[i]! })),
    samples.length / 16000,
  );
}

async function main(): Promise<void> {
  const shared = naive ? undefined : await AsrEngine.start(cfg);
  const app = express();
  app.post('/transcribe', express.raw({ type: '*/*', limit: '1gb' }), async (req, res) => {
    try {
      const t0 = performance.now();
      const engine = shared ?? (await AsrEngine.start(cfg));
      try {
        const t1 = performance.now();
        const samples = await decodeBuffer(new Uint8Array(req.body as Buffer));
        const t2 = performance.now();
        const t = await transcribe(engine, samples, !naive);
        const t3 = performance.now();
        res.json({ text: t.text, durationSec: samples.length / 16000, loadMs: t1 - t0, decodeMs: t2 - t1, inferenceMs: t3 - t2 });
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
