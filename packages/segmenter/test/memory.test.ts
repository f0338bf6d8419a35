/**
 * Memory is flat in the input length: a generated 20-minute stream (no file,
 * nothing stored) of speech-like noise and pauses, including speech runs far
 * longer than maxSegmentSec, goes through the segmenter while a counting
 * wrapper watches how far the input has been read when each segment comes out.
 * No timing assertions.
 */
import { describe, expect, it } from 'vitest';
import { SpeechSegmenter, type SpeechSegment } from '../src/index.js';
import { SR, fillPart, rng, type Part } from './synth.js';

/** Speech-like runs of 0.3–45 s and pauses of 0.2–8 s over a −60 dBFS bed, produced chunk by chunk. */
async function* generated(totalSec: number, chunkSamples: number, seed: number): AsyncGenerator<Float32Array> {
  const r = rng(seed);
  const total = totalSec * SR;
  let pos = 0;
  let part: Part = { kind: 'silence', sec: 1 };
  let partLeft = SR;
  const scratch = new Float32Array(chunkSamples);
  let speech = false;
  while (pos < total) {
    const n = Math.min(chunkSamples, total - pos);
    const out = new Float32Array(n);
    let i = 0;
    while (i < n) {
      if (partLeft === 0) {
        speech = !speech;
        const sec = speech ? (r() < 0.15 ? 31 + 14 * r() : 0.3 + 8 * r()) : 0.2 + 7.8 * r();
        part = speech ? { kind: 'speechlike', sec, db: -18 - 20 * r() } : { kind: 'silence', sec };
        partLeft = Math.round(sec * SR);
      }
      const k = Math.min(partLeft, n - i);
      fillPart(scratch.subarray(0, k), part, r, pos + i);
      out.set(scratch.subarray(0, k), i);
      i += k;
      partLeft -= k;
    }
    for (let j = 0; j < n; j++) out[j]! += 0.001 * Math.sqrt(3) * (r() * 2 - 1);
    pos += n;
    yield out;
  }
}

/** Counts what the segmenter has pulled from its input. */
function counting(src: AsyncIterable<Float32Array>): { source: AsyncGenerator<Float32Array>; pulled: () => number } {
  let pulled = 0;
  async function* wrap(): AsyncGenerator<Float32Array> {
    for await (const c of src) {
      pulled += c.length;
      yield c;
    }
  }
  return { source: wrap(), pulled: () => pulled };
}

async function measure(totalSec: number, chunkSamples: number) {
  const maxSegmentSec = 30;
  const cutSearchSec = 5;
  const seg = new SpeechSegmenter({ maxSegmentSec, cutSearchSec });
  const { source, pulled } = counting(generated(totalSec, chunkSamples, 42));
  let maxLagAfterEnd = 0;
  let maxLagAfterStart = 0;
  let prevEnd = 0;
  let count = 0;
  let longest = 0;
  let peakHeld = 0;
  const order: boolean[] = [];
  for await (const s of seg.segments(source) as AsyncGenerator<SpeechSegment>) {
    const end = s.startSample + s.samples.length;
    // everything the segment holds was read at most this long ago
    maxLagAfterStart = Math.max(maxLagAfterStart, pulled() - s.startSample);
    maxLagAfterEnd = Math.max(maxLagAfterEnd, pulled() - end);
    longest = Math.max(longest, s.samples.length);
    order.push(s.startSample >= prevEnd);
    prevEnd = end;
    count++;
    peakHeld = Math.max(peakHeld, seg.bufferedSamples);
  }
  return { stats: seg.stats, maxLagAfterStart, maxLagAfterEnd, count, longest, order, frame: seg.detector.frameSamples, lookahead: seg.detector.lookaheadFrames, maxSegmentSec, cutSearchSec, peakHeld };
}

describe('memory stays flat', () => {
  it('never holds more than one max segment + the lookahead of a 20-minute stream', async () => {
    const chunk = SR; // decodeStream's default
    const m = await measure(20 * 60, chunk);
    expect(m.stats.totalSamples).toBe(20 * 60 * SR);
    expect(m.count).toBeGreaterThan(60);
    expect(m.stats.cuts).toBeGreaterThan(3); // the worst case (a full buffer) was exercised
    expect(m.order.every(Boolean)).toBe(true);
    expect(m.longest).toBeLessThanOrEqual(m.maxSegmentSec * SR);

    // the fixed buffers: one max segment + one frame, and the detector's lookahead (0.6 s) + one frame
    const bound = m.maxSegmentSec * SR + m.frame + (m.lookahead + 1) * m.frame;
    expect(m.stats.capacitySamples).toBe(bound);
    expect(bound).toBeLessThan((m.maxSegmentSec + 1) * SR);
    expect(m.stats.peakBufferedSamples).toBeLessThanOrEqual(bound);
    expect(m.stats.peakBufferedSamples).toBeGreaterThan((m.maxSegmentSec - 1) * SR);
    // seen from outside: a segment comes out before the input has moved on by more than the
    // lookahead (pause detection or the cut search) plus one frame and one input chunk ...
    const lookahead = (m.lookahead + 1) * m.frame;
    expect(m.maxLagAfterEnd).toBeLessThanOrEqual(Math.max(m.cutSearchSec, 0.5) * SR + lookahead + m.frame + chunk);
    // ... and no segment started longer ago than one max segment + lookahead + frame + chunk
    expect(m.maxLagAfterStart).toBeLessThanOrEqual(m.maxSegmentSec * SR + lookahead + m.frame + chunk);
  });

  it('the bound does not depend on the length: 2 minutes and 20 minutes peak at the same fixed buffer', async () => {
    const short = await measure(2 * 60, 4000);
    const long = await measure(20 * 60, 4000);
    expect(short.stats.capacitySamples).toBe(long.stats.capacitySamples);
    expect(long.stats.peakBufferedSamples).toBeLessThanOrEqual(long.stats.capacitySamples);
    expect(short.stats.peakBufferedSamples).toBeLessThanOrEqual(short.stats.capacitySamples);
  });
});
