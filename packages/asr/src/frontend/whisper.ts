/**
 * Whisper's log-mel as sherpa-onnx computes it for its Whisper export (contract §5a):
 * kaldi-native-fbank's WhisperFeatureComputer (whisper-feature.cc) on samples in [-1, 1]
 * (not scaled by 32768: offline-stream.cc Impl(WhisperTag)), then sherpa-onnx's
 * NormalizeWhisperFeatures (math.cc).
 *
 * - frames of 400 samples every 160, snip_edges false: floor((N + 80) / 160) frames, frame
 *   f centred on 160 f + 80, samples outside the signal reflected; no dither, no DC removal,
 *   no pre-emphasis; the periodic Hann window (computed in double, stored as float);
 * - a 400-point DFT (round_to_power_of_two is false there), power spectrum of bins 0..200,
 *   librosa's Slaney mel filterbank over all 201 bins (is_librosa, 0 Hz to Nyquist), 80 or
 *   128 bins; mel energies (no log yet);
 * - log10(max(e, 1e-10)), floored at the utterance's maximum - 8, then (x + 4) / 4, over the
 *   real frames only (padding to the encoder's length comes after, with zeros: the backend's
 *   business).
 *
 * The DFT runs as Bluestein's chirp-z transform over a 1024-point FFT, in float64.
 * Output: channels-first [melBins, T] (the encoder takes mel [N, n_mels, T]).
 */
import { ComplexFft } from './fft.js';
import { slaneyMelFilterbank, windowFunction, type MelBank } from './fbank.js';

export const WHISPER_SAMPLE_RATE = 16000;
export const WHISPER_WINDOW = 400;
export const WHISPER_SHIFT = 160;

/** Frames sherpa-onnx's Whisper front-end gives `numSamples` samples (snip_edges false). */
export function whisperFrameCount(numSamples: number): number {
  return numSamples <= 0 ? 0 : Math.floor((numSamples + WHISPER_SHIFT / 2) / WHISPER_SHIFT);
}

function reflect(s: number, n: number): number {
  const period = 2 * n;
  const r = ((s % period) + period) % period;
  return r < n ? r : period - 1 - r;
}

/** Power spectrum |X[k]|^2, k = 0..n/2, of a real signal of any length n (Bluestein, float64). */
export class BluesteinPower {
  readonly bins: number;
  private readonly m: number;
  private readonly fft: ComplexFft;
  private readonly wr: Float64Array;
  private readonly wi: Float64Array;
  private readonly br: Float64Array;
  private readonly bi: Float64Array;
  private readonly ar: Float64Array;
  private readonly ai: Float64Array;

  constructor(readonly n: number) {
    let m = 1;
    while (m < 2 * n - 1) m <<= 1;
    this.m = m;
    this.bins = Math.floor(n / 2) + 1;
    this.fft = new ComplexFft(m);
    // chirp w[j] = exp(-i pi j^2 / n), j^2 taken mod 2n so the angle stays small
    this.wr = new Float64Array(n);
    this.wi = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      const a = (Math.PI * ((j * j) % (2 * n))) / n;
      this.wr[j] = Math.cos(a);
      this.wi[j] = -Math.sin(a);
    }
    // b[j] = conj(w[|j|]) laid out circularly, transformed once
    this.br = new Float64Array(m);
    this.bi = new Float64Array(m);
    for (let j = 0; j < n; j++) {
      this.br[j] = this.wr[j]!;
      this.bi[j] = -this.wi[j]!;
      if (j > 0) {
        this.br[m - j] = this.wr[j]!;
        this.bi[m - j] = -this.wi[j]!;
      }
    }
    this.fft.transform(this.br, this.bi);
    this.ar = new Float64Array(m);
    this.ai = new Float64Array(m);
  }

  power(x: ArrayLike<number>, out: Float64Array): void {
    const { n, m, ar, ai, wr, wi, br, bi } = this;
    for (let j = 0; j < n; j++) {
      const v = x[j]!;
      ar[j] = v * wr[j]!;
      ai[j] = v * wi[j]!;
    }
    ar.fill(0, n);
    ai.fill(0, n);
    this.fft.transform(ar, ai);
    // A * B, conjugated: the inverse FFT as a forward FFT of the conjugate
    for (let k = 0; k < m; k++) {
      const r = ar[k]! * br[k]! - ai[k]! * bi[k]!;
      const i = ar[k]! * bi[k]! + ai[k]! * br[k]!;
      ar[k] = r;
      ai[k] = -i;
    }
    this.fft.transform(ar, ai);
    const inv = 1 / m;
    for (let k = 0; k < this.bins; k++) {
      // conv[k] = conj(result) / m; X[k] = w[k] * conv[k]; |X|^2 = |conv|^2 (|w| = 1)
      const cr = ar[k]! * inv;
      const ci = -ai[k]! * inv;
      out[k] = cr * cr + ci * ci;
    }
  }
}

