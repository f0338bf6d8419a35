/**
 * Streaming speech segmenter: 16 kHz mono chunks in, speech segments out,
 * each at most `maxSegmentSec` long, cut at pauses. Silence between segments
 * is dropped but every segment keeps its absolute position (`startSample`).
 *
 * Memory is flat in the input length: one fixed buffer of `maxSegmentSec` +
 * one frame of audio and the detector's lookahead (0.6 s for the energy
 * detector), allocated once, plus one number per buffered frame. While there
 * is no speech only the pre-roll (`padSec`) is kept.
 */
import { EnergyDetector, type EnergyDetectorOptions, type FrameDetector } from './detector.js';

export const SEGMENTER_SAMPLE_RATE = 16000;

export interface SpeechSegment {
  /** absolute position of the first sample in the input */
  startSample: number;
  /** the audio (a fresh buffer owned by the receiver: transferable) */
  samples: Float32Array;
  /** true when the segment ends at a forced cut (it reached maxSegmentSec), not at a pause */
  cut: boolean;
}

export interface SegmenterOptions {
  /** no segment is longer than this (default 30 s) */
  maxSegmentSec?: number;
  /** speech shorter than this (between pauses) is dropped as a click/blip (default 0.2 s) */
  minSpeechSec?: number;
  /** a pause at least this long ends a segment (default 0.5 s) */
  minSilenceSec?: number;
  /** audio kept before and after speech (default 0.2 s, at most minSilenceSec) */
  padSec?: number;
  /** a forced cut is placed at the quietest point of the segment's last this-many seconds (default 5 s) */
  cutSearchSec?: number;
  /** hysteresis on the detector's score scale (default: the detector's) */
  onThreshold?: number;
  offThreshold?: number;
  /** the frame scorer (default: a new EnergyDetector with `energy` options) */
  detector?: FrameDetector;
  energy?: EnergyDetectorOptions;
}

export interface SegmenterStats {
  /** samples consumed so far */
  totalSamples: number;
  /** samples emitted as segments */
  speechSamples: number;
  segments: number;
  /** forced cuts (segments that hit maxSegmentSec) */
  cuts: number;
  /** the most audio samples the segmenter ever held at once (its buffer and the partial frame) */
  peakBufferedSamples: number;
  /** the fixed size of the audio buffers (an upper bound for peakBufferedSamples) */
  capacitySamples: number;
}

/**
 * The frame-level state machine. Feed it every frame in order with its score
 * (`pushFrame`), then `finish()`. Synchronous; see `segmentSpeech` for the
 * streaming driver that frames arbitrary chunks and runs a detector.
 */
export class SegmentStateMachine {
  readonly frameSamples: number;
  readonly maxSamples: number;
  private readonly minSpeech: number;
  private readonly minSilence: number;
  private readonly pad: number;
  private readonly cutSearch: number;
  private readonly on: number;
  private readonly off: number;

  /** audio from absolute sample `bufStart`, `bufLen` samples */
  private readonly buf: Float32Array;
  private bufStart = 0;
  private bufLen = 0;
  /** power of each frame, by absolute frame index modulo its length */
  private readonly framePower: Float64Array;

  private inSpeech = false;
  private segStart = 0;
  private speechStart = 0;
  private lastSpeechEnd = 0;
  private silenceRun = 0;
  /** the current segment continues one that was cut (never dropped as too short) */
  private continued = false;
  private end = 0;
  private finished = false;

  readonly stats: SegmenterStats;

  constructor(frameSamples: number, thresholds: { on: number; off: number }, opts: SegmenterOptions = {}) {
    const sr = SEGMENTER_SAMPLE_RATE;
    this.frameSamples = frameSamples;
    const maxSec = opts.maxSegmentSec ?? 30;
    if (!(maxSec > 0)) throw new RangeError('maxSegmentSec must be positive');
    this.maxSamples = Math.round(maxSec * sr);
    if (this.maxSamples < 4 * frameSamples) throw new RangeError('maxSegmentSec is shorter than four frames');
    this.minSpeech = Math.round((opts.minSpeechSec ?? 0.2) * sr);
    this.minSilence = Math.max(frameSamples, Math.round((opts.minSilenceSec ?? 0.5) * sr));
    this.pad = Math.min(this.minSilence, Math.round((opts.padSec ?? 0.2) * sr));
    this.cutSearch = Math.max(2 * frameSamples, Math.min(this.maxSamples, Math.round((opts.cutSearchSec ?? 5) * sr)));
    this.on = opts.onThreshold ?? thresholds.on;
    this.off = Math.min(this.on, opts.offThreshold ?? thresholds.off);
    // a segment is cut once it reaches maxSamples; one more frame may arrive before that check
    const capacity = this.maxSamples + frameSamples;
    this.buf = new Float32Array(capacity);
    this.framePower = new Float64Array(Math.ceil(capacity / frameSamples) + 2);
    this.stats = {
      totalSamples: 0,
      speechSamples: 0,
      segments: 0,
      cuts: 0,
      peakBufferedSamples: 0,
      capacitySamples: capacity,
    };
  }

