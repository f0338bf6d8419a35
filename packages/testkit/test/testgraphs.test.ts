/**
 * The generated test graphs (scripts/models/testgraph) against what sherpa-onnx's
 * exports are: exact input/output names, dtypes and dynamic axes (onnxruntime-node),
 * metadata keys, tokens.txt layout; then sherpa-onnx itself decoding real speech
 * from fixtures/audio with them.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { readOnnxMetadata } from '@voxfleet/asr/onnx-metadata';
import { ensureTestGraph, fixtureSamples, onnxTools, SherpaRecognizer, syntheticFeatures, SINGLE_FILE_TEST_GRAPH_KINDS as TEST_GRAPH_KINDS, type SingleFileTestGraphKind as TestGraphKind } from '../src/index.js';

type Sig = [name: string, type: string, shape: (number | string)[]][];

const SV_V = 25055;
const NANO_V = 60515;
const PF_V = 8404;
const NEMO_V = 1025;

const PF_INPUTS: Sig = [
  ['speech', 'float32', ['batch_size', 'feats_length', 560]],
  ['speech_lengths', 'int32', ['batch_size']],
];
const PF_OUTPUTS: Sig = [
  ['logits', 'float32', ['batch_size', 'logits_length', PF_V]],
  ['token_num', 'int32', ['batch_size']],
];

const SIGNATURES: Record<TestGraphKind, { inputs: Sig; outputs: Sig }> = {
  'sense-voice': {
    inputs: [
      ['x', 'float32', ['N', 'T', 560]],
      ['x_length', 'int32', ['N']],
      ['language', 'int32', ['N']],
      ['text_norm', 'int32', ['N']],
    ],
    outputs: [['logits', 'float32', ['N', 'T', SV_V]]],
  },
  'funasr-nano-ctc': { inputs: [['x', 'float32', [1, 'T', 560]]], outputs: [['logits', 'float32', [1, 'T', NANO_V]]] },
  paraformer: { inputs: PF_INPUTS, outputs: PF_OUTPUTS },
  'paraformer-ts': {
    inputs: PF_INPUTS,
    outputs: [
      ...PF_OUTPUTS,
      ['us_alphas', 'float32', ['batch_size', 'alphas_length']],
      ['us_cif_peak', 'float32', ['batch_size', 'alphas_length']],
    ],
  },
  'nemo-ctc': {
    inputs: [
      ['audio_signal', 'float32', ['audio_signal_dynamic_axes_1', 80, 'audio_signal_dynamic_axes_2']],
      ['length', 'int64', ['length_dynamic_axes_1']],
    ],
    outputs: [['logprobs', 'float32', ['logprobs_dynamic_axes_1', 'logprobs_dynamic_axes_2', NEMO_V]]],
  },
};

const LFR = ['lfr_window_size', 'lfr_window_shift'];
const METADATA: Record<TestGraphKind, { keys: string[]; values: Record<string, string> }> = {
  'sense-voice': {
    keys: [...LFR, 'normalize_samples', 'neg_mean', 'inv_stddev', 'model_type', 'version', 'model_author', 'maintainer',
      'vocab_size', 'comment', 'lang_auto', 'lang_zh', 'lang_en', 'lang_yue', 'lang_ja', 'lang_ko', 'lang_nospeech',
      'with_itn', 'without_itn', 'url'],
    values: { lfr_window_size: '7', lfr_window_shift: '6', normalize_samples: '0', model_type: 'sense_voice_ctc', version: '2',
      vocab_size: `${SV_V}`, comment: 'iic/SenseVoiceSmall', lang_auto: '0', lang_zh: '3', lang_en: '4', lang_yue: '7',
      lang_ja: '11', lang_ko: '12', lang_nospeech: '13', with_itn: '14', without_itn: '15' },
  },
  'funasr-nano-ctc': {
    keys: [...LFR, 'normalize_samples', 'model_type', 'version', 'model_author', 'maintainer', 'vocab_size', 'blank_id', 'comment', 'url'],
    values: { vocab_size: `${NANO_V}`, blank_id: `${NANO_V - 1}`, model_type: 'sense_voice_ctc', comment: 'FunAudioLLM/Fun-ASR-Nano-2512' },
  },
  paraformer: {
    keys: [...LFR, 'neg_mean', 'inv_stddev', 'model_type', 'version', 'model_author', 'vocab_size', 'comment'],
    values: { vocab_size: `${PF_V}`, lfr_window_size: '7', lfr_window_shift: '6' },
  },
  'paraformer-ts': {
    keys: [...LFR, 'neg_mean', 'inv_stddev', 'model_type', 'version', 'model_author', 'vocab_size', 'comment'],
    values: { vocab_size: `${PF_V}` },
  },
  'nemo-ctc': {
    keys: ['vocab_size', 'normalize_type', 'subsampling_factor', 'model_type', 'version', 'model_author', 'url', 'comment', 'doc'],
    values: { vocab_size: '1024', normalize_type: 'per_feature', subsampling_factor: '8', model_type: 'EncDecHybridRNNTCTCBPEModel' },
  },
};

/** The pieces each tiny graph emits (scripts/models/testgraph/tokens.py), as sherpa-onnx prints them (▁ -> space). */
const SV_CJK = ['的', '是', '我', '你', '好', '们', '在', '了'];
const EN = [' the', ' a', 's', ' and', ' to', 'ing', ' of', 'ed'];
const PIECES: Record<TestGraphKind, string[]> = {
  'sense-voice': [...SV_CJK, ...EN],
  'funasr-nano-ctc': ['的', '是', '我', '你', ' the', ' a', 's', 'ing'],
  paraformer: ['你', '好', 'hel@@', 'lo', 'world', '语', '音', 'test'],
  'paraformer-ts': ['你', '好', 'hel@@', 'lo', 'world', '语', '音', 'test'],
  'nemo-ctc': EN,
};

