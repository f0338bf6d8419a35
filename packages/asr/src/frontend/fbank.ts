/**
 * Kaldi-compatible log-mel filterbank features, matching
 * `torchaudio.compliance.kaldi.fbank(wave * scale, num_mel_bins=80, frame_length=25,
 * frame_shift=10, dither=0.0, energy_floor=0.0, window_type='hamming',
 * sample_frequency=16000, snip_edges=True)` with torchaudio's remaining defaults
 * (remove_dc_offset, preemphasis 0.97, round_to_power_of_two, power spectrum,
 * low_freq 20, high_freq 0 = Nyquist, Kaldi mel scale, log floored at float32 epsilon,
 * no energy column).
 *
 * Per frame: copy and scale the samples, subtract the frame mean, Kaldi pre-emphasis
 * (x[i] -= p*x[i-1], x[0] -= p*x[0]), window, zero-pad to the next power of two, power
 * spectrum, triangular mel filters (the Nyquist bin has zero weight), log(max(e, eps)).
 * Like torchaudio (and Kaldi, whose BaseFloat is float) the window, the mel weights and
 * the time-domain steps (scaling, DC removal, pre-emphasis, windowing) are rounded to
 * float32 at each operation (emulated with Math.fround); the FFT and the mel sums are
 * computed in float64 and the log-mel result stored as float32.
 */

import { RealFft } from './fft.js';

/** A row-major matrix of `frames` rows of `dim` float32 values. */
export interface Features {
  data: Float32Array;
  frames: number;
  dim: number;
}

export type WindowType = 'hamming' | 'hanning' | 'povey' | 'rectangular';

export interface FbankOptions {
  /** Hz; default 16000. */
  sampleRate?: number;
  /** Default 80. */
  melBins?: number;
  /** Default 25. */
  frameLengthMs?: number;
  /** Default 10. */
  frameShiftMs?: number;
  /** Input samples are multiplied by this first; default 32768 (floats in [-1, 1] to the int16 range). */
  scale?: number;
  /** Hz; default 20. */
  lowFreq?: number;
  /** Hz; <= 0 means Nyquist + highFreq (Kaldi convention); default 0. */
  highFreq?: number;
  /** Default 0.97; 0 disables. */
  preemphasis?: number;
  /** Subtract each frame's mean before pre-emphasis; default true. */
  removeDcOffset?: boolean;
  /** Default 'hamming'. */
  windowType?: WindowType;
}

export type ResolvedFbankOptions = Required<FbankOptions>;

/** float32 machine epsilon (torch.finfo(torch.float).eps), the log floor. */
export const FLOAT32_EPSILON = 1.1920928955078125e-7;

export const DEFAULT_FBANK_OPTIONS: Readonly<ResolvedFbankOptions> = Object.freeze({
  sampleRate: 16000,
  melBins: 80,
  frameLengthMs: 25,
  frameShiftMs: 10,
  scale: 32768,
  lowFreq: 20,
  highFreq: 0,
  preemphasis: 0.97,
  removeDcOffset: true,
  windowType: 'hamming',
});

export function resolveFbankOptions(opts: FbankOptions = {}): ResolvedFbankOptions {
  const r: ResolvedFbankOptions = { ...DEFAULT_FBANK_OPTIONS };
  for (const key of Object.keys(DEFAULT_FBANK_OPTIONS) as (keyof ResolvedFbankOptions)[]) {
    const v = opts[key];
    if (v !== undefined) (r as unknown as Record<string, unknown>)[key] = v;
  }
  return r;
}

export interface FrameGeometry {
  sampleRate?: number;
  frameLengthMs?: number;
  frameShiftMs?: number;
}

/** Window length and shift in samples, truncated as torchaudio/Kaldi do (int(sr * ms * 0.001)). */
export function frameSizes(geometry: FrameGeometry = {}): { windowSize: number; windowShift: number } {
  const sr = geometry.sampleRate ?? DEFAULT_FBANK_OPTIONS.sampleRate;
  const len = geometry.frameLengthMs ?? DEFAULT_FBANK_OPTIONS.frameLengthMs;
  const shift = geometry.frameShiftMs ?? DEFAULT_FBANK_OPTIONS.frameShiftMs;
  const windowSize = Math.trunc(sr * len * 0.001);
  const windowShift = Math.trunc(sr * shift * 0.001);
  if (!(windowSize >= 2)) throw new RangeError(`window size must be at least 2 samples, got ${windowSize}`);
  if (!(windowShift >= 1)) throw new RangeError(`window shift must be at least 1 sample, got ${windowShift}`);
  return { windowSize, windowShift };
}

/** Number of fbank frames with snip_edges=True: 1 + floor((N - window) / shift), 0 if N < window. */
export function fbankFrameCount(numSamples: number, geometry: FrameGeometry = {}): number {
  const { windowSize, windowShift } = frameSizes(geometry);
  if (numSamples < windowSize) return 0;
  return 1 + Math.floor((numSamples - windowSize) / windowShift);
}

