/**
 * Parakeet TDT end to end (real redis-server, gateway, one worker process): the NeMo
 * transducer test graphs with sherpa-onnx's export layout (scripts/models/testgraph
 * parakeet-tdt) served beside a CTC model; a job naming it is routed to its queue and
 * transcribed as the engine transcribes it directly; jobs sent together may share
 * batches (encoder, joiner and decoder steps batched: parity-tdt.test.ts proves a batch
 * decodes as one at a time) and come back as one at a time; long audio goes through the
 * segmenter.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- API answers are inspected field by field */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsrEngine } from '@voxfleet/asr';
import { startGateway, type RunningGateway } from '@voxfleet/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, baseEnv, concatWithGaps, copyDir, ensureTestGraph, fixtureSamples, spawnWorker, startGatewayWith, startRedis, stopStack, wavBytes, type TestRedis, type TestWorker } from '@voxfleet/testkit';

const KEY = 'test-key-0123456789abcdef';
const CLIPS = ['en-funasr-example.wav', 'zh-funasr-example.wav', 'en-librispeech-1995-1837-0001.wav', 'yue-funasr-example.wav'];

describe('Parakeet TDT through the stack (redis + gateway + a worker holding it and a CTC model)', () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  let worker: TestWorker;
  let varDir: string;
  let api: Client;
  let tdt: string;
  let clips: Float32Array[];

  beforeAll(async () => {
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-var-'));
    tdt = await copyDir(await ensureTestGraph('parakeet-tdt'), join(varDir, 'models', 'parakeet-tdt'));
    const ctc = await copyDir(await ensureTestGraph('nemo-ctc'), join(varDir, 'models', 'nemo-ctc'));
    clips = await Promise.all(CLIPS.map((c) => fixtureSamples(c)));
    redis = await startRedis();
    const env = baseEnv(redis.url, varDir);
    worker = await spawnWorker('wt', { ...env, VOXFLEET_MODEL: `${tdt},${ctc}`, VOXFLEET_PRECISION: 'fp32' });
    gw = await startGatewayWith(startGateway, { ...env, VOXFLEET_API_KEYS: KEY, VOXFLEET_MODELS: 'parakeet-tdt,nemo-ctc', VOXFLEET_MODEL_ALIASES: 'parakeet=parakeet-tdt' });
    api = new Client(gw.url, KEY);
  }, 600_000);

  afterAll(() => stopStack({ worker, gw, redis, varDir }), 60_000);

  it('lists the model with its kind and precision', async () => {
    const { body } = await api.get('/v1/models');
    const m = (body.models as any[]).find((x) => x.name === 'parakeet-tdt');
    expect(m).toMatchObject({ status: 'ready', workers: { ready: 1 }, kinds: ['nemo-transducer'], precisions: ['fp32'], providers: ['cpu'], languages: ['auto'], aliases: ['parakeet'] });
  });

  it('transcribes each job as the engine does one at a time, jobs sent together', async () => {
    const engine = await AsrEngine.start({ modelPath: tdt, provider: 'cpu', precision: 'fp32', threads: 1 });
    let expected: { text: string; tokens: number }[];
    try {
      expected = await Promise.all(
        clips.map(async (c) => {
          const t = (await engine.transcribe([c.slice()])).transcripts[0]!;
          return { text: t.text, tokens: t.tokens.length };
        }),
      );
    } finally {
      await engine.close();
    }
    const created = await Promise.all(clips.map((c, i) => api.upload(wavBytes(c), `tdt-${i}.wav`, { model: i % 2 ? 'parakeet' : 'parakeet-tdt' })));
    for (const c of created) expect(c.status).toBe(202);
    const done = await Promise.all(created.map((c) => api.waitFinal(c.body.id, 60)));
    done.forEach((d, i) => {
      expect(d.status).toBe('completed');
      expect(d.result.text).toBe(expected[i]!.text);
      expect(d.result.text.length).toBeGreaterThan(0);
      expect(d.result.modelId).toMatch(/^parakeet-tdt@[0-9a-f]{12}\/fp32$/);
      expect(d.result.segments.length).toBeGreaterThan(0);
    });
    // the batcher groups jobs that arrive together (seen here: batches of 2), which then decode as one at a time
    for (const d of done) expect(d.processing.batchSizes.length).toBeGreaterThan(0);
    // token timings in the transcript formats
    const srt = await api.get(`/v1/jobs/${created[0]!.body.id}/transcript?format=srt`);
    expect(srt.status).toBe(200);
  }, 180_000);

  it('long audio goes through the segmenter into pieces with ordered times', async () => {
    const long = concatWithGaps([...clips, ...clips, ...clips].map((samples, i) => ({ text: String(i), samples })), 7);
    expect(long.samples.length / 16000).toBeGreaterThan(30);
    const job = await api.waitFinal((await api.upload(wavBytes(long.samples), 'long.wav', { model: 'parakeet-tdt' })).body.id, 120);
    expect(job.status).toBe('completed');
    expect(job.processing.segments).toBeGreaterThan(1);
    let last = 0;
    for (const s of job.result.segments) {
      expect(s.start).toBeGreaterThanOrEqual(last);
      last = s.end;
    }
  }, 240_000);
});
