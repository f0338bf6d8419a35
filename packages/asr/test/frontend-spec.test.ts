import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtureSamples, rng } from '@voxfleet/testkit';
import { describe, expect, it } from 'vitest';
import {
  FUNASR_FBANK,
  FbankComputer,
  FrontEnd,
  FrontEndSpecError,
  NEMO_FBANK,
  PER_FEATURE_EPSILON,
  applyLfr,
  createFrontEnd,
  fbankFrameCount,
  normalizePerFeature,
  parseFrontEndSpec,
  slaneyMelFilterbank,
  windowFunction,
  type FrontEndSpecInput,
} from '../src/frontend/index.js';

const fixtureDir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'nemo');

interface NemoRefMeta {
  crops: Record<'logmel80' | 'norm80' | 'norm128', number>;
  files: Record<'logmel80' | 'norm80' | 'norm128', { file: string; frames: number; bins: number }>;
}
const nemoMeta = JSON.parse(readFileSync(join(fixtureDir, 'en-funasr-example.nemo.json'), 'utf8')) as NemoRefMeta;

function readF32(name: string): Float32Array {
  const buf = readFileSync(join(fixtureDir, name));
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

function nemoSpec(melBins: number, normalize: 'per_feature' | 'none'): FrontEndSpecInput {
  return { kind: 'nemo', fbank: { ...NEMO_FBANK, melBins }, normalize, normEpsilon: PER_FEATURE_EPSILON, layout: 'channels-first' };
}

const defaultSpec: FrontEndSpecInput = { kind: 'funasr', fbank: FUNASR_FBANK, lfr: { m: 7, n: 6, padding: 'funasr' }, cmvn: null };

function noise(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() - 0.5) * 0.6);
}

describe('front-end specs', () => {
  it('the funasr spec is the FrontEnd class, number for number', () => {
    const samples = noise(16000 + 123, 1);
    const r = rng(2);
    const negMean = Float32Array.from({ length: 560 }, () => r() * 10 - 5);
    const invStd = Float32Array.from({ length: 560 }, () => r() + 0.5);
    const viaSpec = createFrontEnd({ ...defaultSpec, cmvn: { negMean, invStd } }).compute(samples);
    const direct = new FrontEnd({ lfrM: 7, lfrN: 6, cmvn: { negMean, invStd } }).compute(samples);
    expect(viaSpec.layout).toBe('time-major');
    expect([viaSpec.frames, viaSpec.dim]).toEqual([direct.frames, direct.dim]);
    expect(Buffer.from(viaSpec.data.buffer).equals(Buffer.from(direct.data.buffer))).toBe(true);
  });

  it('frames() predicts compute() for both kinds and both LFR paddings', () => {
    const fes = [
      createFrontEnd(defaultSpec),
      createFrontEnd({ ...defaultSpec, lfr: { m: 7, n: 6, padding: 'none' } }),
      createFrontEnd(nemoSpec(80, 'per_feature')),
    ];
    for (const len of [0, 1, 79, 80, 239, 240, 399, 400, 401, 559, 560, 1360, 1361, 16000, 16159]) {
      const s = noise(len, len);
      for (const fe of fes) expect(fe.compute(s).frames, `${fe.spec.kind} ${len}`).toBe(fe.frames(len));
    }
  });

  it("LFR without padding: floor((T - m) / n) + 1 frames of plain windows, none when T < m", () => {
    const dim = 2;
    const frames = 20;
    const fb = Float32Array.from({ length: frames * dim }, (_, i) => i);
    const out = applyLfr(fb, frames, dim, 7, 6, 'none');
    expect(out.frames).toBe(3);
    for (let i = 0; i < out.frames; i++) {
      expect(Array.from(out.data.subarray(i * 14, i * 14 + 14))).toEqual(Array.from(fb.subarray(i * 12, i * 12 + 14)));
    }
    expect(applyLfr(fb, 6, dim, 7, 6, 'none').frames).toBe(0);
    expect(applyLfr(fb, 7, dim, 7, 6, 'none').frames).toBe(1);
  });

  it('rejects bad specs with the field that is wrong', () => {
    const bad: unknown[] = [
      { ...defaultSpec, kind: 'whisper' },
      { ...defaultSpec, fbank: { ...FUNASR_FBANK, dither: 1 } },
      { ...defaultSpec, fbank: { ...FUNASR_FBANK, lowFreq: 9000 } },
      { ...defaultSpec, fbank: { ...FUNASR_FBANK, sampleRate: 8000 } },
      { ...defaultSpec, lfr: { m: 7, n: 0, padding: 'funasr' } },
      { ...defaultSpec, lfr: { m: 7, n: 6, padding: 'sometimes' } },
      { ...defaultSpec, cmvn: { negMean: [1, 2], invStd: [1, 2] } },
      { ...defaultSpec, cmvn: { negMean: new Array(560).fill(0), invStd: new Array(560).fill(NaN) } },
      { ...defaultSpec, extra: true },
      { kind: 'nemo', fbank: NEMO_FBANK, normalize: 'all_features', normEpsilon: 1e-5, layout: 'channels-first' },
      { ...defaultSpec, fbank: { ...FUNASR_FBANK, window: undefined } },
      null,
    ];
    for (const spec of bad) expect(() => parseFrontEndSpec(spec), JSON.stringify(spec)).toThrow(FrontEndSpecError);
    expect(() => parseFrontEndSpec({ ...defaultSpec, lfr: { m: 7, n: 0, padding: 'funasr' } })).toThrow(/lfr\.n/);
    expect(parseFrontEndSpec({ ...defaultSpec, cmvn: { negMean: new Array(560).fill(0), invStd: new Array(560).fill(1) } }).kind).toBe('funasr');
  });
});

