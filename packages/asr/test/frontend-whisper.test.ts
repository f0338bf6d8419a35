import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtureSamples, rng } from '@voxfleet/testkit';
import { describe, expect, it } from 'vitest';
import { BluesteinPower, WhisperLogMel, createFrontEnd, whisperFrameCount } from '../src/frontend/index.js';

const fixtureDir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'whisper');

interface RefMeta {
  crops: Record<'whisper80' | 'whisper128', number>;
  files: Record<'whisper80' | 'whisper128' | 'transformers80', { file: string; frames: number; bins: number }>;
}
const meta = JSON.parse(readFileSync(join(fixtureDir, 'en-funasr-example.whisper.json'), 'utf8')) as RefMeta;

function readF32(name: string): Float32Array {
  const buf = readFileSync(join(fixtureDir, name));
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

describe('Whisper log-mel (sherpa-onnx / kaldi-native-fbank WhisperFeatureComputer + NormalizeWhisperFeatures)', () => {
  for (const key of ['whisper80', 'whisper128'] as const) {
    it(`equals the torchaudio reference (${key}, training/make_whisper_logmel_reference.py) within 2e-5`, async () => {
      const f = meta.files[key];
      const samples = (await fixtureSamples()).subarray(0, meta.crops[key]);
      const fe = createFrontEnd({ kind: 'whisper', melBins: f.bins, maxFrames: 2950, layout: 'channels-first' });
      expect(fe.frames(samples.length)).toBe(f.frames);
      const got = fe.compute(samples);
      expect(got.layout).toBe('channels-first');
      expect([got.frames, got.dim]).toEqual([f.frames, f.bins]);
      const ref = readF32(f.file); // time-major [frames, bins]
      let worst = 0;
      for (let t = 0; t < f.frames; t++) for (let b = 0; b < f.bins; b++) worst = Math.max(worst, Math.abs(got.data[b * f.frames + t]! - ref[t * f.bins + b]!));
      expect(worst).toBeLessThan(2e-5);
    });
  }

  it('transformers.js framing equals torch.stft(center=True, reflect) on the clip padded to 30 s within 2e-5', async () => {
    const f = meta.files.transformers80;
    const samples = await fixtureSamples();
    const fe = createFrontEnd({ kind: 'whisper', melBins: 80, maxFrames: 3000, framing: 'transformers', layout: 'channels-first' });
    expect(fe.frames(samples.length)).toBe(3000);
    const got = fe.compute(samples);
    expect([got.frames, got.dim]).toEqual([3000, 80]);
    const ref = readF32(f.file);
    let worst = 0;
    for (let t = 0; t < f.frames; t++) for (let b = 0; b < 80; b++) worst = Math.max(worst, Math.abs(got.data[b * 3000 + t]! - ref[t * 80 + b]!));
    expect(worst).toBeLessThan(2e-5);
  });

  it('keeps the first maxFrames frames, normalised over those only (sherpa-onnx keeps 2950)', async () => {
    const samples = await fixtureSamples();
    const all = new WhisperLogMel(80).compute(samples);
    const cut = createFrontEnd({ kind: 'whisper', melBins: 80, maxFrames: 100, layout: 'channels-first' });
    expect(cut.frames(samples.length)).toBe(100);
    const got = cut.compute(samples);
    expect(got.frames).toBe(100);
    const direct = new WhisperLogMel(80).compute(samples, 100);
    expect(got.data).toEqual(direct.data);
    expect(all.frames).toBeGreaterThan(100);
  });

  it('frame count is floor((N + 80) / 160), 0 for no samples', () => {
    expect([0, 1, 79, 80, 239, 240, 16000].map(whisperFrameCount)).toEqual([0, 0, 0, 1, 1, 2, 100]);
  });

  it('floors every value at the maximum - 8 (log10), then (x + 4) / 4', () => {
    const s = new Float32Array(8000);
    for (let i = 0; i < 4000; i++) s[i] = Math.sin(i * 0.3) * 0.5; // a tone, then digital silence
    const { data } = new WhisperLogMel(80).compute(s);
    const max = Math.max(...data);
    const min = Math.min(...data);
    expect(min).toBeCloseTo(max - 2, 5); // 8 in log10 is 2 after / 4
  });

  it('Bluestein power spectrum equals a direct DFT for odd and even lengths', () => {
    const r = rng(7);
    for (const n of [400, 25, 17]) {
      const x = Float64Array.from({ length: n }, () => r() - 0.5);
      const p = new BluesteinPower(n);
      const out = new Float64Array(p.bins);
      p.power(x, out);
      for (let k = 0; k < p.bins; k++) {
        let re = 0;
        let im = 0;
        for (let j = 0; j < n; j++) {
          re += x[j]! * Math.cos((2 * Math.PI * j * k) / n);
          im -= x[j]! * Math.sin((2 * Math.PI * j * k) / n);
        }
        expect(out[k]).toBeCloseTo(re * re + im * im, 9);
      }
    }
  });
});