function nextPowerOfTwo(x: number): number {
  let p = 1;
  while (p < x) p <<= 1;
  return p;
}

/** Kaldi mel scale. */
export function melScale(freq: number): number {
  return 1127 * Math.log(1 + freq / 700);
}

/**
 * Frame window as float32 values computed the way torch does (periodic=False):
 * w[i] = alpha - beta * cos(i * 2*pi/(L-1)) with float32 rounding at each step
 * (torch.hamming_window / torch.hann_window; povey = hann^0.85).
 */
export function windowFunction(type: WindowType, size: number): Float64Array {
  const w = new Float64Array(size);
  const step = Math.fround((2 * Math.PI) / (size - 1));
  const raised = (alpha: number, beta: number, i: number): number =>
    Math.fround(Math.fround(Math.fround(Math.cos(Math.fround(i * step))) * Math.fround(-beta)) + Math.fround(alpha));
  for (let i = 0; i < size; i++) {
    switch (type) {
      case 'hamming':
        w[i] = raised(0.54, 0.46, i);
        break;
      case 'hanning':
        w[i] = raised(0.5, 0.5, i);
        break;
      case 'povey':
        w[i] = Math.fround(Math.pow(raised(0.5, 0.5, i), 0.85));
        break;
      case 'rectangular':
        w[i] = 1;
        break;
      default:
        throw new RangeError(`unknown window type ${String(type)}`);
    }
  }
  return w;
}

/**
 * Sparse triangular mel filterbank over FFT bins 0..fftSize/2 - 1 (Kaldi's
 * get_mel_banks without VTLN; the Nyquist bin gets no weight).
 */
export interface MelBank {
  /** First FFT bin with a non-zero weight, per filter. */
  start: Int32Array;
  /** Offset of each filter's weights in `weights`; length melBins + 1. */
  offset: Int32Array;
  weights: Float64Array;
}

const f32 = Math.fround;

/**
 * Builds the filterbank the way torchaudio (and Kaldi, whose BaseFloat is float) does:
 * the band edges are Python doubles, everything tensor-valued is float32. Each float32
 * operation is emulated with Math.fround so the weights match torchaudio's bit for bit
 * (up to an ulp where float32 log rounding differs).
 */
export function melFilterbank(
  melBins: number,
  fftSize: number,
  sampleRate: number,
  lowFreq: number,
  highFreq: number,
): MelBank {
  if (!Number.isInteger(melBins) || melBins <= 3) throw new RangeError('melBins must be an integer > 3');
  const numFftBins = fftSize / 2;
  const nyquist = 0.5 * sampleRate;
  const high = highFreq <= 0 ? highFreq + nyquist : highFreq;
  if (!(lowFreq >= 0 && lowFreq < nyquist && high > 0 && high <= nyquist && lowFreq < high)) {
    throw new RangeError(`bad mel range: lowFreq ${lowFreq}, highFreq ${highFreq}, nyquist ${nyquist}`);
  }
  const binWidth = sampleRate / fftSize;
  // python-double scalars, converted to float32 when combined with float32 tensors
  const melLow = melScale(lowFreq);
  const melHigh = melScale(high);
  const delta = (melHigh - melLow) / (melBins + 1);
  const melLow32 = f32(melLow);
  const delta32 = f32(delta);
  const binMel = new Float64Array(numFftBins);
  for (let k = 0; k < numFftBins; k++) {
    // torchaudio mel_scale on a float32 tensor: 1127 * log(1 + f / 700)
    const freq = f32(f32(binWidth) * k);
    binMel[k] = f32(1127 * f32(Math.log(f32(1 + f32(freq / 700)))));
  }

  const start = new Int32Array(melBins);
  const offset = new Int32Array(melBins + 1);
  const all: number[] = [];
  for (let b = 0; b < melBins; b++) {
    const left = f32(melLow32 + f32(b * delta32));
    const center = f32(melLow32 + f32((b + 1) * delta32));
    const right = f32(melLow32 + f32((b + 2) * delta32));
    let first = -1;
    const row: number[] = [];
    for (let k = 0; k < numFftBins; k++) {
      const mel = binMel[k]!;
      const up = f32(f32(mel - left) / f32(center - left));
      const down = f32(f32(right - mel) / f32(right - center));
      const w = Math.max(0, Math.min(up, down));
      if (w > 0) {
        if (first < 0) first = k;
        // fill any interior zero (cannot happen for a triangle, kept for safety)
        while (first + row.length < k) row.push(0);
        row.push(w);
      }
    }
    start[b] = first < 0 ? 0 : first;
    offset[b] = all.length;
    for (const w of row) all.push(w);
  }
  offset[melBins] = all.length;
  return { start, offset, weights: Float64Array.from(all) };
}

