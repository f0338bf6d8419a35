/**
 * transcribeLong's plumbing with a stub engine (no model): batching, at most
 * one batch in flight, absolute timestamps, clamping, progress, errors.
 * The real model and ffmpeg are exercised in e2e.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { Transcript } from '@voxfleet/asr';
import { transcribeLong, type BatchTranscriber, type LongProgress } from '../src/index.js';
import { SR, build, chunked, type Part } from './synth.js';

/** Each input gets one segment [0.1, dur − 0.1] named after its order, plus a token running past the end. */
class StubEngine implements BatchTranscriber {
  batches: number[] = [];
  inflight = 0;
  maxInflight = 0;
  seen = 0;
  constructor(private readonly failOnBatch = -1) {}

  async transcribe(audio: Float32Array[]): Promise<{ transcripts: Transcript[] }> {
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    const index = this.batches.length;
    this.batches.push(audio.length);
    await new Promise((r) => setTimeout(r, 5));
    this.inflight--;
    if (index === this.failOnBatch) throw new Error('boom');
    return {
      transcripts: audio.map((a) => {
        const dur = a.length / SR;
        const name = `s${this.seen++}`;
        return {
          text: name,
          segments: [{ start: 0.1, end: dur - 0.1, text: name }],
          tokens: [{ id: 1, text: name, start: dur - 0.2, end: dur + 0.05 }],
          durationSec: dur,
        };
      }),
    };
  }
}

const parts: Part[] = [{ kind: 'silence', sec: 0.5 }];
for (let i = 0; i < 19; i++) parts.push({ kind: 'speechlike', sec: 0.8 + (i % 4) * 0.6, db: -25 }, { kind: 'silence', sec: 1 + (i % 3) * 0.4 });
const { samples, active } = build(parts, { bedDb: -55, seed: 4 });

describe('transcribeLong (stub engine)', () => {
  it('batches segments, keeps one batch in flight, stitches with absolute times and counts progress', async () => {
    const engine = new StubEngine();
    const progress: LongProgress[] = [];
    const t = await transcribeLong(engine, chunked(samples, [SR]), { batchSize: 8, onProgress: (p) => progress.push({ ...p }) });

    expect(t.speech).toHaveLength(active.length);
    expect(engine.batches).toEqual([8, 8, 3]);
    expect(engine.maxInflight).toBe(1);
    expect(t.text).toBe(active.map((_, i) => `s${i}`).join(' '));
    t.speech.forEach((s, i) => {
      expect(t.segments[i]!.start).toBeCloseTo(s.start + 0.1, 3);
      expect(t.segments[i]!.end).toBeCloseTo(s.end - 0.1, 3);
      // the token past the piece's end is clamped to it
      expect(t.tokens[i]!.end).toBeCloseTo(s.end, 3);
      expect(s.start).toBeGreaterThan(active[i]![0] / SR - 0.3);
      expect(s.end).toBeLessThan(active[i]![1] / SR + 0.35);
    });
    for (let i = 1; i < t.tokens.length; i++) expect(t.tokens[i]!.start).toBeGreaterThanOrEqual(t.tokens[i - 1]!.end);
    expect(t.durationSec).toBeCloseTo(samples.length / SR, 3);

    expect(progress.map((p) => p.segmentsDone)).toEqual([8, 16, 19, 19]);
    expect(progress.at(-1)).toMatchObject({ done: true, segmentsFound: 19, segmentsDone: 19 });
    for (const p of progress) expect(p.segmentsFound).toBeGreaterThanOrEqual(p.segmentsDone);
    expect(t.stats.segments).toBe(19);
  });

  it('rejects with the engine error and settles the batch in flight', async () => {
    const engine = new StubEngine(1);
    await expect(transcribeLong(engine, chunked(samples, [SR]), { batchSize: 4 })).rejects.toThrow('boom');
    expect(engine.inflight).toBe(0);
    expect(engine.batches.length).toBeLessThanOrEqual(3);
  });

  it('handles audio with no speech at all', async () => {
    const engine = new StubEngine();
    const t = await transcribeLong(engine, [new Float32Array(5 * SR)]);
    expect(engine.batches).toEqual([]);
    expect(t).toMatchObject({ text: '', segments: [], speech: [], durationSec: 5 });
  });
});
