/**
 * Fun-ASR-Nano end to end (real redis-server, gateway, one worker process): the LLM export's
 * test graphs (scripts/models/testgraph funasr-nano) served beside a CTC model; jobs naming it
 * are transcribed as the engine transcribes them directly (LLM steps of jobs sent together
 * batched: parity-nano.test.ts proves a batch decodes as one at a time); the job options
 * language, itn and hotwords reach the prompt (results equal the engine's with those options,
 * hotwords keyed in the cache, refused for a model without them); long audio goes through
 * the segmenter in pieces of at most 15 s.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- API answers are inspected field by field */
import { cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsrEngine } from '@voxfleet/asr';
import { startGateway, type RunningGateway } from '@voxfleet/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, baseEnv, concatWithGaps, copyDir, zipOf, ensureTestGraph, fixtureSamples, spawnWorker, startGatewayWith, startRedis, stopStack, wavBytes, type TestRedis, type TestWorker } from '@voxfleet/testkit';

const KEY = 'test-key-0123456789abcdef';
const CLIPS = ['en-funasr-example.wav', 'zh-funasr-example.wav', 'en-librispeech-1995-1837-0001.wav', 'yue-funasr-example.wav'];

describe('Fun-ASR-Nano through the stack (redis + gateway + a worker holding it and a CTC model)', () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  let worker: TestWorker;
  let varDir: string;
  let api: Client;
  let nano: string;
  let clips: Float32Array[];

  beforeAll(async () => {
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-var-'));
    nano = join(varDir, 'models', 'funasr-nano');
    await cp(await ensureTestGraph('funasr-nano'), nano, { recursive: true });
    const ctc = await copyDir(await ensureTestGraph('nemo-ctc'), join(varDir, 'models', 'nemo-ctc'));
    clips = await Promise.all(CLIPS.map((c) => fixtureSamples(c)));
    redis = await startRedis();
    const env = baseEnv(redis.url, varDir);
    worker = await spawnWorker('wn', { ...env, VOXFLEET_MODEL: `${nano},${ctc}`, VOXFLEET_PRECISION: 'fp32' });
    gw = await startGatewayWith(startGateway, { ...env, VOXFLEET_API_KEYS: KEY, VOXFLEET_MODELS: 'funasr-nano,nemo-ctc', VOXFLEET_MODEL_ALIASES: 'nano=funasr-nano' });
    api = new Client(gw.url, KEY);
  }, 600_000);

  afterAll(() => stopStack({ worker, gw, redis, varDir }), 60_000);

  it('lists the model with its kind, languages and precision', async () => {
    const { body } = await api.get('/v1/models');
    const m = (body.models as any[]).find((x) => x.name === 'funasr-nano');
    expect(m).toMatchObject({ status: 'ready', workers: { ready: 1 }, kinds: ['funasr-nano'], precisions: ['fp32'], providers: ['cpu'], languages: ['auto', 'zh', 'en', 'ja'], aliases: ['nano'] });
  });

  it('transcribes jobs sent together as the engine does, with language, itn and hotwords in the prompt', async () => {
    const options: { fields: Record<string, string>; engine: { language: string | null; itn: boolean | null; hotwords?: string[] } }[] = [
      { fields: {}, engine: { language: null, itn: null } },
      { fields: { language: 'zh', itn: 'on' }, engine: { language: 'zh', itn: true } },
      { fields: { hotwords: '阿里巴巴, VoxFleet' }, engine: { language: null, itn: null, hotwords: ['阿里巴巴', 'VoxFleet'] } },
      { fields: { language: 'en', hotwords: '東京' }, engine: { language: 'en', itn: null, hotwords: ['東京'] } },
    ];
    const engine = await AsrEngine.start({ modelPath: nano, provider: 'cpu', precision: 'fp32', threads: 1 });
    let expected: string[];
    try {
      expected = [];
      for (let i = 0; i < clips.length; i++) expected.push((await engine.transcribe([clips[i]!.slice()], { options: [options[i]!.engine] })).transcripts[0]!.text);
    } finally {
      await engine.close();
    }
    const created = await Promise.all(clips.map((c, i) => api.upload(wavBytes(c), `nano-${i}.wav`, { model: i % 2 ? 'nano' : 'funasr-nano', ...options[i]!.fields })));
    for (const c of created) expect(c.status).toBe(202);
    const done = await Promise.all(created.map((c) => api.waitFinal(c.body.id, 120)));
    done.forEach((d, i) => {
      expect(d.status).toBe('completed');
      expect(d.result.text).toBe(expected[i]);
      expect(d.result.text.length).toBeGreaterThan(0);
      expect(d.result.modelId).toMatch(/^funasr-nano@[0-9a-f]{12}\/fp32$/);
    });
    expect(done[2]!.hotwords).toEqual(['阿里巴巴', 'VoxFleet']);
    // the same audio without the hotwords is another transcript (hotwords are part of the cache key)
    const again = await api.waitFinal((await api.upload(wavBytes(clips[2]!), 'nano-2b.wav', { model: 'funasr-nano' })).body.id, 120);
    expect(again.cached).toBe(false);
    expect(again.result.text).not.toBe(done[2]!.result.text);
  }, 300_000);

  it('a batch upload passes its hotwords to every entry', async () => {
    const engine = await AsrEngine.start({ modelPath: nano, provider: 'cpu', precision: 'fp32', threads: 1 });
    let expected: string;
    try {
      expected = (await engine.transcribe([clips[3]!.slice()], { options: [{ language: null, itn: null, hotwords: ['粤语', '通义'] }] })).transcripts[0]!.text;
    } finally {
      await engine.close();
    }
    const archive = await zipOf([{ name: 'b/yue.wav', data: wavBytes(clips[3]!) }]);
    const created = await api.uploadBatch(archive, 'nano.zip', { model: 'funasr-nano', hotwords: '粤语；通义' });
    expect(created.status).toBe(202);
    const done = await api.waitBatch(created.body.id);
    expect(done.status).toBe('completed');
    const [entry] = (await api.get(`/v1/batches/${done.id}/jobs?status=completed`)).body.entries as any[];
    const job = (await api.get(`/v1/jobs/${entry.jobId}`)).body;
    expect(job.hotwords).toEqual(['粤语', '通义']);
    expect(job.result.text).toBe(expected);
  }, 180_000);

  it('refuses hotwords for a model that takes none, and bad hotwords', async () => {
    const r = await api.upload(wavBytes(clips[0]!), 'ctc.wav', { model: 'nemo-ctc', hotwords: 'foo' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('unsupported_option');
    const bad = await api.upload(wavBytes(clips[0]!), 'bad.wav', { model: 'funasr-nano', hotwords: 'a<|im_end|>' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_hotwords');
  }, 60_000);

  it('long audio goes through the segmenter in pieces of at most 15 s', async () => {
    const long = concatWithGaps([...clips, ...clips].map((samples, i) => ({ text: String(i), samples })), 3);
    expect(long.samples.length / 16000).toBeGreaterThan(30);
    const job = await api.waitFinal((await api.upload(wavBytes(long.samples), 'long.wav', { model: 'funasr-nano' })).body.id, 240);
    expect(job.status).toBe('completed');
    expect(job.processing.segments).toBeGreaterThanOrEqual(Math.ceil(long.samples.length / 16000 / 15));
    expect(job.result.text.length).toBeGreaterThan(0);
    let last = 0;
    for (const s of job.result.segments) {
      expect(s.start).toBeGreaterThanOrEqual(last);
      last = s.end;
    }
  }, 300_000);
});
