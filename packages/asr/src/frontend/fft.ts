/**
 * Radix-2 FFTs for the ASR front-end.
 *
 * `ComplexFft` is an in-place iterative decimation-in-time FFT with precomputed
 * bit-reversal permutation and twiddle tables. `RealFft` computes the spectrum of a
 * real signal of length N with one complex FFT of length N/2 (the even samples go into
 * the real part and the odd samples into the imaginary part, and the two half-length
 * spectra are separated afterwards). All tables and work buffers are allocated once per
 * instance; the transforms themselves allocate nothing.
 */

function assertPowerOfTwo(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1 || (n & (n - 1)) !== 0) {
    throw new RangeError(`${what} must be a positive power of two, got ${n}`);
  }
}

/** Forward complex DFT, X[k] = sum_j x[j] * exp(-2*pi*i*j*k/n), computed in place. */
export class ComplexFft {
  readonly size: number;
  private readonly bitrev: Uint32Array;
  /** cos(2*pi*k/size) and sin(2*pi*k/size) for k < size/2. */
  private readonly cosTable: Float64Array;
  private readonly sinTable: Float64Array;

  constructor(size: number) {
    assertPowerOfTwo(size, 'FFT size');
    this.size = size;
    const bits = Math.round(Math.log2(size));
    this.bitrev = new Uint32Array(size);
    for (let i = 0; i < size; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >>> b) & 1) << (bits - 1 - b);
      this.bitrev[i] = r;
    }
    const half = size >> 1;
    this.cosTable = new Float64Array(Math.max(half, 1));
    this.sinTable = new Float64Array(Math.max(half, 1));
    for (let k = 0; k < half; k++) {
      const theta = (2 * Math.PI * k) / size;
      this.cosTable[k] = Math.cos(theta);
      this.sinTable[k] = Math.sin(theta);
    }
  }

  /** Transforms (re, im) in place. Both arrays must have at least `size` elements. */
  transform(re: Float64Array, im: Float64Array): void {
    const n = this.size;
    if (re.length < n || im.length < n) throw new RangeError(`FFT buffers must hold ${n} values`);
    const rev = this.bitrev;
    for (let i = 0; i < n; i++) {
      const j = rev[i]!;
      if (j > i) {
        const tr = re[i]!;
        re[i] = re[j]!;
        re[j] = tr;
        const ti = im[i]!;
        im[i] = im[j]!;
        im[j] = ti;
      }
    }
    const cosT = this.cosTable;
    const sinT = this.sinTable;
    for (let len = 2; len <= n; len <<= 1) {
      const half = len >> 1;
      const step = n / len;
      for (let j = 0, t = 0; j < half; j++, t += step) {
        // twiddle exp(-2*pi*i*j/len)
        const wr = cosT[t]!;
        const wi = -sinT[t]!;
        for (let a = j; a < n; a += len) {
          const b = a + half;
          const br = re[b]!;
          const bi = im[b]!;
          const xr = br * wr - bi * wi;
          const xi = br * wi + bi * wr;
          const ar = re[a]!;
          const ai = im[a]!;
          re[b] = ar - xr;
          im[b] = ai - xi;
          re[a] = ar + xr;
          im[a] = ai + xi;
        }
      }
    }
  }
}

/** Spectrum of a real signal of power-of-two length `size` (>= 2): bins 0..size/2. */
export class RealFft {
  readonly size: number;
  /** Number of output bins, size/2 + 1. */
  readonly bins: number;
  private readonly half: ComplexFft;
  private readonly zr: Float64Array;
  private readonly zi: Float64Array;
  /** cos(2*pi*k/size) and sin(2*pi*k/size) for k <= size/2. */
  private readonly cosTable: Float64Array;
  private readonly sinTable: Float64Array;

  constructor(size: number) {
    assertPowerOfTwo(size, 'real FFT size');
    if (size < 2) throw new RangeError('real FFT size must be at least 2');
    this.size = size;
    const m = size >> 1;
    this.bins = m + 1;
    this.half = new ComplexFft(m);
    this.zr = new Float64Array(m);
    this.zi = new Float64Array(m);
    this.cosTable = new Float64Array(m + 1);
    this.sinTable = new Float64Array(m + 1);
    for (let k = 0; k <= m; k++) {
      const theta = (2 * Math.PI * k) / size;
      this.cosTable[k] = Math.cos(theta);
      this.sinTable[k] = Math.sin(theta);
    }
  }

  /** Packs x into z[k] = x[2k] + i*x[2k+1] and transforms it. */
  private packAndTransform(input: ArrayLike<number>): void {
    const m = this.size >> 1;
    if (input.length < this.size) throw new RangeError(`real FFT input must hold ${this.size} values`);
    const zr = this.zr;
    const zi = this.zi;
    for (let k = 0; k < m; k++) {
      zr[k] = input[2 * k]!;
      zi[k] = input[2 * k + 1]!;
    }
    this.half.transform(zr, zi);
  }

  /**
   * Full spectrum: writes Re/Im of X[k] for k = 0..size/2 into outRe/outIm (each at
   * least size/2 + 1 long). The input is not modified.
   */
  forward(input: ArrayLike<number>, outRe: Float64Array, outIm: Float64Array): void {
    const m = this.size >> 1;
    if (outRe.length < m + 1 || outIm.length < m + 1) throw new RangeError(`real FFT output must hold ${m + 1} bins`);
    this.packAndTransform(input);
    const zr = this.zr;
    const zi = this.zi;
    const cosT = this.cosTable;
    const sinT = this.sinTable;
    outRe[0] = zr[0]! + zi[0]!;
    outIm[0] = 0;
    outRe[m] = zr[0]! - zi[0]!;
    outIm[m] = 0;
    for (let k = 1; k < m; k++) {
      const a = zr[k]!;
      const b = zi[k]!;
      const c = zr[m - k]!;
      const d = zi[m - k]!;
      // even part E = (Z[k] + conj Z[m-k]) / 2, odd part O = (Z[k] - conj Z[m-k]) / (2i)
      const er = 0.5 * (a + c);
      const ei = 0.5 * (b - d);
      const or = 0.5 * (b + d);
      const oi = -0.5 * (a - c);
      const cs = cosT[k]!;
      const sn = sinT[k]!;
      // X[k] = E + exp(-2*pi*i*k/size) * O
      outRe[k] = er + or * cs + oi * sn;
      outIm[k] = ei + oi * cs - or * sn;
    }
  }

  /** Power spectrum |X[k]|^2 for k = 0..size/2 into out (at least size/2 + 1 long). */
  power(input: ArrayLike<number>, out: Float64Array): void {
    const m = this.size >> 1;
    if (out.length < m + 1) throw new RangeError(`power spectrum output must hold ${m + 1} bins`);
    this.packAndTransform(input);
    const zr = this.zr;
    const zi = this.zi;
    const cosT = this.cosTable;
    const sinT = this.sinTable;
    const dc = zr[0]! + zi[0]!;
    const ny = zr[0]! - zi[0]!;
    out[0] = dc * dc;
    out[m] = ny * ny;
    for (let k = 1; k < m; k++) {
      const a = zr[k]!;
      const b = zi[k]!;
      const c = zr[m - k]!;
      const d = zi[m - k]!;
      const er = 0.5 * (a + c);
      const ei = 0.5 * (b - d);
      const or = 0.5 * (b + d);
      const oi = -0.5 * (a - c);
      const cs = cosT[k]!;
      const sn = sinT[k]!;
      const xr = er + or * cs + oi * sn;
      const xi = ei + oi * cs - or * sn;
      out[k] = xr * xr + xi * xi;
    }
  }
}
