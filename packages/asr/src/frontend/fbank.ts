/**
 * Kaldi-compatible log-mel filterbank features. With the default options this matches
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
 *
 * Options beyond torchaudio's call, for the NeMo front-end sherpa-onnx builds with
 * kaldi-native-fbank: `snipEdges: false` (Kaldi's centred frames with reflected edges),
 * `windowType: 'hann'` (periodic Hann) and `melType: 'slaney'` (librosa's Slaney
 * filterbank, Nyquist bin included).
 */

import { RealFft } from './fft.js';

/** A row-major matrix of `frames` rows of `dim` float32 values. */
export interface Features {
  data: Float32Array;
  frames: number;
  dim: number;
}

/**
 * `hamming`, `hanning` (symmetric), `povey`, `rectangular`: torch's float32 windows, as
 * torchaudio's kaldi.fbank uses them. `hann`: kaldi-native-fbank's periodic Hann window,
 * 0.5 - 0.5 cos(2 pi i / L), computed in double and stored as float (what sherpa-onnx
 * configures for NeMo models; kaldi-native-fbank feature-window.cc GetWindow).
 */
export type WindowType = 'hamming' | 'hanning' | 'povey' | 'rectangular' | 'hann';

/**
 * `kaldi`: Kaldi's mel scale and triangles over FFT bins 0..N/2-1 (torchaudio / Kaldi).
 * `slaney`: librosa's Slaney mel scale with Slaney area normalisation over bins 0..N/2
 * (kaldi-native-fbank with is_librosa = true, its defaults norm = "slaney",
 * use_slaney_mel_scale = true, floor_to_int_bin = false; mel-computations.cc
 * InitLibrosaMelBanks).
 */
export type MelType = 'kaldi' | 'slaney';

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
  /**
   * Default true: only frames that fit in the signal, the first at sample 0. False:
   * Kaldi's snip_edges=false, floor((N + shift/2) / shift) frames, frame f starting at
   * f*shift + shift/2 - window/2, samples outside the signal reflected (-1 -> 0, N -> N-1).
   */
  snipEdges?: boolean;
  /** Default 'kaldi'. */
  melType?: MelType;
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
  snipEdges: true,
  melType: 'kaldi',
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
  /** Default true. */
  snipEdges?: boolean;
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

/**
 * Number of fbank frames: with snip_edges (the default) 1 + floor((N - window) / shift),
 * 0 if N < window; without, floor((N + floor(shift / 2)) / shift) (Kaldi NumFrames, flush).
 */
export function fbankFrameCount(numSamples: number, geometry: FrameGeometry = {}): number {
  const { windowSize, windowShift } = frameSizes(geometry);
  return countFrames(numSamples, windowSize, windowShift, geometry.snipEdges ?? true);
}

function countFrames(numSamples: number, windowSize: number, windowShift: number, snipEdges: boolean): number {
  if (!snipEdges) return numSamples <= 0 ? 0 : Math.floor((numSamples + Math.floor(windowShift / 2)) / windowShift);
  if (numSamples < windowSize) return 0;
  return 1 + Math.floor((numSamples - windowSize) / windowShift);
}

