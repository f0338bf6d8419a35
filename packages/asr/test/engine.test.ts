/**
 * The engine with the real default model (models/voxfleet-en-char-ctc) on
 * onnxruntime-node's CPU provider, on a worker thread. No stubs.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFile, parseWav } from '@voxfleet/audio';
import {
  AsrEngine,
  CtcModel,
  DEFAULT_MODEL_DIR,
  EngineError,
  asrConfigSchema,
  charErrors,
  rate,
  readOnnxMetadata,
  fileDigest,
  decoderTag,
  resolveDecoder,
  sumCounts,
} from '../src/index.js';

const FIXTURES = new URL('../../../fixtures/', import.meta.url).pathname;

async function clip(path: string): Promise<Float32Array> {
  const wav = parseWav(new Uint8Array(await readFile(FIXTURES + path)));
  if (!wav || wav.sampleRate !== 16000) throw new Error(`${path}: expected a 16 kHz WAV`);
  return wav.samples;
}

interface Heldout {
  rows: { file: string; text: string }[];
  audio: Float32Array[];
}

async function loadHeldout(): Promise<Heldout> {
  const rows = (await readFile(FIXTURES + 'heldout/manifest.jsonl', 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { file: string; text: string });
  return { rows, audio: await Promise.all(rows.map((r) => decodeFile(FIXTURES + 'heldout/' + r.file))) };
}

// Regression bounds a little above what the shipped model measures on fixtures/heldout (MODEL_CARD.md).
// Measured 2026-11-26 (v3, step 19302, fp32): beam + LM 0.053, greedy 0.074 (int8: 0.059, 0.079).
const CER_BOUND_LM = 0.09;
const CER_BOUND_GREEDY = 0.12;

describe('AsrEngine (default model, CPU)', () => {
  let engine: AsrEngine;
  let clips: Float32Array[];
  let heldout: Heldout;

  beforeAll(async () => {
    engine = await AsrEngine.start({ modelPath: DEFAULT_MODEL_DIR, provider: 'cpu', precision: 'fp32', threads: 1 });
    clips = await Promise.all(
      ['audio/en-funasr-example.wav', 'audio/en-librispeech-1995-1837-0001.wav', 'audio/zh-funasr-example.wav'].map(clip),
    );
    // mixed lengths: a 1.2 s cut and a 2.5 s cut of the first clip as well
    clips.push(clips[0]!.slice(0, 19200), clips[1]!.slice(8000, 48000));
    heldout = await loadHeldout();
  });

  afterAll(async () => {
    await engine?.close();
  });

  it('reports what it loaded', () => {
    expect(engine.report.provider).toBe('cpu');
    expect(engine.report.precision).toBe('fp32');
    expect(engine.report.modelId).toMatch(/voxfleet/);
    expect(engine.report.loadMs).toBeGreaterThan(0);
    expect(engine.report.decoder).toMatch(/^beam \d+, LM lm\.arpa\.gz/);
  });

  it('names its model identity from the files: name, digest of the ONNX file that runs, decoder tag, precision', async () => {
    const { report } = engine;
    const tag = decoderTag(await resolveDecoder(asrConfigSchema.parse({ modelPath: DEFAULT_MODEL_DIR })));
    expect(tag).toMatch(/^\+beam-[0-9a-f]{8}$/);
    // served under its directory's name; the ONNX model_id is its version
    expect(report.modelName).toBe('voxfleet-en-char-ctc');
    expect(report.version).toMatch(/^voxfleet-en-char-ctc-v\d/);
    expect(report).toMatchObject({ kind: 'voxfleet-ctc', aliases: [], languages: ['en'] });
    expect(report.modelId).toBe(`${report.modelName}@${await fileDigest(report.file)}${tag}/fp32`);
    expect(report.file).toMatch(/model\.onnx$/);
  });

  it('gives the same text for mixed-length utterances batched as one at a time', async () => {
    const batched = await engine.transcribe(clips.map((c) => c.slice()));
    expect(batched.transcripts).toHaveLength(clips.length);
    expect(batched.timing.paddedFrames).toBeGreaterThan(batched.timing.frames);
    for (let i = 0; i < clips.length; i++) {
      const single = await engine.transcribe([clips[i]!.slice()]);
      expect(batched.transcripts[i]!.text).toBe(single.transcripts[0]!.text);
      expect(batched.transcripts[i]!.segments).toEqual(single.transcripts[0]!.segments);
    }
  });

  it('keeps timestamps inside the audio and in order', async () => {
    const { transcripts } = await engine.transcribe([clips[1]!.slice()]);
    const t = transcripts[0]!;
    expect(t.durationSec).toBeCloseTo(clips[1]!.length / 16000, 2);
    let last = 0;
    for (const tok of t.tokens) {
      expect(tok.start).toBeGreaterThanOrEqual(last);
      expect(tok.end).toBeGreaterThan(tok.start);
      expect(tok.end).toBeLessThanOrEqual(t.durationSec + 0.06);
      last = tok.start;
    }
  });

  it('keeps the main thread free while a batch runs', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const long = Array.from({ length: 8 }, () => {
      const a = new Float32Array(16000 * 20);
      for (let k = 0; k < a.length; k += clips[1]!.length) a.set(clips[1]!.subarray(0, Math.min(clips[1]!.length, a.length - k)), k);
      return a;
    });
    await engine.transcribe(long);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
  });

  it('transfers buffers and rejects after abort or close', async () => {
    const a = clips[0]!.slice();
    const ac = new AbortController();
    ac.abort();
    await expect(engine.transcribe([a], { signal: ac.signal })).rejects.toThrow(/aborted/);
    const transcribed = engine.transcribe([a]);
    expect(a.length).toBe(0); // transferred (detached) to the worker thread
    await transcribed;
  });

  it('recognises held-out synthetic speech (voices and sentences never trained on)', async () => {
    const { transcripts } = await engine.transcribe(heldout.audio);
    const cer = rate(sumCounts(heldout.rows.map((r, i) => charErrors(transcripts[i]!.text, r.text))));
    // a broken front-end, model or decoder lands near 1
    expect(cer).toBeLessThan(CER_BOUND_LM);
  });

  it('transcribes silence and tiny inputs to empty text without failing', async () => {
    const { transcripts } = await engine.transcribe([new Float32Array(16000), new Float32Array(100)]);
    expect(transcripts.map((t) => t.text)).toEqual(['', '']);
  });
});

describe('decoders on the default model', () => {
  it('beam search with the shipped LM beats greedy on held-out speech, from the same model scores', async () => {
    const { rows, audio } = await loadHeldout();
    const m = await CtcModel.load(asrConfigSchema.parse({ modelPath: DEFAULT_MODEL_DIR, provider: 'cpu', precision: 'fp32' }));
    const scores = await m.scores(audio.map((a) => m.features(a)));
    const cer = (decoder?: Parameters<CtcModel['decode']>[2]): number =>
      rate(sumCounts(rows.map((r, i) => charErrors(m.decode(scores[i]!, audio[i]!.length / 16000, decoder).text, r.text))));
    const greedy = cer({ kind: 'greedy' });
    const lm = cer();
    expect(m.activeDecoder.kind).toBe('beam');
    expect(greedy).toBeLessThan(CER_BOUND_GREEDY);
    expect(lm).toBeLessThan(greedy);
    await m.release();
  });
});

describe('model loading', () => {
  it('reads front-end settings and vocabulary from the ONNX metadata', async () => {
    const meta = await readOnnxMetadata(DEFAULT_MODEL_DIR + 'model.onnx');
    expect(meta.lfr_window_size).toBe('7');
    expect(meta.lfr_window_shift).toBe('3');
    expect(JSON.parse(meta.vocab!)).toHaveLength(Number(meta.vocab_size));
    expect(meta.neg_mean!.split(',')).toHaveLength(560);
  });

  it('runs the fp16 graph (Uint16Array tensors) close to fp32', async () => {
    const a = await clip('audio/en-funasr-example.wav');
    const m32 = await CtcModel.load(asrConfigSchema.parse({ modelPath: DEFAULT_MODEL_DIR, provider: 'cpu', precision: 'fp32' }));
    const m16 = await CtcModel.load(asrConfigSchema.parse({ modelPath: DEFAULT_MODEL_DIR, provider: 'cpu', precision: 'fp16' }));
    const [t32] = await m32.transcribe([a]);
    const [t16] = await m16.transcribe([a]);
    expect(m16.report.precision).toBe('fp16');
    // same words, allowing an occasional flip of a near-tie frame
    const w32 = t32!.text.split(' ');
    const w16 = t16!.text.split(' ');
    const common = w16.filter((w) => w32.includes(w)).length;
    expect(common).toBeGreaterThanOrEqual(Math.floor(w32.length * 0.8));
    await m32.release();
    await m16.release();
  });

  it('measures provider × precision and keeps the fastest with "auto"', async () => {
    const m = await CtcModel.load(asrConfigSchema.parse({ modelPath: DEFAULT_MODEL_DIR, provider: 'cpu', precision: 'auto' }));
    const measured = m.report.calibration.filter((c) => c.ms !== undefined);
    expect(measured.length).toBeGreaterThanOrEqual(2);
    const fastest = measured.reduce((a, b) => (b.ms! < a.ms! ? b : a));
    expect(m.report.precision).toBe(fastest.precision);
    await m.release();
  });

  it('fails clearly for an unavailable provider or precision', async () => {
    await expect(
      CtcModel.load(asrConfigSchema.parse({ modelPath: DEFAULT_MODEL_DIR, provider: 'cuda', precision: 'fp32' })),
    ).rejects.toMatchObject({ code: 'provider_unavailable', message: expect.stringMatching(/cuda/) });
    await expect(
      // one .onnx file offers one precision
      CtcModel.load(asrConfigSchema.parse({ modelPath: DEFAULT_MODEL_DIR + 'model.onnx', provider: 'cpu', precision: 'fp16' })),
    ).rejects.toMatchObject({ code: 'precision_unavailable' });
    await expect(AsrEngine.start({ modelPath: '/nonexistent/model', provider: 'cpu' })).rejects.toBeInstanceOf(EngineError);
  });
});
