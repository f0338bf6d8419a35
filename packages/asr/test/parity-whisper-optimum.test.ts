/**
 * Whisper in transformers.js / optimum's layout (encoder_model + decoder_model_merged with
 * use_cache_branch; contract §5b) on the tiny test graphs (scripts/models/testgraph
 * whisper-optimum) and real speech: the registry recognises the folder; the batched decoding
 * (one encoder call, merged-decoder steps of all sequences at one past length, a finished
 * sequence leaving the batch) equals one at a time and a recompute of every step without
 * cache, fp32 and q8 (_quantized); language detection on [sot].
 *
 * Against transformers.js itself (its ASR pipeline, explicit language, since transformers.js
 * does not detect languages): text; with segment timestamps (return_timestamps: true, one input of at
 * most 30 s: no chunk_length_s, whose strided long-form merging VoxFleet does not do — its VAD cuts
 * long audio into ≤ 30 s pieces) the generated ids, timestamps included, and the chunks (start, end,
 * text); and its seek step (a pass ending inside a segment decoded again from its last timestamp
 * pair), forced by a token budget both are given. @huggingface/transformers is a dev dependency
 * (installed without its onnxruntime-node download: .npmrc skips it, and the CPU binaries ship in the
 * package); VOXFLEET_TRANSFORMERS_JS may name another install (a directory whose node_modules holds it).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestGraph, fixtureSamples } from '@voxfleet/testkit';
import { WhisperModel } from '../src/backends/whisper.js';
import { asrConfigSchema, type AsrConfigInput } from '../src/config.js';
import { transformersTimestampSegments, whisperMaxTokens, whisperTranscript, type WhisperSearch, type WhisperTranscript, type WhisperVocabulary } from '../src/families/whisper.js';
import type { FrontEndFeatures } from '../src/frontend/spec.js';
import { loadModelSpec } from '../src/registry.js';

const CLIPS = ['en-funasr-example.wav', 'zh-funasr-example.wav', 'yue-funasr-example.wav', 'zh-aishell-BAC009S0724W0121.wav', 'en-librispeech-1995-1837-0001.wav'];
/** where @huggingface/transformers resolves from: VOXFLEET_TRANSFORMERS_JS, else this repository */
const TJS = process.env.VOXFLEET_TRANSFORMERS_JS || fileURLToPath(new URL('../../../', import.meta.url));

interface TjsChunk {
  timestamp: [number | null, number | null];
  text: string;
}
type TjsAsr = ((a: Float32Array, o: object) => Promise<{ text: string; chunks?: TjsChunk[] }>) & {
  model: { generate: (o: object) => Promise<{ tolist(): unknown[][] }> };
};