/**
 * Precomputed fbank pipeline (window, mel bank, FFT tables, work buffers) for one set of
 * options. Not re-entrant across async boundaries, but `compute` is synchronous.
 */
export class FbankComputer {
  readonly options: Readonly<ResolvedFbankOptions>;
  readonly windowSize: number;
  readonly windowShift: number;
  readonly fftSize: number;
  readonly dim: number;
  private readonly window: Float64Array;
  private readonly mel: MelBank;
  private readonly fft: RealFft;
  private readonly frame: Float64Array;
  private readonly spectrum: Float64Array;

  constructor(opts: FbankOptions = {}) {
    const o = resolveFbankOptions(opts);
    if (!(o.sampleRate > 0)) throw new RangeError('sampleRate must be positive');
    if (!(o.preemphasis >= 0 && o.preemphasis <= 1)) throw new RangeError('preemphasis must be in [0, 1]');
    if (!Number.isFinite(o.scale)) throw new RangeError('scale must be finite');
    this.options = Object.freeze(o);
    const { windowSize, windowShift } = frameSizes(o);
    this.windowSize = windowSize;
    this.windowShift = windowShift;
    this.fftSize = nextPowerOfTwo(windowSize);
    this.dim = o.melBins;
    this.window = windowFunction(o.windowType, windowSize);
    this.mel = melFilterbank(o.melBins, this.fftSize, o.sampleRate, o.lowFreq, o.highFreq);
    this.fft = new RealFft(this.fftSize);
    this.frame = new Float64Array(this.fftSize); // tail stays zero: the zero padding
    this.spectrum = new Float64Array(this.fftSize / 2 + 1);
  }

  frameCount(numSamples: number): number {
    if (numSamples < this.windowSize) return 0;
    return 1 + Math.floor((numSamples - this.windowSize) / this.windowShift);
  }

  /**
   * Computes the log-mel features of `samples`. When `out` is given and large enough
   * (frames * dim), the result is written into it and `data` is a view of it.
   */
  compute(samples: ArrayLike<number>, out?: Float32Array): Features {
    const frames = this.frameCount(samples.length);
    const dim = this.dim;
    const need = frames * dim;
    const data = out && out.length >= need ? out.subarray(0, need) : new Float32Array(need);
    const L = this.windowSize;
    const shift = this.windowShift;
    const scale = this.options.scale;
    const pre = this.options.preemphasis;
    const removeDc = this.options.removeDcOffset;
    const win = this.window;
    const buf = this.frame;
    const spec = this.spectrum;
    const { start, offset, weights } = this.mel;
    const pre32 = Math.fround(pre);
    const f32r = Math.fround;
    for (let f = 0; f < frames; f++) {
      // time-domain steps in float32 like torchaudio/Kaldi; buf holds float32 values
      const s0 = f * shift;
      let sum = 0;
      for (let i = 0; i < L; i++) {
        const v = f32r(samples[s0 + i]! * scale);
        buf[i] = v;
        sum += v;
      }
      const mean = removeDc ? f32r(sum / L) : 0;
      // backwards so x[i-1] is still the un-emphasised value; fused with the window
      let cur = f32r(buf[L - 1]! - mean);
      for (let i = L - 1; i > 0; i--) {
        const prev = f32r(buf[i - 1]! - mean);
        const y = pre32 !== 0 ? f32r(cur - f32r(pre32 * prev)) : cur;
        buf[i] = f32r(y * win[i]!);
        cur = prev;
      }
      buf[0] = f32r((pre32 !== 0 ? f32r(cur - f32r(pre32 * cur)) : cur) * win[0]!);
      this.fft.power(buf, spec);
      const row = f * dim;
      for (let b = 0; b < dim; b++) {
        const k0 = start[b]!;
        const w0 = offset[b]!;
        const w1 = offset[b + 1]!;
        let e = 0;
        for (let w = w0, k = k0; w < w1; w++, k++) e += weights[w]! * spec[k]!;
        data[row + b] = Math.log(e > FLOAT32_EPSILON ? e : FLOAT32_EPSILON);
      }
    }
    return { data, frames, dim };
  }
}

const computerCache = new Map<string, FbankComputer>();
const MAX_CACHED = 8;

/** Returns a shared FbankComputer for these options (built once, then cached). */
export function getFbankComputer(opts: FbankOptions = {}): FbankComputer {
  const resolved = resolveFbankOptions(opts);
  const key = JSON.stringify(resolved);
  let c = computerCache.get(key);
  if (!c) {
    c = new FbankComputer(resolved);
    if (computerCache.size >= MAX_CACHED) {
      const oldest = computerCache.keys().next().value;
      if (oldest !== undefined) computerCache.delete(oldest);
    }
    computerCache.set(key, c);
  }
  return c;
}

/** Kaldi-compatible log-mel fbank of float samples in [-1, 1] (see the module comment). */
export function computeFbank(samples: Float32Array, opts?: FbankOptions): Features {
  return getFbankComputer(opts).compute(samples);
}
