/**
 * Whisper (sherpa-onnx's export layout) against sherpa-onnx, its reference runtime: on the
 * tiny graphs with the export's exact file names, signatures and metadata
 * (scripts/models/testgraph whisper) and real speech from fixtures/audio, VoxFleet's text,
 * tokens and language equal sherpa-onnx-node's: language detected (language auto) and
 * forced, transcribe and translate, no-timestamps and segment timestamps (segment times,
 * durations and texts), fp32 and int8. The decoding is batched (one encoder call per
 * padded length, decoder steps of all sequences at aligned positions); it equals one at a
 * time with short and long utterances mixed, and the cached decoding equals a recompute
 * of every step without cache.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SherpaWhisper, ensureTestGraph, fixtureSamples, type SherpaWhisperResult } from '@voxfleet/testkit';
import { WhisperModel, whisperPaddedFrames } from '../src/backends/whisper.js';
import { asrConfigSchema, type AsrConfigInput } from '../src/config.js';
import type { WhisperTranscript } from '../src/families/whisper.js';
import { AsrEngine } from '../src/index.js';
import { loadModelSpec } from '../src/registry.js';

const CLIPS = ['en-funasr-example.wav', 'zh-funasr-example.wav', 'yue-funasr-example.wav', 'zh-aishell-BAC009S0724W0121.wav', 'en-librispeech-1995-1837-0001.wav'];

const cs = (x: number): number => Math.round(x * 100) / 100;

function view(t: WhisperTranscript, timestamps = false): SherpaWhisperResult {
  const s = t.sherpa;
  const out: SherpaWhisperResult = { text: s.text, tokens: s.tokens, lang: s.lang };
  if (timestamps) {
    // segment times are multiples of 20 ms: compared at 10 ms (how sherpa-onnx's JSON rounds them was not read)
    const r = (xs: number[] | undefined): number[] => (xs ?? []).map(cs);
    out.segment_timestamps = r(s.segment_timestamps);
    out.segment_durations = r(s.segment_durations);
    out.segment_texts = s.segment_texts ?? [];
  }
  return out;
}

function refView(r: SherpaWhisperResult): SherpaWhisperResult {
  const round = (xs: number[] | undefined): number[] | undefined => xs?.map(cs);
  return { ...r, ...(r.segment_timestamps ? { segment_timestamps: round(r.segment_timestamps), segment_durations: round(r.segment_durations) } : {}) };
}

describe('Whisper (sherpa-onnx export): parity with sherpa-onnx on the exact-signature graphs and real speech', () => {
  let dir: string;
  let clips: Float32Array[];
  const models: WhisperModel[] = [];

  async function model(cfg: Partial<AsrConfigInput> = {}): Promise<WhisperModel> {
    const config = asrConfigSchema.parse({ modelPath: dir, provider: 'cpu', precision: 'fp32', threads: 1, ...cfg });
    const m = await WhisperModel.load(await loadModelSpec(config), config);
    models.push(m);
    return m;
  }
  const copies = (): Float32Array[] => clips.map((c) => c.slice());

  beforeAll(async () => {
    dir = await ensureTestGraph('whisper');
    const base = await Promise.all(CLIPS.map((c) => fixtureSamples(c)));
    // a short crop, and a long one (over 20 s: padded to 3000 frames) and one over 29.5 s (cut there)
    const long = new Float32Array(base.reduce((n, c) => n + c.length, 0));
    base.reduce((at, c) => (long.set(c, at), at + c.length), 0);
    const longer = new Float32Array(long.length + base[0]!.length);
    longer.set(long);
    longer.set(base[0]!, long.length);
    clips = [...base, base[1]!.slice(0, 16000), long, longer];
  }, 300_000);
  afterAll(async () => {
    for (const m of models) await m.release();
  });

  it('recognises the directory: kind, files, metadata, languages', async () => {
    const spec = await loadModelSpec({ modelPath: dir });
    expect(spec.kind).toBe('whisper');
    expect(spec.variants.map((v) => v.precision).sort()).toEqual(['fp32', 'int8']);
    expect(spec.whisper!.exportName).toBe('tiny');
    expect(spec.whisper!.info).toMatchObject({ nMels: 80, nVocab: 51865, nTextCtx: 448, sot: 50258, eot: 50257, noTimestamps: 50363, timestampBegin: 50364, multilingual: true });
    expect(spec.languages.slice(0, 4)).toEqual(['auto', 'en', 'zh', 'de']);
    expect(spec.languages).toHaveLength(100);
    expect(spec.frontEnd).toEqual({ kind: 'whisper', melBins: 80, maxFrames: 2950, framing: 'kaldi-native-fbank', layout: 'channels-first' });
    expect(clips.map((c) => whisperPaddedFrames(Math.floor((c.length + 80) / 160))).slice(-3)).toEqual([1100, 3000, 3000]);
  });

  it('gives sherpa-onnx text, tokens and the detected language (language auto), batched', async () => {
    const ref = new SherpaWhisper(dir);
    const expected = clips.map((c) => refView(ref.transcribe(c.slice())));
    const m = await model();
    const got = (await m.transcribe(copies())).transcripts as WhisperTranscript[];
    expect(got.map((t) => view(t))).toEqual(expected);
    // the graph detects several languages on these clips, so detection is really compared
    expect(new Set(expected.map((e) => e.lang)).size).toBeGreaterThanOrEqual(3);
    expect(got[0]!.text).toBe(expected[0]!.text);
  }, 300_000);

  it('a forced language and the translate task as sherpa-onnx (de, translate; en)', async () => {
    for (const [language, task] of [['de', 'translate'], ['en', 'transcribe']] as const) {
      const ref = new SherpaWhisper(dir, { language, task });
      const expected = clips.map((c) => refView(ref.transcribe(c.slice())));
      const m = await model({ whisperTask: task });
      const got = (await m.transcribe(copies(), clips.map(() => ({ language, itn: null })))).transcripts as WhisperTranscript[];
      expect(got.map((t) => view(t))).toEqual(expected);
    }
  }, 300_000);

  it('segment timestamps: timestamp rules, segment times, durations and texts as sherpa-onnx', async () => {
    const ref = new SherpaWhisper(dir, { timestamps: true });
    const expected = clips.map((c) => refView(ref.transcribe(c.slice())));
    const m = await model({ whisperTimestamps: true });
    const got = (await m.transcribe(copies())).transcripts as WhisperTranscript[];
    expect(got.map((t) => view(t, true))).toEqual(expected);
    // VoxFleet's segments are Whisper's, with the open one closed at the end of the audio
    const first = got[0]!;
    expect(first.segments.length).toBe(expected[0]!.segment_texts!.length);
    expect(first.segments[0]!.start).toBe(0);
    expect(first.segments.at(-1)!.end).toBeLessThanOrEqual(first.durationSec);
  }, 300_000);

  it('int8 graphs as sherpa-onnx', async () => {
    const ref = new SherpaWhisper(dir, { precision: 'int8' });
    const expected = clips.slice(0, 5).map((c) => refView(ref.transcribe(c.slice())));
    const m = await model({ precision: 'int8' });
    const got = (await m.transcribe(clips.slice(0, 5).map((c) => c.slice()))).transcripts as WhisperTranscript[];
    expect(got.map((t) => view(t))).toEqual(expected);
  }, 300_000);

  it('the decoder at each graph optimisation level (VOXFLEET_WHISPER_DECODER_OPT) gives sherpa-onnx text; auto reports what it measured', async () => {
    const ref = new SherpaWhisper(dir);
    const expected = clips.slice(0, 3).map((c) => refView(ref.transcribe(c.slice())));
    for (const level of ['basic', 'disabled'] as const) {
      const m = await model({ whisperDecoderOpt: level });
      expect(m.report.decoder).toContain(`decoder graph optimisation ${level} (VOXFLEET_WHISPER_DECODER_OPT=${level})`);
      const got = (await m.transcribe(clips.slice(0, 3).map((c) => c.slice()))).transcripts as WhisperTranscript[];
      expect(got.map((t) => view(t))).toEqual(expected);
    }
    const auto = await model();
    expect(auto.report.decoder).toMatch(/decoder graph optimisation (all|basic|disabled) \(measured at load on 4 x 6 s: all \d+ ms, basic \d+ ms, disabled \d+ ms\)/);
    expect((await model({ whisperDecoderOpt: 'all' })).report.decoder).not.toContain('graph optimisation');
  }, 300_000);

  it('a batch mixing short and long utterances decodes as one at a time; cached decoding equals a recompute without cache', async () => {
    const m = await model();
    // every clip padded to 3000 frames shares one encoder call: the short ones end first and leave the batch
    const mixed = [clips[6]!, clips[5]!, clips[6]!.subarray(0, 20 * 16000 + 3000), clips[7]!];
    const feats = (xs: Float32Array[]) => xs.map((x) => (m as unknown as { frontEnd: { compute(a: Float32Array): never } }).frontEnd.compute(x));
    const opts = mixed.map(() => ({ language: null, itn: null }));
    const durs = mixed.map((x) => x.length / 16000);
    const batched = await m.runBatch(feats(mixed), opts, durs, { batched: true });
    const single = await m.runBatch(feats(mixed), opts, durs, { batched: false });
    const recompute = await m.runBatch(feats(mixed), opts, durs, { kvCache: false });
    expect(batched.map((t) => t.sherpa)).toEqual(single.map((t) => t.sherpa));
    expect(batched.map((t) => t.sherpa)).toEqual(recompute.map((t) => t.sherpa));
    const lengths = batched.map((t) => t.sherpa.tokens.length);
    expect(Math.max(...lengths)).toBeGreaterThan(Math.min(...lengths) + 10);
    expect(batched[1]!.sherpa.tokens.length).toBeGreaterThan(0);
  }, 300_000);

  it('serves through the engine thread (language option, result fields)', async () => {
    const engine = await AsrEngine.start({ modelPath: dir, provider: 'cpu', precision: 'fp32', threads: 1 });
    try {
      expect(engine.report).toMatchObject({ kind: 'whisper', precision: 'fp32', options: { language: true, itn: false } });
      // VOXFLEET_WHISPER_BATCH auto: both ways timed at load, the faster kept and named
      expect(engine.report.decoder).toMatch(/(batched at aligned positions, one offset per batch|one sequence at a time) \(measured at load: batched \d+ ms, one at a time \d+ ms on 4 x 6 s\)/);
      const res = await engine.transcribe([clips[0]!.slice(), clips[3]!.slice()], { options: [{ language: null, itn: null }, { language: 'zh', itn: null }] });
      const ref = [new SherpaWhisper(dir).transcribe(clips[0]!.slice()), new SherpaWhisper(dir, { language: 'zh' }).transcribe(clips[3]!.slice())];
      expect((res.transcripts as WhisperTranscript[]).map((t) => view(t))).toEqual(ref.map(refView));
      await expect(engine.transcribe([clips[0]!.slice()], { options: [{ language: 'xx', itn: null }] })).rejects.toThrow(/language "xx"/);
    } finally {
      await engine.close();
    }
  }, 300_000);
});

describe('Whisper large-v3-turbo layout (128 mel bins, 100 languages, ids shifted by yue): parity with sherpa-onnx', () => {
  let dir: string;
  let clips: Float32Array[];
  let m: WhisperModel | undefined;
  let ts: WhisperModel | undefined;

  beforeAll(async () => {
    dir = await ensureTestGraph('whisper-v3');
    clips = await Promise.all(CLIPS.map((c) => fixtureSamples(c)));
  }, 300_000);
  afterAll(async () => {
    await m?.release();
    await ts?.release();
  });

  it('reads the v3 ids and 128 bins from the metadata', async () => {
    const spec = await loadModelSpec({ modelPath: dir });
    expect(spec.whisper!.exportName).toBe('turbo');
    expect(spec.whisper!.info).toMatchObject({ nMels: 128, nVocab: 51866, transcribe: 50360, translate: 50359, noTimestamps: 50364, timestampBegin: 50365 });
    expect(spec.whisper!.info.languages.get('yue')).toBe(50358);
    expect(spec.frontEnd).toMatchObject({ kind: 'whisper', melBins: 128 });
  });

  it('auto, yue forced and segment timestamps as sherpa-onnx, batched', async () => {
    const config = (cfg: Partial<AsrConfigInput>) => asrConfigSchema.parse({ modelPath: dir, provider: 'cpu', precision: 'fp32', threads: 1, ...cfg });
    m = await WhisperModel.load(await loadModelSpec(config({})), config({}));
    ts = await WhisperModel.load(await loadModelSpec(config({ whisperTimestamps: true })), config({ whisperTimestamps: true }));
    for (const language of [null, 'yue'] as const) {
      const ref = new SherpaWhisper(dir, { language: language ?? '' });
      const expected = clips.map((c) => refView(ref.transcribe(c.slice())));
      const got = (await m.transcribe(clips.map((c) => c.slice()), clips.map(() => ({ language, itn: null })))).transcripts as WhisperTranscript[];
      expect(got.map((t) => view(t))).toEqual(expected);
      if (language === 'yue') expect(expected.every((e) => e.lang === 'yue')).toBe(true);
    }
    const ref = new SherpaWhisper(dir, { timestamps: true });
    const expected = clips.map((c) => refView(ref.transcribe(c.slice())));
    const got = (await ts.transcribe(clips.map((c) => c.slice()))).transcripts as WhisperTranscript[];
    expect(got.map((t) => view(t, true))).toEqual(expected);
  }, 300_000);
});