export interface WhisperFeatures {
  /** channels-first [melBins, frames] */
  data: Float32Array;
  frames: number;
  dim: number;
}

/** The Whisper front-end of one mel size (tables built once). */
export class WhisperLogMel {
  private readonly window: Float64Array;
  private readonly mel: MelBank;
  private readonly dft = new BluesteinPower(WHISPER_WINDOW);
  private readonly frame = new Float64Array(WHISPER_WINDOW);
  private readonly spec: Float64Array;

  constructor(readonly melBins: number) {
    this.window = windowFunction('hann', WHISPER_WINDOW);
    this.mel = slaneyMelFilterbank(melBins, WHISPER_WINDOW, WHISPER_SAMPLE_RATE, 0, 0);
    this.spec = new Float64Array(this.dft.bins);
  }

  frames(numSamples: number): number {
    return whisperFrameCount(numSamples);
  }

  /**
   * Normalised log-mel of 16 kHz samples in [-1, 1]: what sherpa-onnx gives its encoder before
   * padding. `maxFrames`: only the first frames are kept and normalised (sherpa-onnx keeps 2950).
   */
  compute(samples: ArrayLike<number>, maxFrames = Infinity): WhisperFeatures {
    const frames = Math.min(this.frames(samples.length), maxFrames);
    const dim = this.melBins;
    const n = samples.length;
    const tm = new Float32Array(frames * dim);
    const lead = WHISPER_SHIFT / 2 - WHISPER_WINDOW / 2;
    const { start, offset, weights } = this.mel;
    let max = -Infinity;
    for (let f = 0; f < frames; f++) {
      const s0 = f * WHISPER_SHIFT + lead;
      const inside = s0 >= 0 && s0 + WHISPER_WINDOW <= n;
      for (let i = 0; i < WHISPER_WINDOW; i++) {
        const v = Math.fround(samples[inside ? s0 + i : reflect(s0 + i, n)]!);
        this.frame[i] = Math.fround(v * this.window[i]!);
      }
      this.dft.power(this.frame, this.spec);
      for (let b = 0; b < dim; b++) {
        let e = 0;
        for (let w = offset[b]!, k = start[b]!; w < offset[b + 1]!; w++, k++) e += weights[w]! * this.spec[k]!;
        const l = Math.fround(Math.log10(Math.max(Math.fround(e), 1e-10)));
        tm[f * dim + b] = l;
        if (l > max) max = l;
      }
    }
    const floor = Math.fround(max - 8);
    const data = new Float32Array(frames * dim);
    for (let f = 0; f < frames; f++) {
      for (let b = 0; b < dim; b++) data[b * frames + f] = (Math.max(tm[f * dim + b]!, floor) + 4) / 4;
    }
    return { data, frames, dim };
  }
  /**
   * transformers.js's WhisperFeatureExtractor (feature_extraction_whisper.js, utils/audio.js spectrogram):
   * the audio zero-padded (or cut) to `maxFrames` x 160 samples (30 s), frames centred on 160 f with
   * numpy-style reflection (x[-1] = x[1]) at both ends, a float64 periodic Hann window, power spectrum,
   * Slaney mel, log10(max(e, 1e-10)), floor at the maximum over all frames (the padding included) - 8,
   * (x + 4) / 4; `maxFrames` frames (3000).
   */
  computeTransformers(samples: ArrayLike<number>, maxFrames: number): WhisperFeatures {
    const len = maxFrames * WHISPER_SHIFT;
    const x = new Float64Array(len);
    for (let i = 0; i < Math.min(len, samples.length); i++) x[i] = samples[i]!;
    const dim = this.melBins;
    const frames = maxFrames;
    const half = WHISPER_WINDOW / 2;
    const last = len - 1;
    const at = (i: number): number => x[i < 0 ? -i : i > last ? 2 * last - i : i]!;
    const tm = new Float64Array(frames * dim);
    const { start, offset, weights } = this.mel;
    let max = -Infinity;
    for (let f = 0; f < frames; f++) {
      const s0 = f * WHISPER_SHIFT - half;
      for (let i = 0; i < WHISPER_WINDOW; i++) this.frame[i] = at(s0 + i) * this.hannF64[i]!;
      this.dft.power(this.frame, this.spec);
      for (let b = 0; b < dim; b++) {
        let e = 0;
        for (let w = offset[b]!, k = start[b]!; w < offset[b + 1]!; w++, k++) e += weights[w]! * this.spec[k]!;
        const l = Math.log10(Math.max(e, 1e-10));
        tm[f * dim + b] = l;
        if (l > max) max = l;
      }
    }
    const floor = max - 8;
    const data = new Float32Array(frames * dim);
    for (let f = 0; f < frames; f++) for (let b = 0; b < dim; b++) data[b * frames + f] = (Math.max(tm[f * dim + b]!, floor) + 4) / 4;
    return { data, frames, dim };
  }

  private readonly hannF64 = Float64Array.from({ length: WHISPER_WINDOW }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / WHISPER_WINDOW));
}