  /** samples currently held */
  get bufferedSamples(): number {
    return this.bufLen;
  }

  /**
   * One frame: `frame[0..valid)` are the next `valid` samples of the stream
   * (only the last frame may be short). Returns the segments it completes.
   */
  pushFrame(frame: Float32Array, valid: number, score: number): SpeechSegment[] {
    if (this.finished) throw new Error('segmenter already finished');
    if (valid <= 0) return [];
    if (valid > this.frameSamples) throw new RangeError('frame longer than frameSamples');
    const a = this.end;
    if (a % this.frameSamples !== 0) throw new Error('only the last frame of a stream may be short');
    const out: SpeechSegment[] = [];

    // append
    if (this.bufLen + valid > this.buf.length) this.dropBefore(this.end + valid - this.buf.length);
    this.buf.set(frame.subarray(0, valid), this.bufLen);
    this.bufLen += valid;
    this.end += valid;
    this.stats.totalSamples = this.end;
    let e = 0;
    for (let i = 0; i < valid; i++) e += frame[i]! * frame[i]!;
    this.framePower[(a / this.frameSamples) % this.framePower.length] = e / valid;
    if (this.bufLen > this.stats.peakBufferedSamples) this.stats.peakBufferedSamples = this.bufLen;

    if (!this.inSpeech) {
      if (score >= this.on) {
        this.inSpeech = true;
        this.continued = false;
        this.segStart = Math.max(this.bufStart, a - this.pad);
        this.speechStart = a;
        this.lastSpeechEnd = this.end;
        this.silenceRun = 0;
        this.dropBefore(this.segStart);
      } else {
        this.dropBefore(this.end - this.pad);
      }
    } else {
      if (score >= this.off) {
        this.lastSpeechEnd = this.end;
        this.silenceRun = 0;
      } else {
        this.silenceRun += valid;
      }
      if (this.silenceRun >= this.minSilence) {
        this.closeSegment(out, Math.min(this.lastSpeechEnd + this.pad, this.end));
      }
    }
    // a segment reaching the maximum is cut at its quietest point
    while (this.inSpeech && this.end - this.segStart >= this.maxSamples) this.forceCut(out);
    return out;
  }

  /** End of stream: returns the last segment, if speech was still going on. */
  finish(): SpeechSegment[] {
    if (this.finished) return [];
    this.finished = true;
    const out: SpeechSegment[] = [];
    if (this.inSpeech) this.closeSegment(out, Math.min(this.lastSpeechEnd + this.pad, this.end));
    this.dropBefore(this.end);
    return out;
  }

  private closeSegment(out: SpeechSegment[], segEnd: number): void {
    const speech = this.lastSpeechEnd - this.speechStart;
    if (speech >= this.minSpeech || (this.continued && this.lastSpeechEnd > this.speechStart)) {
      out.push(this.emit(this.segStart, segEnd, false));
      this.dropBefore(segEnd);
    }
    this.inSpeech = false;
    this.continued = false;
    this.silenceRun = 0;
    this.dropBefore(this.end - this.pad);
  }

  private forceCut(out: SpeechSegment[]): void {
    const fs = this.frameSamples;
    const limit = this.segStart + this.maxSamples;
    // candidate frames lie wholly inside [limit − cutSearch, limit] and after segStart,
    // with both neighbours buffered (3-frame smoothing)
    const firstFrame = Math.ceil(Math.max(this.segStart + fs, limit - this.cutSearch) / fs);
    const lastFrame = Math.min(Math.floor(limit / fs) - 1, Math.floor(this.end / fs) - 2);
    let best = -1;
    let bestPower = Infinity;
    for (let k = firstFrame; k <= lastFrame; k++) {
      const n = this.framePower.length;
      const p = this.framePower[(k - 1) % n]! + this.framePower[k % n]! + this.framePower[(k + 1) % n]!;
      // ties go to the later frame (longer segments, fewer cuts)
      if (p <= bestPower) {
        bestPower = p;
        best = k;
      }
    }
    const cutAt = best < 0 ? limit : Math.min(limit, best * fs + (fs >> 1));
    out.push(this.emit(this.segStart, cutAt, true));
    this.stats.cuts++;
    this.dropBefore(cutAt);
    this.segStart = cutAt;
    this.speechStart = cutAt;
    this.continued = true;
    if (this.lastSpeechEnd <= cutAt) {
      // the cut fell in the trailing pause: whatever follows is a new segment
      this.lastSpeechEnd = cutAt;
    }
  }

  private emit(start: number, end: number, cut: boolean): SpeechSegment {
    const from = start - this.bufStart;
    const samples = this.buf.slice(from, from + (end - start));
    this.stats.segments++;
    this.stats.speechSamples += samples.length;
    return { startSample: start, samples, cut };
  }

