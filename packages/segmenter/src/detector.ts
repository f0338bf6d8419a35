/**
 * Frame-level speech detectors. A detector sees the audio in consecutive,
 * non-overlapping frames on an absolute grid (frame k covers samples
 * [k·frameSamples, (k+1)·frameSamples)) and scores each frame; the segmenter
 * turns scores into segments with hysteresis (`on` to start speech, below
 * `off` counts as silence). A detector may look ahead: the score of frame k
 * is returned when frame k + lookaheadFrames is pushed.
 */
import { RealFft } from '@voxfleet/asr/fft';

export interface FrameDetector {
  /** samples per frame (16 kHz) */
  readonly frameSamples: number;
  /** default hysteresis thresholds on this detector's score scale */
  readonly thresholds: { on: number; off: number };
  /** frames the score lags behind the input (0: each push scores its own frame) */
  readonly lookaheadFrames: number;
  /**
   * Takes the next frame and returns the score of frame (this one − lookaheadFrames),
   * or undefined while the lookahead fills. `frame` always has `frameSamples` samples
   * (the last frame of a stream is zero-padded; `valid` says how many are real) and
   * may be overwritten after the call.
   */
  push(frame: Float32Array, valid: number): number | undefined | Promise<number | undefined>;
  /** end of stream: the scores of the frames still pending, in order */
  flush(): number[] | Promise<number[]>;
  /** forgets all state (a new stream starts) */
  reset(): void;
}

export interface EnergyDetectorOptions {
  /** frame length in ms (default 20) */
  frameMs?: number;
  /** the noise floor is the minimum short-term level over this many seconds (default 5) */
  floorWindowSec?: number;
  /** short-term level used for the floor: mean power over this many ms (default 100) */
  floorSmoothMs?: number;
  /** frames below this level (dBFS) are never speech, however low the floor (default -60) */
  absoluteGateDb?: number;
  /** the floor never goes below this (dBFS; default -90) */
  minFloorDb?: number;
  /** high-pass cutoff in Hz applied before measuring energy (rumble, hum, DC); 0 disables (default 100) */
  highPassHz?: number;
  /**
   * Lookahead in seconds (default 0.6): a stretch this long whose short-term level
   * varies by at most `stationarySpreadDb` is a steady noise (a noise bed that just
   * switched on, hum, a tone), never speech, and lifts the floor at once.
   */
  stationarySec?: number;
  /** default 4 dB */
  stationarySpreadDb?: number;
  /**
   * Band edges in Hz for sub-band floors (default 125…6000 Hz in 10 bands); an empty
   * list measures one broadband level instead. Each band has its own floor, so a hum
   * or a coloured noise raises only the bands it occupies.
   */
  bandsHz?: number[];
  /** the score is the mean SNR of this many best bands (default 3) */
  topBands?: number;
  /** speech starts at floor + on dB (default 10) ... */
  onDb?: number;
  /** ... and continues while above floor + off dB (default 6) */
  offDb?: number;
}

/**
 * Energy detector with adaptive noise floors in sub-bands.
 *
 * - Each 20 ms frame is measured in 10 bands from 125 Hz to 6 kHz (512-point FFT,
 *   Hann window); every band has its own floor, so a hum or a coloured noise only
 *   desensitises the bands it occupies. The score is the mean SNR of the 3 best bands.
 * - Floors by minimum statistics: the lowest 100 ms level of the last
 *   `floorWindowSec` (kept as 1 s block minima), so a floor drops at once when the
 *   noise gets quieter and follows a louder noise within a few seconds, while
 *   speech, which always has short pauses, cannot pull it up.
 * - Steady sounds are not speech: speech modulates its level by 10–30 dB every
 *   few hundred ms; where the next `stationarySec` of a band vary by less than
 *   `stationarySpreadDb`, that band's floor is lifted to their level at once. This
 *   is what ends a segment on time when a noise bed switches on right after a
 *   sentence (edited audio), and what keeps tones and hum out.
 * - Band levels for the decision are centred 60 ms means (frames k−1..k+1);
 *   frames whose high-passed (100 Hz) broadband level is under the absolute gate
 *   score −∞.
 */
export class EnergyDetector implements FrameDetector {
  readonly frameSamples: number;
  readonly thresholds: { on: number; off: number };
  readonly lookaheadFrames: number;
  private readonly gateDb: number;
  private readonly minFloorDb: number;
  private readonly smoothFrames: number;
  private readonly framesPerBlock: number;
  private readonly spreadDb: number;
  private readonly topBands: number;
  private readonly hp: { b0: number; b1: number; b2: number; a1: number; a2: number } | undefined;
  private x1 = 0;
  private x2 = 0;
  private y1 = 0;
  private y2 = 0;
  /** number of bands (1: broadband) and their FFT bin ranges */
  private readonly nb: number;
  private readonly bandBins: [number, number][];
  private readonly fft: HannPowerSpectrum | undefined;
  /** rings by frame index: high-passed broadband power; band powers; band 100 ms trailing levels (dB) */
  private readonly ring: number;
  private readonly gatePower: Float64Array;
  private readonly power: Float64Array;
  private readonly smoothDb: Float64Array;
  /** per band: minimum short-term level of each completed block (ring), and of the current block */
  private readonly blockMins: Float64Array;
  private readonly nBlocks: number;
  private readonly curBlockMin: Float64Array;
  private readonly snr: Float64Array;
  private frames = 0;
  private scored = 0;
  private blocks = 0;

