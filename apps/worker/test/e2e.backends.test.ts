/**
 * Every production backend end to end (real redis-server, gateway, one worker
 * process holding all of them): SenseVoice, the Fun-ASR-Nano CTC variant,
 * Paraformer (with and without CIF timestamps) and NeMo CTC, on graphs with
 * their exports' exact signatures (scripts/models/testgraph). A job names its
 * model; it is routed to that model's queue and transcribed as the engine
 * transcribes it directly; SenseVoice's tags come back as fields; options a
 * model cannot honour are refused at upload.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- API answers are inspected field by field */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsrEngine } from '@voxfleet/asr';
import { startGateway, type RunningGateway } from '@voxfleet/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, baseEnv, concatWithGaps, copyDir, ensureTestGraph, fixtureSamples, spawnWorker, startGatewayWith, startRedis, stopStack, wavBytes, type TestGraphKind, type TestRedis, type TestWorker } from '@voxfleet/testkit';

const KEY = 'test-key-0123456789abcdef';
const KINDS: TestGraphKind[] = ['sense-voice', 'funasr-nano-ctc', 'paraformer', 'paraformer-ts', 'nemo-ctc'];
const CLIPS = ['en-funasr-example.wav', 'zh-funasr-example.wav', 'en-librispeech-1995-1837-0001.wav'];

describe('the production backends through the stack (redis + gateway + a worker holding five models)', () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  let worker: TestWorker;
  let varDir: string;
  let api: Client;
  const dirs = new Map<TestGraphKind, string>();
  let clips: Float32Array[];

  beforeAll(async () => {
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-var-'));
    // Each model is served under its directory's name: copy the generated graphs into directories named after their kind.
    for (const k of KINDS) {
      dirs.set(k, await copyDir(await ensureTestGraph(k), join(varDir, 'models', k)));
    }
    clips = await Promise.all(CLIPS.map((c) => fixtureSamples(c)));
    redis = await startRedis();
    const env = baseEnv(redis.url, varDir);
    worker = await spawnWorker('wb', { ...env, VOXFLEET_MODEL: KINDS.map((k) => dirs.get(k)!).join(',') });
    gw = await startGatewayWith(startGateway, { ...env, VOXFLEET_API_KEYS: KEY, VOXFLEET_MODELS: KINDS.join(','), VOXFLEET_MODEL_ALIASES: 'sensevoice=sense-voice' });
    api = new Client(gw.url, KEY);
  }, 600_000);

  afterAll(() => stopStack({ worker, gw, redis, varDir }), 60_000);

  it('lists every model it serves with its kind, languages and precision', async () => {
    const { body } = await api.get('/v1/models');
    const byName = Object.fromEntries((body.models as any[]).map((m) => [m.name, m]));
    for (const k of KINDS) expect(byName[k]).toMatchObject({ status: 'ready', workers: { ready: 1 }, precisions: ['fp32'], providers: ['cpu'] });
    expect(byName['sense-voice']).toMatchObject({ kinds: ['sense-voice'], languages: ['auto', 'zh', 'en', 'ja', 'ko', 'yue'], aliases: ['sensevoice'] });
    expect(byName['paraformer-ts'].kinds).toEqual(['paraformer']);
    expect(byName['nemo-ctc'].kinds).toEqual(['nemo-ctc']);
    expect(body.defaultModel).toBe('sense-voice');
  });

  for (const kind of KINDS) {
    it(`${kind}: each job is transcribed as the engine transcribes it`, async () => {
      const engine = await AsrEngine.start({ modelPath: dirs.get(kind)!, provider: 'cpu', precision: 'fp32', threads: 1 });
      let expected: string[];
      try {
        expected = await Promise.all(clips.map(async (c) => (await engine.transcribe([c.slice()])).transcripts[0]!.text));
      } finally {
        await engine.close();
      }
      const created = await Promise.all(clips.map((c, i) => api.upload(wavBytes(c), `${kind}-${i}.wav`, { model: kind })));
      for (const c of created) expect(c.status).toBe(202);
      const done = await Promise.all(created.map((c) => api.waitFinal(c.body.id, 60)));
      done.forEach((d, i) => {
        expect(d.status).toBe('completed');
        expect(d.result.text).toBe(expected[i]);
        expect(d.result.text.length).toBeGreaterThan(0);
        expect(d.result.modelId).toMatch(new RegExp(`^${kind}@[0-9a-f]{12}/fp32$`));
        expect(d.result.segments.length).toBeGreaterThan(0);
      });
    }, 180_000);
  }

  it('sense-voice: the language asked for picks its language input; detected tags come back as fields', async () => {
    const [clip] = clips;
    const en = await api.waitFinal((await api.upload(wavBytes(clip!), 'sv-en.wav', { model: 'sensevoice', language: 'en', itn: 'on' })).body.id);
    expect(en).toMatchObject({ status: 'completed', language: 'en', result: { language: 'en' } });
    expect(en.result.emotion).toMatch(/^[A-Z]+$/);
    expect(en.result.event).toMatch(/^[A-Za-z]+$/);
    const auto = await api.waitFinal((await api.upload(wavBytes(clip!), 'sv-auto.wav', { model: 'sense-voice' })).body.id);
    // auto: the model detects the language, and the result names it
    expect(auto.language).toBeNull();
    expect(['zh', 'en']).toContain(auto.result.language);
    // another option is another task (and cache entry)
    const zh = await api.waitFinal((await api.upload(wavBytes(clip!), 'sv-zh.wav', { model: 'sense-voice', language: 'zh' })).body.id);
    expect(zh.result.language).toBe('zh');
    expect(zh.cached).toBe(false);
  }, 120_000);

  it('refuses at upload what a model cannot honour, and long audio goes through the segmenter', async () => {
    const bad = await api.upload(wavBytes(clips[0]!), 'x.wav', { model: 'sense-voice', language: 'de' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('unsupported_language');
    const itn = await api.upload(wavBytes(clips[0]!), 'x.wav', { model: 'paraformer', itn: 'on' });
    expect(itn.status).toBe(400);
    expect(itn.body.error.code).toBe('unsupported_option');

    // 3 clips with pauses, > 30 s: cut at pauses into pieces that share batches
    const long = concatWithGaps([...clips, ...clips, ...clips, ...clips].map((samples, i) => ({ text: String(i), samples })), 7);
    expect(long.samples.length / 16000).toBeGreaterThan(30);
    const job = await api.waitFinal((await api.upload(wavBytes(long.samples), 'long.wav', { model: 'nemo-ctc' })).body.id, 120);
    expect(job.status).toBe('completed');
    expect(job.processing.segments).toBeGreaterThan(1);
    let last = 0;
    for (const s of job.result.segments) {
      expect(s.start).toBeGreaterThanOrEqual(last);
      last = s.end;
    }
  }, 240_000);
});