  /** forgets audio before absolute sample `pos` */
  private dropBefore(pos: number): void {
    const n = Math.min(this.bufLen, pos - this.bufStart);
    if (n <= 0) return;
    this.buf.copyWithin(0, n, this.bufLen);
    this.bufLen -= n;
    this.bufStart += n;
  }
}

/** Something `segmentSpeech` can read 16 kHz mono audio from. */
export type SampleSource = AsyncIterable<Float32Array> | Iterable<Float32Array>;

/**
 * A streaming segmenter over one input. `segments(source)` consumes the
 * chunks (any sizes) and yields segments as soon as they are complete;
 * `stats` reports totals and the peak of audio held.
 *
 * Held audio: the state machine's buffer (≤ maxSegmentSec + one frame), the
 * detector's lookahead (≤ lookaheadFrames + 1 frames, filled in place) and
 * nothing else; `stats.capacitySamples` is that bound.
 */
export class SpeechSegmenter {
  readonly detector: FrameDetector;
  readonly machine: SegmentStateMachine;
  /** frames waiting for their (delayed) score, filled in place: a ring of lookahead + 1 frames */
  private readonly pending: Float32Array;
  private readonly pendingValid: Int32Array;
  private readonly slots: number;
  private head = 0;
  private count = 0;
  /** samples in the slot being filled */
  private fill = 0;
  private used = false;
  private readonly _stats: SegmenterStats;

  constructor(opts: SegmenterOptions = {}) {
    this.detector = opts.detector ?? new EnergyDetector(opts.energy);
    this.detector.reset();
    const fs = this.detector.frameSamples;
    this.machine = new SegmentStateMachine(fs, this.detector.thresholds, opts);
    this.slots = this.detector.lookaheadFrames + 1;
    this.pending = new Float32Array(this.slots * fs);
    this.pendingValid = new Int32Array(this.slots);
    this._stats = this.machine.stats;
    this._stats.capacitySamples = this.machine.stats.capacitySamples + this.slots * fs;
  }

  get stats(): SegmenterStats {
    return this._stats;
  }

  /** samples held right now (the state machine's buffer and the lookahead) */
  get bufferedSamples(): number {
    return this.machine.bufferedSamples + this.count * this.detector.frameSamples + this.fill;
  }

  async *segments(source: SampleSource): AsyncGenerator<SpeechSegment> {
    if (this.used) throw new Error('a SpeechSegmenter reads one stream; create a new one');
    this.used = true;
    const fs = this.detector.frameSamples;
    for await (const chunk of source) {
      let i = 0;
      while (i < chunk.length) {
        const slot = this.slot((this.head + this.count) % this.slots);
        const n = Math.min(fs - this.fill, chunk.length - i);
        slot.set(chunk.subarray(i, i + n), this.fill);
        this.fill += n;
        i += n;
        this.notePeak();
        if (this.fill === fs) yield* await this.step(fs);
      }
    }
    if (this.fill > 0) {
      this.slot((this.head + this.count) % this.slots).fill(0, this.fill);
      yield* await this.step(this.fill);
    }
    const out: SpeechSegment[] = [];
    for (const score of await this.detector.flush()) out.push(...this.release(score));
    if (this.count !== 0) throw new Error('detector flushed fewer scores than frames pending');
    out.push(...this.machine.finish());
    yield* out;
  }

  private slot(i: number): Float32Array {
    const fs = this.detector.frameSamples;
    return this.pending.subarray(i * fs, (i + 1) * fs);
  }

  /** the slot being filled is complete: score it (maybe a delayed score) */
  private async step(valid: number): Promise<SpeechSegment[]> {
    const at = (this.head + this.count) % this.slots;
    this.pendingValid[at] = valid;
    this.count++;
    this.fill = 0;
    const s = this.detector.push(this.slot(at), valid);
    const score = typeof s === 'number' || s === undefined ? s : await s;
    if (score === undefined) {
      if (this.count >= this.slots) throw new Error(`detector lags more than its lookaheadFrames (${this.slots - 1})`);
      return [];
    }
    return this.release(score);
  }

  /** the oldest pending frame got its score: into the state machine */
  private release(score: number): SpeechSegment[] {
    if (this.count === 0) throw new Error('detector returned more scores than frames');
    const i = this.head;
    this.head = (this.head + 1) % this.slots;
    this.count--;
    const segs = this.machine.pushFrame(this.slot(i), this.pendingValid[i]!, score);
    this.notePeak();
    return segs;
  }

  private notePeak(): void {
    const held = this.bufferedSamples;
    if (held > this._stats.peakBufferedSamples) this._stats.peakBufferedSamples = held;
  }
}

/** Convenience: segments of one stream with a fresh SpeechSegmenter. */
export function segmentSpeech(source: SampleSource, opts: SegmenterOptions = {}): AsyncGenerator<SpeechSegment> {
  return new SpeechSegmenter(opts).segments(source);
}