  constructor(opts: EnergyDetectorOptions = {}) {
    const frameMs = opts.frameMs ?? 20;
    this.frameSamples = Math.round((16000 * frameMs) / 1000);
    this.thresholds = { on: opts.onDb ?? 10, off: opts.offDb ?? 6 };
    this.gateDb = opts.absoluteGateDb ?? -60;
    this.minFloorDb = opts.minFloorDb ?? -90;
    this.smoothFrames = Math.max(1, Math.round((opts.floorSmoothMs ?? 100) / frameMs));
    this.framesPerBlock = Math.max(1, Math.round(1000 / frameMs));
    this.nBlocks = Math.max(1, Math.round(opts.floorWindowSec ?? 5) - 1);
    this.lookaheadFrames = Math.max(1, Math.round(((opts.stationarySec ?? 0.6) * 1000) / frameMs));
    this.spreadDb = opts.stationarySpreadDb ?? 6;
    const edges = opts.bandsHz ?? [150, 400, 700, 1000, 1500, 2000, 3000, 4500, 6500];
    if (edges.length >= 2) {
      let n = 1;
      while (n < this.frameSamples) n <<= 1;
      this.fft = new HannPowerSpectrum(n);
      const hz = 16000 / n;
      this.bandBins = edges.slice(1).map((hi, i) => [Math.round(edges[i]! / hz), Math.max(Math.round(edges[i]! / hz) + 1, Math.round(hi / hz))]);
    } else {
      this.bandBins = [];
    }
    this.nb = Math.max(1, this.bandBins.length);
    this.topBands = Math.max(1, Math.min(this.nb, opts.topBands ?? 3));
    this.ring = this.lookaheadFrames + this.smoothFrames + 2;
    this.gatePower = new Float64Array(this.ring);
    this.power = new Float64Array(this.ring * this.nb);
    this.smoothDb = new Float64Array(this.ring * this.nb);
    this.blockMins = new Float64Array(this.nBlocks * this.nb).fill(Infinity);
    this.curBlockMin = new Float64Array(this.nb).fill(Infinity);
    this.snr = new Float64Array(this.nb);
    const fc = opts.highPassHz ?? 100;
    if (fc > 0) {
      // RBJ cookbook high-pass, Q = 1/√2
      const w0 = (2 * Math.PI * fc) / 16000;
      const alpha = Math.sin(w0) / Math.SQRT2;
      const cos = Math.cos(w0);
      const a0 = 1 + alpha;
      this.hp = { b0: (1 + cos) / 2 / a0, b1: -(1 + cos) / a0, b2: (1 + cos) / 2 / a0, a1: (-2 * cos) / a0, a2: (1 - alpha) / a0 };
    }
  }

  reset(): void {
    this.frames = this.scored = this.blocks = 0;
    this.curBlockMin.fill(Infinity);
    this.blockMins.fill(Infinity);
    this.gatePower.fill(0);
    this.power.fill(0);
    this.smoothDb.fill(0);
    this.x1 = this.x2 = this.y1 = this.y2 = 0;
  }

  /** current noise floor of band b in dB (band powers are FFT sums, not dBFS, except for one broadband band) */
  floorDb(b = 0): number {
    let m = this.curBlockMin[b]!;
    for (let i = 0; i < this.nBlocks; i++) m = Math.min(m, this.blockMins[i * this.nb + b]!);
    return Math.max(this.minFloorDb, Number.isFinite(m) ? m : this.minFloorDb);
  }

  push(frame: Float32Array, valid: number): number | undefined {
    this.measure(frame, valid);
    return this.frames > this.lookaheadFrames ? this.scoreNext() : undefined;
  }

  flush(): number[] {
    const out: number[] = [];
    while (this.scored < this.frames) out.push(this.scoreNext());
    return out;
  }