describe('NeMo log-mel (sherpa-onnx NeMo CTC front-end)', () => {
  /**
   * Reference: torchaudio 0.13 pieces assembled into sherpa-onnx's computation
   * (training/make_nemo_logmel_reference.py: torchaudio's Kaldi framing with snip_edges=False
   * and pre-emphasis, periodic Hann, torch.fft.rfft, torchaudio's Slaney melscale_fbanks,
   * float64 per-feature normalisation). Measured on this clip: 80-bin log-mel max |diff|
   * 6.7e-5, mean 8.3e-7; normalised 80-bin max 3.4e-5, mean 2.0e-7; normalised 128-bin
   * max 5.6e-5, mean 3.3e-7 (torch's float32 FFT and matmul against our float64 ones).
   * Asserted with headroom.
   */
  const MAX_TOL = 2e-4;
  const MEAN_TOL = 5e-6;

  for (const [key, bins, normalize] of [
    ['logmel80', 80, 'none'],
    ['norm80', 80, 'per_feature'],
    ['norm128', 128, 'per_feature'],
  ] as const) {
    it(`${key}: matches the torchaudio reference (channels-first)`, async () => {
      const samples = (await fixtureSamples()).subarray(0, nemoMeta.crops[key]);
      const ref = readF32(nemoMeta.files[key].file);
      const fe = createFrontEnd(nemoSpec(bins, normalize));
      const out = fe.compute(samples);
      expect(out.layout).toBe('channels-first');
      expect([out.frames, out.dim]).toEqual([nemoMeta.files[key].frames, bins]);
      expect(fe.frames(samples.length)).toBe(out.frames);
      let max = 0;
      let sum = 0;
      for (let t = 0; t < out.frames; t++) {
        for (let d = 0; d < bins; d++) {
          const diff = Math.abs(out.data[d * out.frames + t]! - ref[t * bins + d]!);
          max = Math.max(max, diff);
          sum += diff;
        }
      }
      expect(max).toBeLessThan(MAX_TOL);
      expect(sum / ref.length).toBeLessThan(MEAN_TOL);
    });
  }

  it('snip_edges=false: floor((N + 80) / 160) frames, reflected edges', () => {
    expect([0, 1, 79, 80, 239, 240, 16000].map((n) => fbankFrameCount(n, { snipEdges: false }))).toEqual([0, 0, 0, 1, 1, 2, 100]);
    // a frame that reads past both ends equals one computed on the explicitly reflected signal
    const x = noise(200, 7);
    const n = x.length;
    const reflected = Float32Array.from({ length: 400 }, (_, i) => {
      let s = i - 120; // frame 0 starts at 0 * 160 + 80 - 200
      while (s < 0 || s >= n) s = s < 0 ? -s - 1 : 2 * n - 1 - s;
      return x[s]!;
    });
    const opts = { ...NEMO_FBANK, windowType: NEMO_FBANK.window, melType: NEMO_FBANK.mel };
    const edge = new FbankComputer({ ...opts, snipEdges: false }).compute(x);
    const plain = new FbankComputer({ ...opts, snipEdges: true }).compute(reflected);
    expect(edge.frames).toBe(1);
    expect(Array.from(edge.data)).toEqual(Array.from(plain.data.subarray(0, 80)));
  });

  it('periodic Hann window and Slaney filters with unit area', () => {
    const w = windowFunction('hann', 400);
    expect(w[0]).toBe(0);
    expect(w[200]).toBe(1);
    expect(w[100]).toBe(Math.fround(0.5 - 0.5 * Math.cos(Math.PI / 2)));
    const bank = slaneyMelFilterbank(80, 512, 16000, 0, 0);
    expect(bank.start.length).toBe(80);
    // the last triangle ends at Nyquist (8000 Hz = bin 256, weight 0 there as in librosa)
    expect(bank.start[79]! + bank.offset[80]! - bank.offset[79]! - 1).toBe(255);
    // Slaney norm: each triangle integrates to ~1 over Hz (sum of weights x 31.25 Hz)
    for (const b of [20, 40, 79]) {
      let area = 0;
      for (let i = bank.offset[b]!; i < bank.offset[b + 1]!; i++) area += bank.weights[i]! * 31.25;
      expect(area).toBeGreaterThan(0.9);
      expect(area).toBeLessThan(1.1);
    }
  });

  it('per-feature normalisation: zero mean, population std 1 per column, constant columns to 0', () => {
    const frames = 50;
    const dim = 3;
    const r = rng(11);
    const data = Float32Array.from({ length: frames * dim }, (_, i) => (i % dim === 2 ? 4 : r() * 10 - 20));
    normalizePerFeature(data, frames, dim);
    for (let d = 0; d < dim; d++) {
      let s = 0;
      let ss = 0;
      for (let t = 0; t < frames; t++) {
        s += data[t * dim + d]!;
        ss += data[t * dim + d]! ** 2;
      }
      expect(Math.abs(s / frames)).toBeLessThan(1e-5);
      expect(Math.sqrt(ss / frames)).toBeCloseTo(d === 2 ? 0 : 1, 3);
    }
    expect(() => normalizePerFeature(new Float32Array(5), 2, 3)).toThrow(RangeError);
    expect(normalizePerFeature(new Float32Array(0), 0, 3).length).toBe(0);
  });
});
