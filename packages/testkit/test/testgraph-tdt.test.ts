/**
 * The Parakeet TDT test graphs (scripts/models/testgraph/parakeet_tdt.py) against what
 * sherpa-onnx's parakeet-tdt-0.6b-v2 export is (contract §7): file names (encoder.onnx with
 * its weights in encoder.weights, the int8 trio), input/output names, dtypes and dynamic axes
 * (the decoder's second state with its batch fixed at 1, as NeMo's trace declares it),
 * metadata on the encoder, tokens.txt with <blk> last; then sherpa-onnx decoding real
 * speech with them, and the converters on each graph.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOnnxMetadata } from '@voxfleet/asr/onnx-metadata';
import { ensureTestGraph, fixtureSamples, onnxTools, SherpaRecognizer } from '../src/index.js';

type Sig = [name: string, type: string, shape: (number | string)[]][];
const PARTS = ['encoder', 'decoder', 'joiner'] as const;

const SIGNATURES: Record<(typeof PARTS)[number], { inputs: Sig; outputs: Sig }> = {
  encoder: {
    inputs: [
      ['audio_signal', 'float32', ['audio_signal_dynamic_axes_1', 128, 'audio_signal_dynamic_axes_2']],
      ['length', 'int64', ['length_dynamic_axes_1']],
    ],
    outputs: [
      ['outputs', 'float32', ['Transposeoutputs_dim_0', 1024, 'Transposeoutputs_dim_2']],
      ['encoded_lengths', 'int64', ['length_dynamic_axes_1']],
    ],
  },
  decoder: {
    inputs: [
      ['targets', 'int32', ['targets_dynamic_axes_1', 'targets_dynamic_axes_2']],
      ['target_length', 'int32', ['target_length_dynamic_axes_1']],
      ['states.1', 'float32', [2, 'states.1_dim_1', 640]],
      ['onnx::Slice_3', 'float32', [2, 1, 640]],
    ],
    outputs: [
      ['outputs', 'float32', ['targets_dynamic_axes_1', 640, 'targets_dynamic_axes_2']],
      ['prednet_lengths', 'int32', ['target_length_dynamic_axes_1']],
      ['states', 'float32', [2, 'states_dynamic_axes_1', 640]],
      ['162', 'float32', [2, 'Concat162_dim_1', 640]],
    ],
  },
  joiner: {
    inputs: [
      ['encoder_outputs', 'float32', ['encoder_outputs_dynamic_axes_1', 1024, 'encoder_outputs_dynamic_axes_2']],
      ['decoder_outputs', 'float32', ['decoder_outputs_dynamic_axes_1', 640, 'decoder_outputs_dynamic_axes_2']],
    ],
    outputs: [['outputs', 'float32', ['Addoutputs_dim_0', 'Addoutputs_dim_1', 'Addoutputs_dim_2', 1030]]],
  },
};

const METADATA = {
  vocab_size: '1024',
  normalize_type: 'per_feature',
  pred_rnn_layers: '2',
  pred_hidden: '640',
  subsampling_factor: '8',
  model_type: 'EncDecRNNTBPEModel',
  version: '2',
  model_author: 'NeMo',
  url: 'https://huggingface.co/nvidia/parakeet-tdt-0.6b-v2',
  comment: 'Only the transducer branch is exported',
  feat_dim: '128',
};

const PIECES = [' the', ' a', 's', ' and', ' to', 'ing', ' of', 'ed', 'ly', 'er'];
const CLIPS = ['en-funasr-example.wav', 'zh-funasr-example.wav', 'en-librispeech-1995-1837-0001.wav'];

function signature(meta: readonly ort.InferenceSession.ValueMetadata[]): Sig {
  return meta.map((m) => (m.isTensor ? [m.name, m.type, [...m.shape]] : [m.name, 'non-tensor', []]));
}

describe('test graph parakeet-tdt', () => {
  let dir = '';
  let work = '';
  beforeAll(async () => {
    dir = await ensureTestGraph('parakeet-tdt');
    work = await mkdtemp(join(tmpdir(), 'testgraph-tdt-'));
  }, 300_000);
  afterAll(() => rm(work, { recursive: true, force: true }));

  it("has the export's files, and generating again writes byte-identical ones", async () => {
    const files = ['decoder.int8.onnx', 'decoder.onnx', 'encoder.int8.onnx', 'encoder.onnx', 'encoder.weights', 'joiner.int8.onnx', 'joiner.onnx', 'tokens.txt'];
    expect((await readdir(dir)).filter((f) => !f.startsWith('.')).sort()).toEqual(files);
    const again = join(work, 'again');
    await onnxTools(['testgraph', 'parakeet-tdt', '--out', again]);
    for (const f of files) expect((await readFile(join(again, f))).equals(await readFile(join(dir, f))), f).toBe(true);
    // encoder.onnx holds the graph; its initializers are in encoder.weights
    expect((await readFile(join(dir, 'encoder.onnx'))).includes('encoder.weights')).toBe(true);
  });

  it('has the export signatures in every file, fp32 and int8', async () => {
    for (const part of PARTS) {
      for (const file of [`${part}.onnx`, `${part}.int8.onnx`]) {
        const s = await ort.InferenceSession.create(join(dir, file));
        expect(signature(s.inputMetadata), file).toEqual(SIGNATURES[part].inputs);
        expect(signature(s.outputMetadata), file).toEqual(SIGNATURES[part].outputs);
        await s.release();
      }
    }
  });

  it('carries the metadata on the encoder only, as the export writes it', async () => {
    for (const file of ['encoder.onnx', 'encoder.int8.onnx']) expect(await readOnnxMetadata(join(dir, file)), file).toEqual(METADATA);
    for (const file of ['decoder.onnx', 'joiner.int8.onnx']) expect(await readOnnxMetadata(join(dir, file)), file).toEqual({});
  });

  it('has a tokens.txt in the export layout: <unk> 0, 1023 pieces, <blk> 1024', async () => {
    const text = await readFile(join(dir, 'tokens.txt'), 'utf8');
    const lines = text.slice(0, -1).split('\n');
    expect(lines).toHaveLength(1025);
    lines.forEach((l, i) => expect(/^(\S+) (\d+)$/.exec(l)?.[2], l).toBe(`${i}`));
    const sym = lines.map((l) => l.split(' ')[0]!);
    expect(new Set(sym).size).toBe(1025);
    expect([sym[0], sym[1024]]).toEqual(['<unk>', '<blk>']);
  });

  it('refuses a batch of two for the second decoder state as declared (the export trace fixes it at 1)', async () => {
    const s = await ort.InferenceSession.create(join(dir, 'decoder.onnx'));
    const z = (n: number): ort.Tensor => new ort.Tensor('float32', new Float32Array(2 * n * 640), [2, n, 640]);
    const feeds = (n: number, c: number): Record<string, ort.Tensor> => ({
      targets: new ort.Tensor('int32', new Int32Array(n).fill(1024), [n, 1]),
      target_length: new ort.Tensor('int32', new Int32Array(n).fill(1), [n]),
      'states.1': z(n),
      'onnx::Slice_3': z(c),
    });
    const one = await s.run(feeds(1, 1));
    expect(one.outputs!.dims).toEqual([1, 640, 1]);
    await expect(s.run(feeds(2, 2))).rejects.toThrow(/onnx::Slice_3/);
    await s.release();
  });

  it('decodes real speech in sherpa-onnx (TDT: timestamps and durations) into the pieces it was built with', async () => {
    const clips = await Promise.all(CLIPS.map((c) => fixtureSamples(c)));
    const first = await new SherpaRecognizer('parakeet-tdt', dir).transcribeMany(clips);
    const again = await new SherpaRecognizer('parakeet-tdt', dir, { concurrency: 3 }).transcribeMany(clips);
    expect(again).toEqual(first);
    const int8 = await new SherpaRecognizer('parakeet-tdt', dir, { model: 'encoder.int8.onnx' }).transcribeMany(clips);
    for (const [i, r] of first.entries()) {
      expect(r.tokens.length, CLIPS[i]).toBeGreaterThan(5);
      for (const t of r.tokens) expect(PIECES).toContain(t);
      expect(r.timestamps).toHaveLength(r.tokens.length);
      expect(r.durations).toHaveLength(r.tokens.length);
      for (let k = 1; k < r.timestamps.length; k++) expect(r.timestamps[k]!).toBeGreaterThanOrEqual(r.timestamps[k - 1]!);
      expect(int8[i]!.tokens.length).toBeGreaterThan(5);
    }
  });

  it('converts: fp16 (float32 I/O) and int8 graphs of each part load and agree with float32', async () => {
    const T = 24;
    const feats = new Float32Array(128 * 8 * T);
    let seed = 5;
    for (let i = 0; i < feats.length; i++) {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      feats[i] = (seed / 2 ** 32 - 0.5) * 3;
    }
    const inputs = {
      encoder: { audio_signal: new ort.Tensor('float32', feats, [1, 128, 8 * T]), length: new ort.Tensor('int64', BigInt64Array.of(BigInt(8 * T)), [1]) },
      decoder: {
        targets: new ort.Tensor('int32', Int32Array.of(3), [1, 1]),
        target_length: new ort.Tensor('int32', Int32Array.of(1), [1]),
        'states.1': new ort.Tensor('float32', new Float32Array(2 * 640), [2, 1, 640]),
        'onnx::Slice_3': new ort.Tensor('float32', new Float32Array(2 * 640), [2, 1, 640]),
      },
    };
    const run = async (file: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> => {
      const s = await ort.InferenceSession.create(file);
      try {
        return await s.run(feeds);
      } finally {
        await s.release();
      }
    };
    for (const conv of ['fp16', 'int8'] as const) {
      for (const part of PARTS) await onnxTools([conv, join(dir, `${part}.onnx`), join(work, `${part}.${conv}.onnx`)]);
      const enc32 = await run(join(dir, 'encoder.onnx'), inputs.encoder);
      const enc = await run(join(work, `encoder.${conv}.onnx`), inputs.encoder);
      expect(enc.outputs!.type).toBe('float32');
      expect(Array.from(enc.encoded_lengths!.data as BigInt64Array)).toEqual([BigInt(T)]);
      const dec32 = await run(join(dir, 'decoder.onnx'), inputs.decoder);
      const dec = await run(join(work, `decoder.${conv}.onnx`), inputs.decoder);
      // the decoder's token bits and counts are exact in float16 and untouched by int8
      expect(Array.from((dec.outputs!.data as Float32Array).subarray(0, 23))).toEqual(Array.from((dec32.outputs!.data as Float32Array).subarray(0, 23)));
      // joiner on every encoder frame: the same token and duration argmax on >= 97 % of frames
      // the encoder's whole output [1, 1024, T] against one decoder output: [1, T, 1, 1030]
      const j32 = await run(join(dir, 'joiner.onnx'), { encoder_outputs: enc32.outputs!, decoder_outputs: dec32.outputs! });
      const j = await run(join(work, `joiner.${conv}.onnx`), { encoder_outputs: enc.outputs!, decoder_outputs: dec.outputs! });
      expect(j.outputs!.dims).toEqual([1, T, 1, 1030]);
      const a = j32.outputs!.data as Float32Array;
      const b = j.outputs!.data as Float32Array;
      const argmax = (x: Float32Array, o: number, n: number): number => {
        let best = 0;
        for (let k = 1; k < n; k++) if (x[o + k]! > x[o + best]!) best = k;
        return best;
      };
      let same = 0;
      for (let t = 0; t < T; t++) if (argmax(a, t * 1030, 1025) === argmax(b, t * 1030, 1025) && argmax(a, t * 1030 + 1025, 5) === argmax(b, t * 1030 + 1025, 5)) same++;
      expect(same / T, conv).toBeGreaterThanOrEqual(0.97);
    }
  }, 300_000);
});