const CLIPS = ['en-funasr-example.wav', 'zh-funasr-example.wav', 'en-librispeech-1995-1837-0001.wav'];

function signature(meta: readonly ort.InferenceSession.ValueMetadata[]): Sig {
  return meta.map((m) => (m.isTensor ? [m.name, m.type, [...m.shape]] : [m.name, 'non-tensor', []]));
}

async function tokenLines(dir: string): Promise<string[]> {
  const text = await readFile(join(dir, 'tokens.txt'), 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n');
}

function argmaxRows(data: Float32Array, rows: number, v: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let k = 1; k < v; k++) if (data[r * v + k]! > data[r * v + best]!) best = k;
    out.push(best);
  }
  return out;
}

describe.each(TEST_GRAPH_KINDS)('test graph %s', (kind) => {
  let dir = '';
  beforeAll(async () => {
    dir = await ensureTestGraph(kind);
  }, 300_000);

  it('is deterministic: generating again writes byte-identical files', async () => {
    const again = await mkdtemp(join(tmpdir(), `testgraph-${kind}-`));
    try {
      await onnxTools(['testgraph', kind, '--out', again]);
      for (const f of ['model.onnx', 'model.int8.onnx', 'tokens.txt']) {
        expect((await readFile(join(again, f))).equals(await readFile(join(dir, f))), f).toBe(true);
      }
    } finally {
      await rm(again, { recursive: true, force: true });
    }
  });

  it('has the export signature in model.onnx and model.int8.onnx', async () => {
    for (const file of ['model.onnx', 'model.int8.onnx']) {
      const s = await ort.InferenceSession.create(join(dir, file));
      expect(signature(s.inputMetadata), file).toEqual(SIGNATURES[kind].inputs);
      expect(signature(s.outputMetadata), file).toEqual(SIGNATURES[kind].outputs);
      await s.release();
    }
  });

  it('carries the metadata keys sherpa-onnx reads, as strings', async () => {
    for (const file of ['model.onnx', 'model.int8.onnx']) {
      const meta = await readOnnxMetadata(join(dir, file));
      expect(Object.keys(meta).sort(), file).toEqual([...METADATA[kind].keys].sort());
      expect(meta).toMatchObject(METADATA[kind].values);
      for (const k of ['neg_mean', 'inv_stddev']) {
        if (k in meta) expect(meta[k]!.split(',').map(Number).filter(Number.isFinite)).toHaveLength(560);
      }
    }
  });

  it('has a tokens.txt in the export layout', async () => {
    const lines = await tokenLines(dir);
    const plain = /^(\S+) (\d+)$/;
    if (kind === 'funasr-nano-ctc') {
      expect(lines).toHaveLength(NANO_V);
      let empty = 0;
      lines.forEach((l, i) => {
        const m = /^(?:([A-Za-z0-9+/]+=*) )?(\d+)$/.exec(l);
        expect(m?.[2], l).toBe(`${i}`);
        if (m![1] === undefined) empty++;
        else expect(Buffer.from(Buffer.from(m![1], 'base64').toString('utf8')).toString('base64')).toBe(m![1]);
      });
      expect(empty).toBe(1); // the real file has one empty piece, written as a bare id
      return;
    }
    lines.forEach((l, i) => expect(plain.exec(l)?.[2], l).toBe(`${i}`));
    const sym = lines.map((l) => l.split(' ')[0]!);
    expect(new Set(sym).size).toBe(sym.length);
    if (kind === 'sense-voice') {
      expect(sym).toHaveLength(SV_V);
      expect(sym.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
      const at = (i: number): string => sym[i]!;
      expect([24884, 24885, 24888, 24892, 24896, 24992].map(at)).toEqual(['<|zh|>', '<|en|>', '<|yue|>', '<|ja|>', '<|ko|>', '<|nospeech|>']);
      expect([25001, 25002, 25003, 25004, 25009, 25016, 25017].map(at)).toEqual(
        ['<|HAPPY|>', '<|SAD|>', '<|ANGRY|>', '<|NEUTRAL|>', '<|EMO_UNKNOWN|>', '<|withitn|>', '<|woitn|>']);
      expect(sym).toContain('<|Speech|>');
      expect(sym).toContain('<|BGM|>');
    } else if (kind === 'nemo-ctc') {
      expect(sym).toHaveLength(NEMO_V);
      expect(sym.at(-1)).toBe('<blk>');
      expect(sym[0]).toBe('<unk>');
    } else {
      expect(sym).toHaveLength(PF_V);
      expect(sym.slice(0, 3)).toEqual(['<blank>', '<s>', '</s>']);
      expect(sym.at(-1)).toBe('<unk>');
      expect(sym.some((s) => /^[a-z]+$/.test(s))).toBe(true);
      expect(sym.some((s) => s.endsWith('@@'))).toBe(true);
      expect(sym.some((s) => /^[\u4e00-\u9fff]$/.test(s))).toBe(true);
    }
  });

  it('keeps dynamic axes: output lengths follow the input, batch rows do not affect each other', async () => {
    const s = await ort.InferenceSession.create(join(dir, 'model.onnx'));
    const T = 37;
    if (kind === 'sense-voice') {
      const x = syntheticFeatures(T, 560, 1);
      const both = new Float32Array(2 * T * 560);
      both.set(x);
      both.set(x.subarray(0, 20 * 560), T * 560); // row 1: the first 20 frames, zero-padded
      const i32 = (v: number[]): ort.Tensor => new ort.Tensor('int32', Int32Array.from(v), [v.length]);
      const out = await s.run({ x: new ort.Tensor('float32', both, [2, T, 560]), x_length: i32([T, 20]), language: i32([0, 3]), text_norm: i32([14, 15]) });
      const logits = out.logits!;
      expect(logits.dims).toEqual([2, T + 4, SV_V]);
      const ids = argmaxRows(logits.data as Float32Array, 2 * (T + 4), SV_V);
      expect(ids[3]).toBe(25016); // <|withitn|>
      expect(ids[T + 4 + 0]).toBe(24884); // language 3: <|zh|>
      expect(ids[T + 4 + 3]).toBe(25017); // <|woitn|>
      const single = await s.run({ x: new ort.Tensor('float32', x.slice(0, 20 * 560), [1, 20, 560]), x_length: i32([20]), language: i32([3]), text_norm: i32([15]) });
      expect(argmaxRows(single.logits!.data as Float32Array, 24, SV_V)).toEqual(ids.slice(T + 4, T + 4 + 24));
    } else if (kind === 'funasr-nano-ctc') {
      const out = await s.run({ x: new ort.Tensor('float32', syntheticFeatures(T, 560, 2, { offset: 14, scale: 4.5 }), [1, T, 560]) });
      expect(out.logits!.dims).toEqual([1, T, NANO_V]);
    } else if (kind === 'nemo-ctc') {
      const f = syntheticFeatures(T, 80, 3);
      const a = new Float32Array(2 * 80 * T).fill(-23.03); // sherpa-onnx pads with log(eps)
      for (let t = 0; t < T; t++) for (let d = 0; d < 80; d++) {
        a[d * T + t] = f[t * 80 + d]!;
        if (t < 17) a[80 * T + d * T + t] = f[t * 80 + d]!;
      }
      const out = await s.run({
        audio_signal: new ort.Tensor('float32', a, [2, 80, T]),
        length: new ort.Tensor('int64', BigInt64Array.from([BigInt(T), 17n]), [2]),
      });
      expect(out.logprobs!.dims).toEqual([2, Math.ceil(T / 8), NEMO_V]);
      const ids = argmaxRows(out.logprobs!.data as Float32Array, 2 * 5, NEMO_V);
      expect(ids.slice(5 + 3)).toEqual([1024, 1024]); // frames past row 1's length are <blk>
    } else {
      const x = syntheticFeatures(T, 560, 4);
      const both = new Float32Array(2 * T * 560);
      both.set(x);
      both.set(x.subarray(0, 9 * 560), T * 560);
      const out = await s.run({
        speech: new ort.Tensor('float32', both, [2, T, 560]),
        speech_lengths: new ort.Tensor('int32', Int32Array.from([T, 9]), [2]),
      });
      const tokenNum = Array.from(out.token_num!.data as Int32Array);
      expect(out.logits!.dims).toEqual([2, Math.max(...tokenNum), PF_V]);
      expect(tokenNum[0]!).toBeGreaterThan(1);
      expect(tokenNum[1]!).toBeLessThanOrEqual(4); // 9 frames: at most 3 segments, then </s>
      if (kind === 'paraformer-ts') {
        expect(out.us_cif_peak!.dims).toEqual([2, 3 * T]);
        const peaks = (out.us_cif_peak!.data as Float32Array).subarray(0, 3 * T).filter((v) => v > 1 - 1e-4).length;
        expect(peaks).toBe(tokenNum[0]); // one per token and one for </s>
      }
    }
    await s.release();
  });

  it('decodes real speech in sherpa-onnx, deterministically, into the pieces it was built with', async () => {
    const clips = await Promise.all(CLIPS.map((c) => fixtureSamples(c)));
    const rec = new SherpaRecognizer(kind, dir);
    const first = await rec.transcribeMany(clips);
    const again = await new SherpaRecognizer(kind, dir, { concurrency: 3 }).transcribeMany(clips);
    expect(again).toEqual(first);
    const int8 = await new SherpaRecognizer(kind, dir, { model: 'model.int8.onnx' }).transcribeMany(clips);
    for (const [i, r] of first.entries()) {
      expect(r.text.length, CLIPS[i]).toBeGreaterThan(0);
      expect(r.tokens.length).toBeGreaterThan(5);
      for (const t of r.tokens) expect(PIECES[kind]).toContain(t);
      if (kind === 'paraformer') expect(r.timestamps).toEqual([]);
      else {
        expect(r.timestamps).toHaveLength(r.tokens.length);
        for (let k = 1; k < r.timestamps.length; k++) expect(r.timestamps[k]!).toBeGreaterThan(r.timestamps[k - 1]!);
      }
      expect(int8[i]!.tokens.length).toBeGreaterThan(5);
    }
  });
});

describe('sense-voice test graph in sherpa-onnx', () => {
  const kind = 'sense-voice';
  it('follows the requested language; auto decides from the features', async () => {
    const dir = await ensureTestGraph(kind);
    const clips = await Promise.all(CLIPS.map((c) => fixtureSamples(c)));
    for (const lang of ['zh', 'en', 'yue', 'ja', 'ko']) {
      const rs = await new SherpaRecognizer(kind, dir, { language: lang, useItn: lang === 'zh' }).transcribeMany(clips);
      for (const r of rs) {
        expect(r.lang).toBe(`<|${lang}|>`);
        for (const t of r.tokens) expect(lang === 'en' ? EN : SV_CJK).toContain(t);
      }
    }
    const auto = await new SherpaRecognizer(kind, dir).transcribeMany(clips);
    expect(auto.map((r) => r.lang)).toEqual(['<|en|>', '<|zh|>', '<|en|>']);
    expect(auto.map((r) => r.emotion)).toEqual(['<|NEUTRAL|>', '<|NEUTRAL|>', '<|HAPPY|>']);
    expect(auto.map((r) => r.event)).toEqual(['<|Speech|>', '<|Speech|>', '<|Speech|>']);
  });
});

describe('the generator without python3-onnx', () => {
  it('fails with what to apt-get install', async () => {
    const saved = process.env.VOXFLEET_PYTHON;
    process.env.VOXFLEET_PYTHON = join(tmpdir(), 'no-such-python3');
    try {
      await expect(onnxTools(['testgraph', 'nemo-ctc', '--out', join(tmpdir(), 'never-written')])).rejects.toThrow(
        /apt-get install -y python3-onnx python3-numpy/,
      );
    } finally {
      if (saved === undefined) delete process.env.VOXFLEET_PYTHON;
      else process.env.VOXFLEET_PYTHON = saved;
    }
  });
});
