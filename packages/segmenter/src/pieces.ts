/**
 * Audio → the pieces the engine transcribes: a stream of at most
 * `maxSegmentSec` is ONE piece, as it is, without voice-activity detection
 * (to find out, up to `maxSegmentSec` plus one chunk is held); anything
 * longer is cut by the SpeechSegmenter into speech segments of at most
 * `maxSegmentSec`, at pauses. Runs on the
 * segmenter thread (thread.ts) or in-process (transcribeLong's `inProcess`).
 */
import type { PieceStream } from './segmenter-thread.js';
import { SEGMENTER_SAMPLE_RATE, SpeechSegmenter, type SampleSource, type SegmenterOptions, type SegmenterStats } from './segmenter.js';

export interface Piece {
  /** absolute position of the first sample in the input */
  startSample: number;
  /** the audio; owns its whole buffer (transferable) */
  samples: Float32Array;
  /** true when it ends at a forced cut (maxSegmentSec), not at a pause */
  cut: boolean;
  /** true when no piece follows it (a short clip: the stream has ended) */
  last: boolean;
}

/** Cuts one stream into pieces; `decodedSamples` and `stats` are live. */
export class PieceCutter {
  /** samples read from the source so far */
  decodedSamples = 0;
  private readonly maxSec: number;
  private segmenter: SpeechSegmenter | undefined;
  private whole: SegmenterStats | undefined;

  constructor(private readonly opts: SegmenterOptions = {}) {
    this.maxSec = opts.maxSegmentSec ?? 30;
  }

  /** the segmenter's stats; for a one-piece clip, the same fields for that piece */
  get stats(): SegmenterStats {
    if (this.segmenter) return { ...this.segmenter.stats };
    const n = this.decodedSamples;
    return this.whole ?? { totalSamples: n, speechSamples: 0, segments: 0, cuts: 0, peakBufferedSamples: n, capacitySamples: 0 };
  }

  async *pieces(source: SampleSource): AsyncGenerator<Piece> {
    const it = this.counted(source)[Symbol.asyncIterator]();
    const maxSamples = this.maxSec * SEGMENTER_SAMPLE_RATE;
    try {
      // up to maxSegmentSec plus one chunk, in one buffer (sized for that at the first chunk)
      let head = new Float32Array(0);
      let n = 0;
      while (n <= maxSamples) {
        const r = await it.next();
        if (r.done) {
          if (n === 0) return;
          this.whole = { totalSamples: n, speechSamples: n, segments: 1, cuts: 0, peakBufferedSamples: n, capacitySamples: head.length };
          // a fresh buffer, never the caller's chunk: the piece is handed over and may be transferred
          yield { startSample: 0, samples: head.length === n ? head : head.slice(0, n), cut: false, last: true };
          return;
        }
        const c = r.value;
        if (n + c.length > head.length) {
          const grown = new Float32Array(Math.max(n + c.length, maxSamples + c.length));
          grown.set(head.subarray(0, n));
          head = grown;
        }
        head.set(c, n);
        n += c.length;
      }
      const segmenter = (this.segmenter = new SpeechSegmenter(this.opts));
      async function* rest(): AsyncGenerator<Float32Array> {
        yield head.subarray(0, n);
        head = new Float32Array(0);
        for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
      }
      for await (const s of segmenter.segments(rest())) {
        const owned = s.samples.byteOffset === 0 && s.samples.byteLength === s.samples.buffer.byteLength ? s.samples : s.samples.slice();
        yield { startSample: s.startSample, samples: owned, cut: s.cut, last: false };
      }
    } finally {
      // stops the decoder (kills ffmpeg) when the consumer stops early or fails
      await it.return?.(undefined);
    }
  }

  private async *counted(source: SampleSource): AsyncGenerator<Float32Array> {
    for await (const chunk of source) {
      this.decodedSamples += chunk.length;
      yield chunk;
    }
  }
}

/** The pieces of a stream cut on this thread (transcribeLong's `inProcess`, and sample sources). */
export function localPieces(source: SampleSource, opts: SegmenterOptions, signal: AbortSignal): PieceStream {
  const cutter = new PieceCutter(opts);
  const gen = cutter.pieces(source);
  /** the generator's unsettled next(), if any */
  let running: Promise<unknown> | undefined;
  return {
    get decodedSamples() {
      return cutter.decodedSamples;
    },
    next: async () => {
      signal.throwIfAborted();
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
      });
      const next = gen.next();
      const settled = (running = next.then(() => undefined, () => undefined));
      void settled.then(() => running === settled && (running = undefined));
      try {
        const r = await Promise.race([next, aborted]);
        return r.done ? { done: true, value: cutter.stats } : r;
      } finally {
        signal.removeEventListener('abort', onAbort!);
      }
    },
    close: async () => {
      // a source stuck in a pending next must not hold up an abort: it is closed once that settles
      const closing = gen.return(undefined).then(
        () => undefined,
        () => undefined,
      );
      if (!running) await closing;
    },
  };
}
