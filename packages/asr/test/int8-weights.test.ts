/**
 * int8 weights re-signed at load (int8-weights.ts): which tensors are rewritten, that the rewritten graph
 * computes exactly what the file computes (where the CPU has VNNI or AMX, the only place it is used), and
 * that the engine does it by default and not with int8Weights: 'asis'.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureTestGraph, fixtureSamples, syntheticFeatures } from '@voxfleet/testkit';
import { AsrEngine, parseOnnxMetadata, readOnnxMetadata } from '../src/index.js';
import { signInt8Weights, signedInt8Exact } from '../src/int8-weights.js';

const exact = signedInt8Exact();

describe('int8 weights re-signed at load', () => {
  let dir: string;
  let file: string;

  beforeAll(async () => {
    dir = await ensureTestGraph('sense-voice');
    file = join(dir, 'model.int8.onnx');
  }, 600_000);

  it('knows the CPUs whose u8×s8 kernels are exact from their flags', () => {
    expect(signedInt8Exact('processor\t: 0\nflags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni\n')).toBe(true);
    expect(signedInt8Exact('flags\t\t: fpu sse2 avx2 avx_vnni\n')).toBe(true);
    expect(signedInt8Exact('flags\t\t: fpu sse2 avx2 amx_int8 amx_tile\n')).toBe(true);
    expect(signedInt8Exact('flags\t\t: fpu sse2 avx2 fma avx512f avx512bw\n')).toBe(false);
    expect(signedInt8Exact('')).toBe(false);
  });

  it("rewrites the integer MatMuls' weights and zero points only, once", async () => {
    const bytes = await readFile(file);
    const original = Uint8Array.from(bytes);
    const r = signInt8Weights(bytes);
    expect(r).not.toBeNull();
    expect(r!.nodes).toBeGreaterThan(0);
    expect(r!.tensors).toBe(2 * r!.nodes); // a weight and its zero point per MatMul, none shared here
    expect(r!.bytes.length).toBe(original.length);
    // the same metadata and signature (only data_type bytes and weight bytes changed)
    expect(parseOnnxMetadata(r!.bytes)).toEqual(parseOnnxMetadata(original));
    // already int8: nothing left to rewrite
    expect(signInt8Weights(Uint8Array.from(r!.bytes))).toBeNull();
    // an fp32 graph has no integer MatMul
    expect(signInt8Weights(await readFile(join(dir, 'model.onnx')))).toBeNull();
  });

  it('parses metadata from the bytes of a whole model as from its file (length-delimited fields skipped right)', async () => {
    expect(parseOnnxMetadata(await readFile(file))).toEqual(await readOnnxMetadata(file));
  });

  it.runIf(exact)('computes the same outputs bit for bit as the file as it is', async () => {
    const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, graphOptimizationLevel: 'all' };
    const a = await ort.InferenceSession.create(file, opts);
    const b = await ort.InferenceSession.create(signInt8Weights(await readFile(file))!.bytes, opts);
    try {
      for (const [n, t] of [
        [1, 40],
        [3, 17],
      ] as const) {
        const dim = 560; // SenseVoice: 80 mel bins × LFR 7
        const feeds = {
          x: new ort.Tensor('float32', syntheticFeatures(n * t, dim, 7 + t), [n, t, dim]),
          x_length: new ort.Tensor('int32', Int32Array.from({ length: n }, (_, i) => t - i), [n]),
          language: new ort.Tensor('int32', new Int32Array(n), [n]),
          text_norm: new ort.Tensor('int32', new Int32Array(n).fill(15), [n]),
        };
        const [ra, rb] = [await a.run(feeds), await b.run(feeds)];
        expect(Array.from(rb.logits!.data as Float32Array)).toEqual(Array.from(ra.logits!.data as Float32Array));
      }
    } finally {
      await a.release();
      await b.release();
    }
  }, 120_000);

  it.runIf(exact)("is the engine's default for int8 (reported), not with int8Weights: 'asis'; the transcripts are the same", async () => {
    const clip = await fixtureSamples('en-funasr-example.wav');
    const signed = await AsrEngine.start({ modelPath: dir, provider: 'cpu', precision: 'int8', threads: 1 });
    const asis = await AsrEngine.start({ modelPath: dir, provider: 'cpu', precision: 'int8', threads: 1, int8Weights: 'asis' });
    try {
      expect(signed.report.weights).toMatch(/re-signed to int8/);
      expect(asis.report.weights).toBeUndefined();
      expect(signed.report.modelId).toBe(asis.report.modelId); // the file is unchanged: same identity
      const [x, y] = [await signed.transcribe([clip.slice(), clip.slice(0, 40_000)]), await asis.transcribe([clip.slice(), clip.slice(0, 40_000)])];
      expect(x.transcripts).toEqual(y.transcripts);
    } finally {
      await signed.close();
      await asis.close();
    }
  }, 120_000);
});
