/**
 * transcribeLong's plumbing with a stub submit (no model, in process): a
 * short clip is one piece without VAD, at most maxInflight pieces in flight
 * (decoding pauses meanwhile), absolute and clamped timestamps, progress,
 * onSourceEnd exactly once, errors, abort; and batchingSubmit.
 * The segmenter thread is exercised in thread.test.ts, the real model and
 * ffmpeg in e2e.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { Transcript } from '@voxfleet/asr';
import { batchingSubmit, transcribeLong, type LongProgress, type SampleSource } from '../src/index.js';
import { SR, build, chunked, type Part } from './synth.js';

interface Out {
  transcript: Transcript;
  index: number;
}

/** Each piece gets one segment [0.1, dur − 0.1] named after its order, plus a token running past the end. */
class StubSubmit {
  calls = 0;
  inflight = 0;
  maxInflight = 0;
  lengths: number[] = [];
  signals: AbortSignal[] = [];
  /** resolves pieces only when released (manual mode) */
  private gates: (() => void)[] = [];
  constructor(private readonly opts: { failOn?: number; manual?: boolean; delayMs?: number } = {}) {}

  readonly submit = async (samples: Float32Array, signal: AbortSignal): Promise<Out> => {
    const index = this.calls++;
    this.lengths.push(samples.length);
    this.signals.push(signal);
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    try {
      if (this.opts.manual) await new Promise<void>((r) => this.gates.push(r));
      else await new Promise((r) => setTimeout(r, this.opts.delayMs ?? 2));
      if (index === this.opts.failOn) throw new Error('boom');
      const dur = samples.length / SR;
      const name = `s${index}`;
      return {
        index,
        transcript: { text: name, segments: [{ start: 0.1, end: dur - 0.1, text: name }], tokens: [{ id: 1, text: name, start: dur - 0.2, end: dur + 0.05 }], durationSec: dur },
      };
    } finally {
      this.inflight--;
    }
  };

  get waiting(): number {
    return this.gates.length;
  }

  release(n = Infinity): void {
    for (const g of this.gates.splice(0, n)) g();
  }
}

const parts: Part[] = [{ kind: 'silence', sec: 0.5 }];
for (let i = 0; i < 19; i++) parts.push({ kind: 'speechlike', sec: 0.8 + (i % 4) * 0.6, db: -25 }, { kind: 'silence', sec: 1 + (i % 3) * 0.4 });
const { samples, active } = build(parts, { bedDb: -55, seed: 4 });

/** chunks of 1 s, counting how many samples were pulled */
function counting(x: Float32Array, pulled: { n: number }, closed?: { v: boolean }): SampleSource {
  return (function* () {
    try {
      for (const c of chunked(x, [SR])) {
        pulled.n += c.length;
        yield c;
      }
    } finally {
      if (closed) closed.v = true;
    }
  })();
}

const until = async (cond: () => boolean): Promise<void> => {
  while (!cond()) await new Promise((r) => setTimeout(r, 1));
};