/** Index into a signal of `n` samples reflected at both ends (-1 -> 0, n -> n - 1), repeatedly. */
function reflectIndex(s: number, n: number): number {
  const period = 2 * n;
  const r = ((s % period) + period) % period;
  return r < n ? r : period - 1 - r;
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
  if (type === 'hann') {
    const a = (2 * Math.PI) / size; // periodic, in double like kaldi-native-fbank
    for (let i = 0; i < size; i++) w[i] = Math.fround(0.5 - 0.5 * Math.cos(a * i));
    return w;
  }
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
 * Sparse triangular mel filterbank over FFT bins: 0..fftSize/2 - 1 for the Kaldi bank
 * (Kaldi's get_mel_banks without VTLN; the Nyquist bin gets no weight), 0..fftSize/2 for
 * the Slaney bank.
 */
export interface MelBank {
  /** First FFT bin with a non-zero weight, per filter. */
  start: Int32Array;
  /** Offset of each filter's weights in `weights`; length melBins + 1. */
  offset: Int32Array;
  weights: Float64Array;
}

const f32 = Math.fround;

/** Checks the band and resolves highFreq <= 0 to Nyquist + highFreq (Kaldi convention). */
function melRange(melBins: number, sampleRate: number, lowFreq: number, highFreq: number): number {
  if (!Number.isInteger(melBins) || melBins <= 3) throw new RangeError('melBins must be an integer > 3');
  const nyquist = 0.5 * sampleRate;
  const high = highFreq <= 0 ? highFreq + nyquist : highFreq;
  if (!(lowFreq >= 0 && lowFreq < nyquist && high > 0 && high <= nyquist && lowFreq < high)) {
    throw new RangeError(`bad mel range: lowFreq ${lowFreq}, highFreq ${highFreq}, nyquist ${nyquist}`);
  }
  return high;
}

/** Packs weight(b, k) for k < numFftBins into a MelBank, keeping each filter's non-zero span. */
function packMelBank(melBins: number, numFftBins: number, weight: (b: number, k: number) => number): MelBank {
  const start = new Int32Array(melBins);
  const offset = new Int32Array(melBins + 1);
  const all: number[] = [];
  for (let b = 0; b < melBins; b++) {
    let first = -1;
    const row: number[] = [];
    for (let k = 0; k < numFftBins; k++) {
      const w = weight(b, k);
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
  const high = melRange(melBins, sampleRate, lowFreq, highFreq);
  const numFftBins = fftSize / 2;
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
  return packMelBank(melBins, numFftBins, (b, k) => {
    const left = f32(melLow32 + f32(b * delta32));
    const center = f32(melLow32 + f32((b + 1) * delta32));
    const right = f32(melLow32 + f32((b + 2) * delta32));
    const mel = binMel[k]!;
    const up = f32(f32(mel - left) / f32(center - left));
    const down = f32(f32(right - mel) / f32(right - center));
    return Math.max(0, Math.min(up, down));
  });
}

/** Slaney mel scale (librosa htk=False), in float32 like kaldi-native-fbank's MelScaleSlaney. */
function slaneyMel(freq: number): number {
  if (freq <= 1000) return f32(f32(freq * 3) / 200);
  // 27 / ln 6.4 as kaldi-native-fbank writes it
  return f32(15 + f32(f32(14.545078505785561) * f32(Math.log(f32(freq / 1000)))));
}

/** Inverse of slaneyMel, float32 like kaldi-native-fbank's InverseMelScaleSlaney. */
function slaneyHz(mel: number): number {
  if (mel <= 15) return f32(f32(200 / 3) * mel);
  // ln 6.4 / 27
  return f32(1000 * f32(Math.exp(f32(f32(mel - 15) * f32(0.06875177742094911)))));
}

/**
 * librosa's Slaney filterbank (`librosa.filters.mel(norm='slaney', htk=False)`) over FFT
 * bins 0..fftSize/2, computed the way kaldi-native-fbank does with is_librosa = true:
 * mel points evenly spaced between slaneyMel(low) and slaneyMel(high), triangles in Hz
 * (strictly inside the band), each scaled by 2 / (right_hz - left_hz); float32 steps.
 */
export function slaneyMelFilterbank(
  melBins: number,
  fftSize: number,
  sampleRate: number,
  lowFreq: number,
  highFreq: number,
): MelBank {
  const high = melRange(melBins, sampleRate, lowFreq, highFreq);
  const binWidth = f32(sampleRate / fftSize);
  const melLow = slaneyMel(f32(lowFreq));
  const delta = f32(f32(slaneyMel(f32(high)) - melLow) / (melBins + 1));
  const edges = new Float64Array(melBins + 2);
  for (let i = 0; i < melBins + 2; i++) edges[i] = slaneyHz(f32(melLow + f32(i * delta)));
  return packMelBank(melBins, fftSize / 2 + 1, (b, k) => {
    const left = edges[b]!;
    const center = edges[b + 1]!;
    const right = edges[b + 2]!;
    const hz = f32(binWidth * k);
    if (!(hz > left && hz < right)) return 0;
    const w = hz <= center ? f32(f32(hz - left) / f32(center - left)) : f32(f32(right - hz) / f32(right - center));
    return f32(w * f32(2 / f32(right - left)));
  });
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
    const bank = o.melType === 'slaney' ? slaneyMelFilterbank : melFilterbank;
    this.mel = bank(o.melBins, this.fftSize, o.sampleRate, o.lowFreq, o.highFreq);
    this.fft = new RealFft(this.fftSize);
    this.frame = new Float64Array(this.fftSize); // tail stays zero: the zero padding
    this.spectrum = new Float64Array(this.fftSize / 2 + 1);
  }

  frameCount(numSamples: number): number {
    return countFrames(numSamples, this.windowSize, this.windowShift, this.options.snipEdges);
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
    const n = samples.length;
    // snip_edges=false: frame f is centred on f*shift + shift/2 (Kaldi FirstSampleOfFrame)
    const lead = this.options.snipEdges ? 0 : Math.floor(shift / 2) - Math.floor(L / 2);
    for (let f = 0; f < frames; f++) {
      // time-domain steps in float32 like torchaudio/Kaldi; buf holds float32 values
      const s0 = f * shift + lead;
      const inside = s0 >= 0 && s0 + L <= n;
      let sum = 0;
      for (let i = 0; i < L; i++) {
        const v = f32r(samples[inside ? s0 + i : reflectIndex(s0 + i, n)]! * scale);
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
