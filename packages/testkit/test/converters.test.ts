/**
 * The converters of scripts/models (npm run models:fp16 / models:int8): their
 * graphs load in onnxruntime-node and agree with float32 — on every tiny test
 * graph (inputs and outputs stay float32) and on the project's trained model
 * with real speech (fp16 with float16 I/O, as models/voxfleet-en-char-ctc ships it).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { float32ToHalf, FrontEnd, halfToFloat32, readOnnxMetadata } from '@voxfleet/asr';
import { REPO_ROOT } from '@voxfleet/config';
import { ensureTestGraph, fixtureSamples, onnxTools, syntheticFeatures, SINGLE_FILE_TEST_GRAPH_KINDS as TEST_GRAPH_KINDS, type SingleFileTestGraphKind as TestGraphKind } from '../src/index.js';

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'voxfleet-convert-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

interface Agreement {
  rows: number;
  argmax: number;
  /** largest |difference| over the rows whose argmax agrees */
  maxDiff: number;
}

/** Compares [.., V] outputs row by row. */
function agreement(ref: Float32Array, got: Float32Array, v: number): Agreement {
  const rows = ref.length / v;
  let same = 0;
  let maxDiff = 0;
  for (let r = 0; r < rows; r++) {
    let a = 0;
    let b = 0;
    let d = 0;
    for (let k = 0; k < v; k++) {
      if (ref[r * v + k]! > ref[r * v + a]!) a = k;
      if (got[r * v + k]! > got[r * v + b]!) b = k;
      d = Math.max(d, Math.abs(ref[r * v + k]! - got[r * v + k]!));
    }
    if (a === b) {
      same++;
      maxDiff = Math.max(maxDiff, d);
    }
  }
  return { rows, argmax: same / rows, maxDiff };
}

function floats(t: ort.Tensor): Float32Array {
  return t.type === 'float16' ? halfToFloat32(t.data as Uint16Array) : (t.data as Float32Array);
}

async function outputs(file: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(file);
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function feedsOf(kind: TestGraphKind): { feeds: Record<string, ort.Tensor>; output: string; vocab: number } {
  const T = 300;
  const i32 = (v: number[]): ort.Tensor => new ort.Tensor('int32', Int32Array.from(v), [v.length]);
  switch (kind) {
    case 'sense-voice':
      return {
        feeds: { x: new ort.Tensor('float32', syntheticFeatures(T, 560, 7), [1, T, 560]), x_length: i32([T]), language: i32([0]), text_norm: i32([15]) },
        output: 'logits',
        vocab: 25055,
      };
    case 'funasr-nano-ctc':
      return { feeds: { x: new ort.Tensor('float32', syntheticFeatures(T, 560, 8, { offset: 14, scale: 4.5 }), [1, T, 560]) }, output: 'logits', vocab: 60515 };
    case 'nemo-ctc': {
      const f = syntheticFeatures(8 * T, 80, 9);
      const a = new Float32Array(80 * 8 * T);
      for (let t = 0; t < 8 * T; t++) for (let d = 0; d < 80; d++) a[d * 8 * T + t] = f[t * 80 + d]!;
      return {
        feeds: { audio_signal: new ort.Tensor('float32', a, [1, 80, 8 * T]), length: new ort.Tensor('int64', BigInt64Array.from([BigInt(8 * T)]), [1]) },
        output: 'logprobs',
        vocab: 1025,
      };
    }
    default:
      return { feeds: { speech: new ort.Tensor('float32', syntheticFeatures(T, 560, 10), [1, T, 560]), speech_lengths: i32([T]) }, output: 'logits', vocab: 8404 };
  }
}

describe.each(TEST_GRAPH_KINDS)('converters on the %s test graph', (kind) => {
  it('fp16 (float32 I/O) and int8 agree with float32', async () => {
    const dir = await ensureTestGraph(kind);
    const fp16 = join(work, `${kind}.fp16.onnx`);
    const int8 = join(work, `${kind}.int8.onnx`);
    await onnxTools(['fp16', join(dir, 'model.onnx'), fp16]);
    await onnxTools(['int8', join(dir, 'model.onnx'), int8]);
    const { feeds, output, vocab } = feedsOf(kind);
    const ref = await outputs(join(dir, 'model.onnx'), feeds);
    for (const file of [fp16, int8]) {
      const got = await outputs(file, feeds);
      expect(got[output]!.type).toBe('float32'); // inputs and outputs stay float32
      expect(got[output]!.dims).toEqual(ref[output]!.dims);
      const a = agreement(floats(ref[output]!), floats(got[output]!), vocab);
      // a bucket flips only where a score lies within rounding of an edge
      expect(a.argmax, file).toBeGreaterThanOrEqual(0.97);
      expect(a.maxDiff, file).toBeLessThan(0.1);
      for (const name of Object.keys(ref).filter((n) => n !== output)) {
        expect(got[name]!.dims, name).toEqual(ref[name]!.dims);
      }
    }
  });
});

describe('converters on models/voxfleet-en-char-ctc', () => {
  const MODEL = join(REPO_ROOT, 'models/voxfleet-en-char-ctc');

  it('fp16 with float16 I/O matches the shipped model.fp16.onnx; both, and int8, agree with float32 on real speech', async () => {
    const fp16 = join(work, 'voxfleet.fp16.onnx');
    const int8 = join(work, 'voxfleet.int8.onnx');
    await onnxTools(['fp16', join(MODEL, 'model.onnx'), fp16, '--io', 'fp16']);
    await onnxTools(['int8', join(MODEL, 'model.onnx'), int8]);
    const meta = await readOnnxMetadata(join(MODEL, 'model.onnx'));
    const fe = new FrontEnd({
      lfrM: Number(meta.lfr_window_size),
      lfrN: Number(meta.lfr_window_shift),
      cmvn: { negMean: meta.neg_mean!.split(',').map(Number), invStd: meta.inv_stddev!.split(',').map(Number) },
    });
    const f = fe.compute(await fixtureSamples('en-librispeech-1995-1837-0001.wav'));
    const len = new ort.Tensor('int32', Int32Array.from([f.frames]), [1]);
    const x32 = { x: new ort.Tensor('float32', f.data, [1, f.frames, f.dim]), x_length: len };
    const x16 = { x: new ort.Tensor('float16', float32ToHalf(f.data), [1, f.frames, f.dim]), x_length: len };
    const vocab = Number(meta.vocab_size);
    const ref = floats((await outputs(join(MODEL, 'model.onnx'), x32)).logits!);
    const shipped = floats((await outputs(join(MODEL, 'model.fp16.onnx'), x16)).logits!);
    const ours = floats((await outputs(fp16, x16)).logits!);
    const q = floats((await outputs(int8, x32)).logits!);
    const same = agreement(shipped, ours, vocab);
    expect(same.argmax).toBe(1);
    expect(same.maxDiff).toBeLessThan(0.01);
    const half = agreement(ref, ours, vocab);
    expect(half.argmax).toBeGreaterThanOrEqual(0.99);
    expect(half.maxDiff).toBeLessThan(0.1);
    const quant = agreement(ref, q, vocab);
    expect(quant.argmax).toBeGreaterThanOrEqual(0.95);
    expect(quant.maxDiff).toBeLessThan(3);
  });
});