describe('transcribeLong (stub submit)', () => {
  it('cuts long audio at pauses, stitches with absolute clamped times, counts progress and ends the source once', async () => {
    const stub = new StubSubmit();
    const progress: LongProgress[] = [];
    let endedAfter = -1;
    let ends = 0;
    const t = await transcribeLong(chunked(samples, [SR]), stub.submit, {
      onProgress: (p) => progress.push({ ...p }),
      onSourceEnd: () => {
        ends++;
        endedAfter = stub.calls;
      },
    });

    expect(samples.length / SR).toBeGreaterThan(30);
    expect(t.speech).toHaveLength(active.length);
    expect(stub.calls).toBe(active.length);
    expect(ends).toBe(1);
    expect(endedAfter).toBe(active.length);
    expect(t.text).toBe(active.map((_, i) => `s${i}`).join(' '));
    expect(t.pieces.map((p) => p.index)).toEqual(active.map((_, i) => i));
    t.speech.forEach((s, i) => {
      expect(stub.lengths[i]! / SR).toBeCloseTo(s.end - s.start, 3);
      expect(t.segments[i]!.start).toBeCloseTo(s.start + 0.1, 3);
      expect(t.segments[i]!.end).toBeCloseTo(s.end - 0.1, 3);
      // the token past the piece's end is clamped to it
      expect(t.tokens[i]!.end).toBeCloseTo(s.end, 3);
      expect(s.start).toBeGreaterThan(active[i]![0] / SR - 0.3);
      expect(s.end).toBeLessThan(active[i]![1] / SR + 0.35);
    });
    for (let i = 1; i < t.tokens.length; i++) expect(t.tokens[i]!.start).toBeGreaterThanOrEqual(t.tokens[i - 1]!.end);
    expect(t.durationSec).toBeCloseTo(samples.length / SR, 3);
    expect(t.waitMs).toBeGreaterThanOrEqual(0);

    expect(progress.map((p) => p.segmentsDone)).toEqual([...active.map((_, i) => i + 1), active.length]);
    expect(progress.at(-1)).toMatchObject({ done: true, segmentsFound: 19, segmentsDone: 19 });
    for (const p of progress) {
      expect(p.segmentsFound).toBeGreaterThanOrEqual(p.segmentsDone);
      expect(p.audioSecDecoded).toBeGreaterThanOrEqual(p.audioSecDone);
    }
    expect(progress.at(-1)!.audioSecDecoded).toBeCloseTo(samples.length / SR, 3);
    expect(t.stats.segments).toBe(19);
  });

  it('keeps at most maxInflight pieces in flight and stops pulling audio meanwhile', async () => {
    const stub = new StubSubmit({ manual: true });
    const pulled = { n: 0 };
    const run = transcribeLong(counting(samples, pulled), stub.submit, { maxInflight: 3 });
    await until(() => stub.waiting === 3);
    const at = pulled.n;
    await new Promise((r) => setTimeout(r, 30));
    expect(pulled.n).toBe(at); // decoding paused
    expect(stub.calls).toBe(3);
    while (stub.calls < active.length || stub.waiting > 0) {
      stub.release(1);
      await new Promise((r) => setTimeout(r, 1));
      expect(stub.inflight).toBeLessThanOrEqual(3);
    }
    const t = await run;
    expect(stub.maxInflight).toBe(3);
    expect(t.speech).toHaveLength(active.length);
  });

  it('transcribes a clip of at most maxSegmentSec as ONE piece, without VAD, ending the source before submitting it', async () => {
    for (const sec of [5, 30]) {
      // silence and a click: the VAD would drop both; a short clip goes to the engine whole
      const x = new Float32Array(sec * SR);
      x.fill(0.5, SR, SR + 100);
      const stub = new StubSubmit();
      let endedAfter = -1;
      let ends = 0;
      const t = await transcribeLong(chunked(x, [SR]), stub.submit, {
        onSourceEnd: () => {
          ends++;
          endedAfter = stub.calls;
        },
      });
      expect(stub.lengths).toEqual([sec * SR]);
      expect(ends).toBe(1);
      expect(endedAfter).toBe(0);
      expect(t).toMatchObject({ text: 's0', durationSec: sec, speech: [{ start: 0, end: sec, cut: false }] });
      expect(t.stats).toMatchObject({ totalSamples: sec * SR, speechSamples: sec * SR, segments: 1, cuts: 0 });
      expect(t.segments).toEqual([{ start: 0.1, end: sec - 0.1, text: 's0' }]);
      expect(t.tokens[0]!.end).toBe(sec);
    }
    // one chunk more: segmented (here into nothing but speech: pieces of ≤ 30 s)
    const long = build([{ kind: 'speechlike', sec: 31, db: -25 }], { bedDb: -55, seed: 2 }).samples;
    const stub = new StubSubmit();
    const t = await transcribeLong(chunked(long, [SR]), stub.submit);
    expect(stub.calls).toBeGreaterThanOrEqual(2);
    for (const n of stub.lengths) expect(n).toBeLessThanOrEqual(30 * SR);
    expect(t.speech.some((s) => s.cut)).toBe(true);
  });

  it('handles long audio with no speech at all', async () => {
    const stub = new StubSubmit();
    const t = await transcribeLong([new Float32Array(40 * SR)], stub.submit);
    expect(stub.calls).toBe(0);
    expect(t).toMatchObject({ text: '', segments: [], speech: [], pieces: [], durationSec: 40 });
  });

  it('rejects with the submit error, aborts the other pieces, settles them first and ends the source once', async () => {
    const stub = new StubSubmit({ failOn: 1, delayMs: 5 });
    const closed = { v: false };
    let ends = 0;
    const progress: LongProgress[] = [];
    await expect(
      transcribeLong(counting(samples, { n: 0 }, closed), stub.submit, { maxInflight: 4, onSourceEnd: () => ends++, onProgress: (p) => progress.push(p) }),
    ).rejects.toThrow('boom');
    expect(stub.inflight).toBe(0);
    expect(stub.calls).toBeLessThanOrEqual(5);
    expect(stub.signals.every((s) => s.aborted)).toBe(true);
    expect(ends).toBe(1);
    expect(closed.v).toBe(true);
    expect(progress.some((p) => p.done)).toBe(false);
  });

  it('rejects with a decode error from the source', async () => {
    const stub = new StubSubmit();
    let ends = 0;
    async function* failing(): AsyncGenerator<Float32Array> {
      yield* chunked(samples.subarray(0, 40 * SR), [SR]);
      throw new Error('decoder broke');
    }
    await expect(transcribeLong(failing(), stub.submit, { onSourceEnd: () => ends++ })).rejects.toThrow('decoder broke');
    expect(stub.inflight).toBe(0);
    expect(ends).toBe(1);
  });

  it('stops on abort: rejects with the reason, aborts pending pieces, closes the source; nothing after', async () => {
    const stub = new StubSubmit({ manual: true });
    const closed = { v: false };
    const ac = new AbortController();
    let ends = 0;
    const run = transcribeLong(counting(samples, { n: 0 }, closed), stub.submit, { signal: ac.signal, onSourceEnd: () => ends++ });
    await until(() => stub.waiting >= 2);
    const calls = stub.calls;
    ac.abort(new Error('cancelled by test'));
    expect(stub.signals.every((s) => s.aborted)).toBe(true);
    stub.release(); // the stub ignores the signal: the call waits for its pieces to settle
    await expect(run).rejects.toThrow('cancelled by test');
    expect(stub.inflight).toBe(0);
    expect(ends).toBe(1);
    expect(closed.v).toBe(true);
    expect(stub.calls).toBeLessThanOrEqual(calls + 1);

    // already aborted: nothing is submitted
    const stub2 = new StubSubmit();
    let ends2 = 0;
    await expect(transcribeLong(chunked(samples, [SR]), stub2.submit, { signal: ac.signal, onSourceEnd: () => ends2++ })).rejects.toThrow('cancelled by test');
    expect(stub2.calls).toBe(0);
    expect(ends2).toBe(1);
  });

  it('aborts while waiting for audio from a source that never yields', async () => {
    const ac = new AbortController();
    const never: AsyncIterable<Float32Array> = { [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => undefined) }) };
    const run = transcribeLong(never, new StubSubmit().submit, { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('gone')), 10);
    await expect(run).rejects.toThrow('gone');
  });
});

