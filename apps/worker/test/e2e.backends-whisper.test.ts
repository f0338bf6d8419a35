/**
 * Whisper end to end (real redis-server, gateway, one worker process): the test graphs with
 * sherpa-onnx's Whisper export layout (scripts/models/testgraph whisper); jobs are routed to
 * its queue and transcribed as the engine transcribes them one at a time (jobs sent together
 * may share batches: parity-whisper.test.ts proves a batch decodes as one at a time); the
 * language option forces a language, auto detects it and the result names it; a language the
 * model lacks is refused at upload; long audio goes through the segmenter in pieces of at
 * most 29.5 s (what sherpa-onnx's Whisper path reads of a piece).
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
const CLIPS = ['en-funasr-example.wav', 'zh-funasr-example.wav', 'zh-aishell-BAC009S0724W0121.wav', 'yue-funasr-example.wav'];

describe('Whisper through the stack (redis + gateway + a worker holding it)', () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  let worker: TestWorker;
  let varDir: string;
  let api: Client;
  let model: string;
  let clips: Float32Array[];

  beforeAll(async () => {
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-var-'));
    model = await copyDir(await ensureTestGraph('whisper'), join(varDir, 'models', 'whisper-tiny'));
    clips = await Promise.all(CLIPS.map((c) => fixtureSamples(c)));
    redis = await startRedis();
    const env = baseEnv(redis.url, varDir);
    worker = await spawnWorker('ww', { ...env, VOXFLEET_MODEL: model, VOXFLEET_PRECISION: 'fp32' });
    gw = await startGatewayWith(startGateway, { ...env, VOXFLEET_API_KEYS: KEY, VOXFLEET_MODELS: 'whisper-tiny', VOXFLEET_MODEL_ALIASES: 'whisper=whisper-tiny' });
    api = new Client(gw.url, KEY);
  }, 600_000);

  afterAll(() => stopStack({ worker, gw, redis, varDir }), 60_000);

  it('lists the model with its kind, precision and languages', async () => {
    const { body } = await api.get('/v1/models');
    const m = (body.models as any[]).find((x) => x.name === 'whisper-tiny');
    expect(m).toMatchObject({ status: 'ready', workers: { ready: 1 }, kinds: ['whisper'], precisions: ['fp32'], providers: ['cpu'], aliases: ['whisper'] });
    expect(m.languages.slice(0, 3)).toEqual(['auto', 'en', 'zh']);
  });

  it('transcribes each job as the engine does one at a time, jobs sent together; auto names the detected language', async () => {
    const engine = await AsrEngine.start({ modelPath: model, provider: 'cpu', precision: 'fp32', threads: 1 });
    let expected: { text: string; language: string }[];
    try {
      expected = [];
      for (const c of clips) {
        const t = (await engine.transcribe([c.slice()])).transcripts[0]! as unknown as { text: string; language: string };
        expected.push({ text: t.text, language: t.language });
      }
    } finally {
      await engine.close();
    }
    const created = await Promise.all(clips.map((c, i) => api.upload(wavBytes(c), `w-${i}.wav`, { model: i % 2 ? 'whisper' : 'whisper-tiny' })));
    for (const c of created) expect(c.status).toBe(202);
    const done = await Promise.all(created.map((c) => api.waitFinal(c.body.id, 60)));
    done.forEach((d, i) => {
      expect(d.status).toBe('completed');
      expect(d.result.text).toBe(expected[i]!.text);
      expect(d.result.text.length).toBeGreaterThan(0);
      expect(d.result.language).toBe(expected[i]!.language);
      expect(d.result.modelId).toMatch(/^whisper-tiny@[0-9a-f]{12}\/fp32$/);
    });
    expect(new Set(done.map((d) => d.result.language)).size).toBeGreaterThan(1);
  }, 180_000);

  it('a language asked for is the one decoded; one the model lacks is refused at upload', async () => {
    const de = await api.waitFinal((await api.upload(wavBytes(clips[0]!), 'w-de.wav', { model: 'whisper-tiny', language: 'de' })).body.id, 60);
    expect(de).toMatchObject({ status: 'completed', language: 'de', result: { language: 'de' } });
    const bad = await api.upload(wavBytes(clips[0]!), 'w-xx.wav', { model: 'whisper-tiny', language: 'xx' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('unsupported_language');
  }, 120_000);

  it('long audio goes through the segmenter into pieces with ordered times', async () => {
    const long = concatWithGaps([...clips, ...clips, ...clips, ...clips].map((samples, i) => ({ text: String(i), samples })), 11);
    expect(long.samples.length / 16000).toBeGreaterThan(60);
    const job = await api.waitFinal((await api.upload(wavBytes(long.samples), 'long.wav', { model: 'whisper-tiny', language: 'en' })).body.id, 180);
    expect(job.status).toBe('completed');
    expect(job.processing.segments).toBeGreaterThan(2);
    let last = 0;
    for (const s of job.result.segments) {
      expect(s.start).toBeGreaterThanOrEqual(last);
      last = s.end;
    }
  }, 300_000);
});