/** VoxFleet's private parts the timestamp tests reach (ids before they become a transcript). */
interface WhisperInternals {
  frontEnd: { compute(a: Float32Array): FrontEndFeatures };
  table: WhisperVocabulary;
  languageToken(language: string | null): number | null;
  decodeOptimumSeek(feats: FrontEndFeatures[], frames: number[], languages: (number | null)[], kvCache: boolean): Promise<WhisperSearch[]>;
}

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

  /** transformers.js's ASR pipeline on the test folder, with the ids its generate() returns (init tokens, then the generated ones and eot) recorded. */
  async function transformersJs(): Promise<{ asr: TjsAsr; ids: () => number[] }> {
    expect(existsSync(TJS), `VOXFLEET_TRANSFORMERS_JS=${TJS} does not exist`).toBe(true);
    const entry = createRequire(join(TJS!, 'x.js')).resolve('@huggingface/transformers').replace(/\.cjs$/, '.mjs');
    const tjs = (await import(pathToFileURL(entry).href)) as {
      env: { allowRemoteModels: boolean; localModelPath: string };
      pipeline: (task: string, model: string, o: object) => Promise<TjsAsr>;
    };
    tjs.env.allowRemoteModels = false;
    tjs.env.localModelPath = join(dir, '..');
    const asr = await tjs.pipeline('automatic-speech-recognition', dir.split('/').pop()!, { dtype: 'fp32', device: 'cpu' });
    const generate = asr.model.generate.bind(asr.model);
    let last: number[] = [];
    asr.model.generate = async (o: object) => {
      const out = await generate(o);
      last = out.tolist()[0]!.map(Number);
      return out;
    };
    return { asr, ids: () => last };
  }

  /**
   * a transformers.js chunk as VoxFleet's Transcript segment: inside the utterance (an open end, or one past the
   * audio — the tiny graph ends its last segment at the pooled frame after it — is the end of the audio), the text trimmed
   */
  const asSegment = (c: TjsChunk, dur: number) => {
    const start = Math.min(c.timestamp[0] ?? 0, dur);
    const end = c.timestamp[1] === null ? dur : Math.min(Math.max(c.timestamp[1], start), dur);
    return { start: Math.round(start * 1000) / 1000, end: Math.round(end * 1000) / 1000, text: c.text.trim() };
  };
  /** VoxFleet's segments before they become a Transcript's (times as transformers.js's, null for none), texts untrimmed */
  const rawSegments = (s: WhisperSearch, t: WhisperTranscript, tb: number) => ({
    timestamps: transformersTimestampSegments(s.predicted, tb, 50257).map((x) => [x.start < 0 ? null : x.start, x.end < 0 ? null : x.end]),
    texts: t.sherpa.segment_texts,
  });
  const rawChunks = (chunks: TjsChunk[]) => ({ timestamps: chunks.map((c) => c.timestamp), texts: chunks.map((c) => c.text) });

  it('segment timestamps: batched == one at a time == recompute without cache (fp32, int8), the timestamp rules on', async () => {
    for (const precision of ['fp32', 'int8'] as const) {
      const m = await model({ precision, whisperTimestamps: true });
      const fe = (m as unknown as WhisperInternals).frontEnd;
      const feats = () => clips.map((c) => fe.compute(c));
      const durs = clips.map((c) => c.length / 16000);
      const opts = clips.map(() => ({ language: null, itn: null }));
      const batched = await m.runBatch(feats(), opts, durs, { batched: true });
      const single = await m.runBatch(feats(), opts, durs, { batched: false });
      const recompute = await m.runBatch(feats(), opts, durs, { kvCache: false });
      const view = (ts: WhisperTranscript[]) => ts.map((t) => ({ sherpa: t.sherpa, segments: t.segments }));
      expect(view(batched)).toEqual(view(single));
      expect(view(batched)).toEqual(view(recompute));
      expect(batched.every((t) => t.segments.length >= 2)).toBe(true);
    }
  }, 300_000);

  it('segment timestamps as transformers.js (return_timestamps: true): generated ids and chunks, language en and de+translate', async () => {
    const { asr, ids } = await transformersJs();
    let repeatedClose = 0;
    let openEnd = 0;
    for (const [language, task, tjsLanguage] of [['en', 'transcribe', 'english'], ['de', 'translate', 'german']] as const) {
      const expected: { ids: number[]; text: string; chunks: TjsChunk[]; segments: { start: number; end: number; text: string }[] }[] = [];
      for (const c of clips) {
        const out = await asr(c.slice(), { language: tjsLanguage, task, return_timestamps: true });
        // [sot, language, task] (no <|notimestamps|>), the generated ids, eot
        const all = ids();
        expect(all.at(-1)).toBe(50257);
        expected.push({ ids: all.slice(3, -1), text: out.text.trim(), chunks: out.chunks!, segments: out.chunks!.map((ch) => asSegment(ch, c.length / 16000)) });
        openEnd += out.chunks!.filter((ch) => ch.timestamp[1] === null).length;
      }
      const m = await model({ whisperTask: task, whisperTimestamps: true });
      const got = (await m.transcribe(clips.map((c) => c.slice()), clips.map(() => ({ language, itn: null })))).transcripts as WhisperTranscript[];
      expect(got.map((t) => ({ text: t.text, segments: t.segments }))).toEqual(expected.map((e) => ({ text: e.text, segments: e.segments })));
      // the ids, timestamps included
      const w = m as unknown as WhisperInternals;
      const searches = await w.decodeOptimumSeek(clips.map((c) => w.frontEnd.compute(c)), clips.map((c) => Math.min(Math.floor(c.length / 160), 3000)), clips.map(() => w.languageToken(language)), true);
      expect(searches.map((s) => s.predicted)).toEqual(expected.map((e) => e.ids));
      const tb = m.spec.whisper!.info.timestampBegin;
      const raw = searches.map((s, i) => rawSegments(s, whisperTranscript(s, w.table, m.spec.whisper!.info, { durationSec: clips[i]!.length / 16000 }), tb));
      expect(raw).toEqual(expected.map((e) => rawChunks(e.chunks)));
      for (const e of expected) {
        // a closing timestamp equal to its opening one: transformers.js's rules allow it (sherpa-onnx's make timestamps increase)
        for (let i = 2; i < e.ids.length; i++) if (e.ids[i]! >= 50364 && e.ids[i - 1]! < 50257 && e.ids.lastIndexOf(e.ids[i]!, i - 1) === i - 2) repeatedClose++;
      }
    }
    // the clips reach transformers.js's own rules and pairing: a repeated closing timestamp, a chunk left open
    expect(repeatedClose).toBeGreaterThan(0);
    expect(openEnd).toBeGreaterThan(0);
  }, 300_000);

  it("transformers.js's seek step: passes cut inside a segment are decoded again from their last timestamp pair", async () => {
    const { asr, ids } = await transformersJs();
    const m = await model({ whisperTimestamps: true });
    const w = m as unknown as WhisperInternals;
    const info = m.spec.whisper!.info;
    // a budget of 5 tokens per pass for both: VoxFleet's min(frames / 100 x 6, 224) at 84 frames, transformers.js's max_length 3 + 5
    const budgetFrames = 84;
    expect(whisperMaxTokens(info, budgetFrames)).toBe(5);
    for (const c of clips) {
      const out = await asr(c.slice(), { language: 'english', task: 'transcribe', return_timestamps: true, max_length: 8 });
      const expectedIds = ids().slice(3, -1);
      const [s] = await w.decodeOptimumSeek([w.frontEnd.compute(c)], [budgetFrames], [w.languageToken('en')], true);
      expect(s!.predicted).toEqual(expectedIds);
      const dur = c.length / 16000;
      const t = whisperTranscript(s!, w.table, info, { durationSec: dur });
      expect(rawSegments(s!, t, info.timestampBegin)).toEqual(rawChunks(out.chunks!));
      expect(t.segments).toEqual(out.chunks!.map((ch) => asSegment(ch, dur)).filter((x) => x.text !== ''));
      // more ids than one pass's 5: the later passes' (their timestamps moved by the frames skipped)
      expect(expectedIds.length).toBeGreaterThan(5);
    }
  }, 300_000);

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
    const { asr } = await transformersJs();
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