describe('batchingSubmit', () => {
  const transcript = (a: Float32Array): Transcript => ({ text: String(a.length), segments: [], tokens: [], durationSec: a.length / SR });

  it('collects concurrent pieces into engine calls of at most maxBatch, one call at a time', async () => {
    const calls: number[] = [];
    let running = 0;
    let maxRunning = 0;
    const engine = {
      async transcribe(audio: Float32Array[]) {
        calls.push(audio.length);
        maxRunning = Math.max(maxRunning, ++running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        return { transcripts: audio.map(transcript) };
      },
    };
    const sizes: number[] = [];
    const submit = batchingSubmit(engine, { maxBatch: 4, onBatch: (_r, info) => sizes.push(info.size) });
    const signal = new AbortController().signal;
    const out = await Promise.all(Array.from({ length: 10 }, (_, i) => submit(new Float32Array(100 + i), signal)));
    expect(calls).toEqual([4, 4, 2]);
    expect(sizes).toEqual(calls);
    expect(maxRunning).toBe(1);
    expect(out.map((o) => o.transcript.text)).toEqual(Array.from({ length: 10 }, (_, i) => String(100 + i)));
    expect(out.map((o) => o.batchSize)).toEqual([4, 4, 4, 4, 4, 4, 4, 4, 2, 2]);
    for (const o of out) expect(o.runMs).toBeGreaterThan(0);

    // over transcribeLong: the pieces of one file share calls
    calls.length = 0;
    const t = await transcribeLong(chunked(samples, [SR]), submit);
    expect(calls.reduce((a, b) => a + b, 0)).toBe(active.length);
    expect(calls.length).toBeLessThan(active.length);
    expect(t.speech).toHaveLength(active.length);
  });

  it('rejects an aborted piece at once and passes engine errors on', async () => {
    const engine = {
      async transcribe(audio: Float32Array[]) {
        await new Promise((r) => setTimeout(r, 5));
        if (audio.some((a) => a.length === 13)) throw new Error('engine failed');
        return { transcripts: audio.map(transcript) };
      },
    };
    const submit = batchingSubmit(engine, { maxBatch: 8 });
    const ac = new AbortController();
    const p = submit(new Float32Array(10), ac.signal);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    await expect(submit(new Float32Array(13), new AbortController().signal)).rejects.toThrow('engine failed');
    await expect(submit(new Float32Array(12), new AbortController().signal)).resolves.toMatchObject({ batchSize: 1 });
  });
});
