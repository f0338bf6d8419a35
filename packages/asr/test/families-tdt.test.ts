/**
 * The pure pieces of the Parakeet TDT path: the greedy search's rules (sherpa-onnx's
 * DecodeOneTDT) on hand-made joiner outputs, the result conversion (Convert), the
 * metadata reading, and the relaxing of a declared batch dimension in a model's bytes.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { identityOnnx } from '@voxfleet/testkit';
import {
  SymbolTable,
  TdtSearch,
  nemoTransducerEncoderFrames,
  nemoTransducerModelInfo,
  removeSpaceBetweenCjk,
  tdtTranscript,
} from '../src/families/index.js';
import { readOnnxInfo } from '../src/onnx-metadata.js';
import { relaxInputDims } from '../src/onnx-dims.js';

const V = 6; // 5 pieces + blank 5
const W = V + 5;

/** One joiner output: `token` and duration `dur` win. */
function step(token: number, dur: number): Float32Array {
  const a = new Float32Array(W).fill(-1);
  a[token] = 5;
  a[V + dur] = 5;
  return a;
}

function run(numFrames: number, plan: (t: number, emittedHere: number) => [number, number]): TdtSearch {
  const s = new TdtSearch(numFrames, V);
  let lastT = -1;
  let here = 0;
  for (let guard = 0; !s.done && guard < 1000; guard++) {
    if (s.t !== lastT) {
      here = 0;
      lastT = s.t;
    }
    const [tok, dur] = plan(s.t, here);
    if (s.step(step(tok, dur), 0, W) >= 0) here++;
  }
  return s;
}

describe('TDT greedy search (sherpa-onnx DecodeOneTDT)', () => {
  it('emits on non-blank, skips by the duration, and moves one frame on a blank with duration 0', () => {
    // frame 0: token 1 for 2 frames; frame 2: blank, duration 0 (-> 1); frame 3: token 2 duration 0, then blank 3
    const s = run(8, (t, here) => (t === 0 ? [1, 2] : t === 3 ? (here === 0 ? [2, 0] : [5, 3]) : [5, 0]));
    expect(s.tokens).toEqual([1, 2]);
    expect(s.frames).toEqual([0, 3]);
    expect(s.durations).toEqual([2, 0]);
  });

  it('forces a skip of 1 after 5 tokens on one frame', () => {
    const s = run(3, (t) => (t === 0 ? [4, 0] : [5, 1]));
    expect(s.tokens).toEqual([4, 4, 4, 4, 4]);
    expect(s.frames).toEqual([0, 0, 0, 0, 0]);
    expect(s.t).toBe(3);
  });

  it('takes the first of equal maxima (std::max_element)', () => {
    const s = new TdtSearch(1, V);
    const a = new Float32Array(W).fill(0);
    expect(s.step(a, 0, W)).toBe(0); // token 0, duration 0
    expect(s.t).toBe(0); // a token with duration 0 stays
  });

  it('writes text, tokens, timestamps and durations as Convert does', () => {
    const table = SymbolTable.parse('<unk> 0\n▁hello 1\n▁wor 2\nld 3\n, 4\n<blk> 5\n');
    const t = tdtTranscript({ tokens: [1, 4, 2, 3], frames: [1, 3, 3, 7], durations: [2, 0, 4, 1] }, table, { subsamplingFactor: 8 }, { durationSec: 1 });
    expect(t.sherpa.text).toBe('hello, world');
    expect(t.sherpa.tokens).toEqual([' hello', ',', ' wor', 'ld']);
    expect(t.sherpa.timestamps).toEqual([1, 3, 3, 7].map((f) => Math.fround(Math.fround(f) * Math.fround(0.08))));
    expect(t.durations).toEqual([2, 0, 4, 1].map((d) => Math.fround(Math.fround(d) * Math.fround(0.08))));
    expect(t.text).toBe('hello, world');
    expect(t.tokens.map((x) => [x.start, x.end])).toEqual([
      [0.08, 0.24],
      [0.24, 0.32],
      [0.24, 0.56],
      [0.56, 0.64],
    ]);
  });

  it('drops spaces between CJK characters and before punctuation, as RemoveSpaceBetweenCjk', () => {
    const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
    const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
    expect(dec(removeSpaceBetweenCjk(enc(' 你 好 world , ok 。')))).toBe(' 你好 world, ok。');
    expect(removeSpaceBetweenCjk(Uint8Array.of(0xe4))).toEqual(Uint8Array.of(0xe4)); // under two code points: as it is
    expect(dec(removeSpaceBetweenCjk(Uint8Array.of(0x61, 0xe4, 0xb8)))).toBe('a\ufffd\ufffd'); // one U+FFFD per bad byte
  });
});

describe('NeMo transducer metadata', () => {
  const meta = { vocab_size: '1024', normalize_type: 'per_feature', pred_rnn_layers: '2', pred_hidden: '640', subsampling_factor: '8', feat_dim: '128', url: 'https://huggingface.co/nvidia/parakeet-tdt-0.6b-v2' };
  it('reads what sherpa-onnx reads', () => {
    expect(nemoTransducerModelInfo(meta)).toEqual({ vocabSize: 1025, subsamplingFactor: 8, normalize: 'per_feature', predRnnLayers: 2, predHidden: 640, featDim: 128, tdt: true });
    expect(nemoTransducerModelInfo({ ...meta, feat_dim: '', url: 'x', normalize_type: 'NA' })).toMatchObject({ featDim: 80, tdt: false, normalize: 'none' });
    expect(() => nemoTransducerModelInfo({ ...meta, pred_hidden: '' })).toThrow(/pred_hidden/);
    expect(() => nemoTransducerModelInfo({ ...meta, is_giga_am: '1' })).toThrow(/GigaAM/);
    expect(nemoTransducerEncoderFrames(0)).toBe(0);
    expect([1, 8, 9, 16, 17].map(nemoTransducerEncoderFrames)).toEqual([1, 1, 2, 2, 3]);
  });
});

describe('relaxInputDims', () => {
  it('makes a declared batch of 1 dynamic in place, keeping the byte length, so onnxruntime takes any batch', async () => {
    const model = identityOnnx(
      [
        { name: 'h', type: 'float32', dims: [2, 'N', 3] },
        { name: 'c', type: 'float32', dims: [2, 1, 3] },
      ],
      [
        { name: 'h_out', type: 'float32', dims: [2, 'N', 3] },
        { name: 'c_out', type: 'float32', dims: [2, 'M', 3] },
      ],
    );
    const dir = await mkdtemp(join(tmpdir(), 'voxfleet-dims-'));
    try {
      const before = await ort.InferenceSession.create(model);
      const feeds = { h: new ort.Tensor('float32', new Float32Array(12), [2, 2, 3]), c: new ort.Tensor('float32', new Float32Array(12), [2, 2, 3]) };
      await expect(before.run(feeds)).rejects.toThrow(/invalid dimensions for input: c/);
      const bytes = model.slice();
      expect(relaxInputDims(bytes, ['c', 'h'], 1)).toEqual(['c']);
      expect(bytes.length).toBe(model.length);
      await writeFile(join(dir, 'm.onnx'), bytes);
      expect((await readOnnxInfo(join(dir, 'm.onnx'))).inputs[1]!.dims).toEqual([2, '?', 3]);
      const after = await ort.InferenceSession.create(bytes);
      expect((await after.run(feeds)).c_out!.dims).toEqual([2, 2, 3]);
      expect(relaxInputDims(bytes, ['c'], 1)).toEqual([]); // nothing left to relax
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