  /** high-pass broadband power, band powers and 100 ms band levels of the newest frame */
  private measure(frame: Float32Array, valid: number): void {
    let e = 0;
    const hp = this.hp;
    if (hp) {
      let { x1, x2, y1, y2 } = this;
      for (let i = 0; i < valid; i++) {
        const x = frame[i]!;
        const y = hp.b0 * x + hp.b1 * x1 + hp.b2 * x2 - hp.a1 * y1 - hp.a2 * y2;
        x2 = x1;
        x1 = x;
        y2 = y1;
        y1 = y;
        e += y * y;
      }
      this.x1 = x1;
      this.x2 = x2;
      this.y1 = y1;
      this.y2 = y2;
    } else {
      for (let i = 0; i < valid; i++) e += frame[i]! * frame[i]!;
    }
    const k = this.frames++;
    const r = k % this.ring;
    const nb = this.nb;
    this.gatePower[r] = e / Math.max(1, valid);
    if (this.fft) {
      const spec = this.fft.power(frame, valid);
      for (let b = 0; b < nb; b++) {
        const [lo, hi] = this.bandBins[b]!;
        let p = 0;
        for (let j = lo; j < hi; j++) p += spec[j]!;
        this.power[r * nb + b] = p / (hi - lo);
      }
    } else {
      this.power[r * nb] = this.gatePower[r]!;
    }
    const have = Math.min(this.frames, this.smoothFrames);
    for (let b = 0; b < nb; b++) {
      let s = 0;
      for (let j = 0; j < have; j++) s += this.power[((k - j) % this.ring) * nb + b]!;
      this.smoothDb[r * nb + b] = db(s / have);
    }
  }

  /** scores the oldest unscored frame from what has been measured after it */
  private scoreNext(): number {
    const k = this.scored++;
    const nb = this.nb;
    const ring = this.ring;
    const last = this.frames - 1;
    // the floors follow the frames up to k only: a quiet stretch ahead must not lower them for frame k
    // (they want a full 100 ms window, except for the very first frame of a stream)
    if (k >= this.smoothFrames - 1 || k === 0) {
      for (let b = 0; b < nb; b++) this.curBlockMin[b] = Math.min(this.curBlockMin[b]!, this.smoothDb[(k % ring) * nb + b]!);
    }
    if (this.scored % this.framesPerBlock === 0) {
      const at = (this.blocks % this.nBlocks) * nb;
      for (let b = 0; b < nb; b++) this.blockMins[at + b] = this.curBlockMin[b]!;
      this.blocks++;
      this.curBlockMin.fill(Infinity);
    }
    // steady ahead? (needs most of the lookahead, so the stream's last frames are judged on the usual floors)
    const from = k + Math.min(this.smoothFrames - 1, last - k);
    if (last - k + 1 >= Math.ceil(this.lookaheadFrames * 0.75) && last - from >= 2) {
      for (let b = 0; b < nb; b++) {
        let lo = Infinity;
        let hi = -Infinity;
        for (let j = from; j <= last; j++) {
          const v = this.smoothDb[(j % ring) * nb + b]!;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        if (hi - lo <= this.spreadDb && lo > this.floorDb(b)) {
          // a steady sound: it is this band's new floor (block minima below it are forgotten)
          for (let i = 0; i < this.nBlocks; i++) this.blockMins[i * nb + b] = Math.max(this.blockMins[i * nb + b]!, lo);
          this.curBlockMin[b] = this.curBlockMin[b] === Infinity ? lo : Math.max(this.curBlockMin[b]!, lo);
        }
      }
    }
    const j0 = Math.max(0, k - 1);
    const j1 = Math.min(last, k + 1);
    let g = 0;
    for (let j = j0; j <= j1; j++) g += this.gatePower[j % ring]!;
    if (db(g / (j1 - j0 + 1)) < this.gateDb) return -Infinity;
    for (let b = 0; b < nb; b++) {
      let p = 0;
      for (let j = j0; j <= j1; j++) p += this.power[(j % ring) * nb + b]!;
      this.snr[b] = db(p / (j1 - j0 + 1)) - this.floorDb(b);
    }
    if (nb === 1) return this.snr[0]!;
    // mean of the best bands
    this.snr.sort();
    let s = 0;
    for (let b = nb - this.topBands; b < nb; b++) s += this.snr[b]!;
    return s / this.topBands;
  }
}

/**
 * Power spectrum of a real frame for the band levels: Hann-windowed over its
 * `valid` samples (symmetric, w[i] = 0.5 − 0.5·cos(2πi/(valid−1)), float64),
 * zero-padded to n, through the front-end's `RealFft`. Bins 0…n/2.
 */
export class HannPowerSpectrum {
  private readonly fft: RealFft;
  private readonly buf: Float64Array;
  private readonly out: Float64Array;
  private window: Float64Array = new Float64Array(0);

  constructor(readonly n: number) {
    this.fft = new RealFft(n);
    this.buf = new Float64Array(n);
    this.out = new Float64Array(this.fft.bins);
  }

  /** the spectrum of frame[0, valid) (a buffer reused by the next call) */
  power(frame: Float32Array, valid: number): Float64Array {
    if (this.window.length !== valid) {
      this.window = new Float64Array(valid);
      for (let i = 0; i < valid; i++) this.window[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / Math.max(1, valid - 1));
    }
    const { buf, window: w } = this;
    const lim = Math.min(valid, this.n);
    for (let i = 0; i < lim; i++) buf[i] = frame[i]! * w[i]!;
    buf.fill(0, lim);
    this.fft.power(buf, this.out);
    return this.out;
  }
}

function db(p: number): number {
  return 10 * Math.log10(p + 1e-12);
}
