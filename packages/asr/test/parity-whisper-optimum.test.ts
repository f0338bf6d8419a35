/**
 * Whisper in transformers.js / optimum's layout (encoder_model + decoder_model_merged with
 * use_cache_branch; contract §5b) on the tiny test graphs (scripts/models/testgraph
 * whisper-optimum) and real speech: the registry recognises the folder; the batched decoding
 * (one encoder call, merged-decoder steps of all sequences at one past length, a finished
 * sequence leaving the batch) equals one at a time and a recompute of every step without
 * cache, fp32 and q8 (_quantized); language detection on [sot].
 *
 * Against transformers.js itself (its ASR pipeline, explicit language, since transformers.js
 * does not detect languages): @huggingface/transformers is a dev dependency (installed without
 * its onnxruntime-node download: .npmrc skips it, and the CPU binaries ship in the package);
 * VOXFLEET_TRANSFORMERS_JS may name another install (a directory whose node_modules holds it).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestGraph, fixtureSamples } from '@voxfleet/testkit';
import { WhisperModel } from '../src/backends/whisper.js';
import { asrConfigSchema, type AsrConfigInput } from '../src/config.js';
import type { WhisperTranscript } from '../src/families/whisper.js';
import { loadModelSpec } from '../src/registry.js';

const CLIPS = ['en-funasr-example.wav', 'zh-funasr-example.wav', 'yue-funasr-example.wav', 'zh-aishell-BAC009S0724W0121.wav', 'en-librispeech-1995-1837-0001.wav'];
/** where @huggingface/transformers resolves from: VOXFLEET_TRANSFORMERS_JS, else this repository */
const TJS = process.env.VOXFLEET_TRANSFORMERS_JS || fileURLToPath(new URL('../../../', import.meta.url));

describe('Whisper (transformers.js / optimum layout) on the exact-signature graphs and real speech', () => {
  let dir: string;
  let clips: Float32Array[];
  const models: WhisperModel[] = [];

  async function model(cfg: Partial<AsrConfigInput> = {}): Promise<WhisperModel> {
    const config = asrConfigSchema.parse({ modelPath: dir, provider: 'cpu', precision: 'fp32', threads: 1, ...cfg });
    const m = await WhisperModel.load(await loadModelSpec(config), config);
    models.push(m);
    return m;
  }

  beforeAll(async () => {
    dir = await ensureTestGraph('whisper-optimum');
    const base = await Promise.all(CLIPS.map((c) => fixtureSamples(c)));
    clips = [...base, base[1]!.slice(0, 16000)];
  }, 300_000);
  afterAll(async () => {
    for (const m of models) await m.release();
  });

  it('recognises the folder: files per precision, ids from the JSON files, the transformers.js front-end', async () => {
    const spec = await loadModelSpec({ modelPath: dir });
    expect(spec.kind).toBe('whisper');
    expect(spec.whisper!.layout).toBe('optimum');
    expect(spec.variants.map((v) => [v.precision, v.whisper!.decoder.split('/').pop()])).toEqual([
      ['fp32', 'decoder_model_merged.onnx'],
      ['int8', 'decoder_model_merged_quantized.onnx'],
    ]);
    expect(spec.whisper!.info).toMatchObject({ sot: 50258, eot: 50257, noTimestamps: 50363, nTextLayer: 2, nVocab: 51865, multilingual: true });
    expect(spec.whisper!.suppress!.begin).toEqual([220, 50257]);
    expect([spec.whisper!.heads, spec.whisper!.headDim]).toEqual([1, 8]);
    expect(spec.frontEnd).toMatchObject({ kind: 'whisper', maxFrames: 3000, framing: 'transformers' });
  });

  it('refuses segment timestamps, which it does not implement for this layout', async () => {
    await expect(model({ whisperTimestamps: true })).rejects.toThrow(/segment timestamps .* sherpa-onnx's Whisper export only/);
  });

  for (const precision of ['fp32', 'int8'] as const) {
    it(`${precision}: batched == one at a time == recompute without cache, languages detected and forced`, async () => {
      const m = await model({ precision });
      const fe = (m as unknown as { frontEnd: { compute(a: Float32Array): never } }).frontEnd;
      const feats = () => clips.map((c) => fe.compute(c));
      const durs = clips.map((c) => c.length / 16000);
      for (const language of [null, 'de'] as const) {
        const opts = clips.map(() => ({ language, itn: null }));
        const batched = await m.runBatch(feats(), opts, durs, { batched: true });
        const single = await m.runBatch(feats(), opts, durs, { batched: false });
        const recompute = await m.runBatch(feats(), opts, durs, { kvCache: false });
        expect(batched.map((t) => t.sherpa)).toEqual(single.map((t) => t.sherpa));
        expect(batched.map((t) => t.sherpa)).toEqual(recompute.map((t) => t.sherpa));
        const lengths = batched.map((t) => t.sherpa.tokens.length);
        expect(Math.max(...lengths)).toBeGreaterThan(Math.min(...lengths) + 3);
        if (language === null) expect(new Set(batched.map((t) => t.language)).size).toBeGreaterThanOrEqual(3);
        else expect(batched.every((t) => t.language === 'de')).toBe(true);
      }
    }, 300_000);
  }

  it('gives transformers.js text (its ASR pipeline, language en and de+translate)', async () => {
    expect(existsSync(TJS), `VOXFLEET_TRANSFORMERS_JS=${TJS} does not exist`).toBe(true);
    const entry = createRequire(join(TJS!, 'x.js')).resolve('@huggingface/transformers').replace(/\.cjs$/, '.mjs');
    const tjs = (await import(pathToFileURL(entry).href)) as {
      env: { allowRemoteModels: boolean; localModelPath: string };
      pipeline: (task: string, model: string, o: object) => Promise<(a: Float32Array, o: object) => Promise<{ text: string }>>;
    };
    tjs.env.allowRemoteModels = false;
    tjs.env.localModelPath = join(dir, '..');
    const asr = await tjs.pipeline('automatic-speech-recognition', dir.split('/').pop()!, { dtype: 'fp32', device: 'cpu' });
    for (const [language, task, tjsLanguage] of [['en', 'transcribe', 'english'], ['de', 'translate', 'german']] as const) {
      const expected = [];
      for (const c of clips) expected.push((await asr(c.slice(), { language: tjsLanguage, task })).text.trim());
      const m = await model({ whisperTask: task });
      const got = (await m.transcribe(clips.map((c) => c.slice()), clips.map(() => ({ language, itn: null })))).transcripts as WhisperTranscript[];
      expect(got.map((t) => t.text)).toEqual(expected);
      expect(expected.every((t) => t.length > 0)).toBe(true);
    }
  }, 300_000);
});
