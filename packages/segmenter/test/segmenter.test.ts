/**
 * The energy detector and the segmenter on synthetic signals with known
 * boundaries: tone/noise bursts between silences (with and without a noise
 * bed), clicks, a changing noise bed, the max-length cut, and chunking.
 */
import { describe, expect, it } from 'vitest';
import { HannPowerSpectrum } from '../src/detector.js';
import { EnergyDetector, SegmentStateMachine, SpeechSegmenter, type SegmenterOptions, type SpeechSegment } from '../src/index.js';
import { SR, build, chunked, type Part } from './synth.js';

async function run(x: Float32Array, opts: SegmenterOptions = {}, sizes = [SR]): Promise<SpeechSegment[]> {
  const out: SpeechSegment[] = [];
  for await (const s of new SpeechSegmenter(opts).segments(chunked(x, sizes))) out.push(s);
  return out;
}

const sec = (n: number): number => n / SR;
const PAD = 0.2;

/** byte-exact comparison (expect().toEqual is slow on long typed arrays) */
function same(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** each segment is the input's audio at its absolute position */
function expectAtPosition(segs: SpeechSegment[], x: Float32Array): void {
  for (const s of segs) expect(same(s.samples, x.subarray(s.startSample, s.startSample + s.samples.length))).toBe(true);
}

describe('energy segmenter: known boundaries', () => {
  const parts: Part[] = [
    { kind: 'silence', sec: 1.3 },
    { kind: 'speechlike', sec: 1.5, db: -20 },
    { kind: 'silence', sec: 2 },
    { kind: 'speechlike', sec: 0.8, db: -25 },
    { kind: 'silence', sec: 1.1 },
    { kind: 'speechlike', sec: 3.2, db: -30 },
    { kind: 'silence', sec: 1.7 },
    { kind: 'speechlike', sec: 0.4, db: -35 },
    { kind: 'silence', sec: 1.5 },
  ];

  for (const bedDb of [undefined, -55, -45]) {
    it(`finds each burst within a frame or two of its edges (noise bed: ${bedDb ?? 'none'} dBFS)`, async () => {
      const { samples, active } = build(parts, { bedDb, seed: 3 });
      const segs = await run(samples);
      expect(segs).toHaveLength(active.length);
      segs.forEach((s, i) => {
        const [a, b] = active[i]!;
        // the segment is the burst plus PAD either side, within a frame or two (the decision level is
        // 60 ms wide); the speech-like bursts fade in from −16 dB, so under a bed their start is found a little late
        expect(sec(s.startSample)).toBeGreaterThanOrEqual(sec(a) - PAD - 0.045);
        expect(sec(s.startSample)).toBeLessThanOrEqual(sec(a) - PAD + (bedDb === undefined ? 0.025 : 0.1));
        const end = s.startSample + s.samples.length;
        expect(sec(end)).toBeGreaterThanOrEqual(sec(b) + PAD - (bedDb === undefined ? 0.025 : 0.1));
        expect(sec(end)).toBeLessThanOrEqual(sec(b) + PAD + 0.045);
        expect(s.cut).toBe(false);
      });
      expectAtPosition(segs, samples);
    });
  }

  it('drops silence: the segments hold little more than the bursts and their padding', async () => {
    const { samples, active } = build(parts, { bedDb: -50 });
    const segs = await run(samples);
    const kept = segs.reduce((n, s) => n + s.samples.length, 0);
    const speech = active.reduce((n, [a, b]) => n + b - a, 0);
    expect(kept).toBeLessThanOrEqual(speech + active.length * (2 * PAD + 0.1) * SR);
    expect(kept).toBeLessThan(0.7 * samples.length);
  });

  it('ignores clicks shorter than minSpeechSec, keeps a short word', async () => {
    const { samples, active } = build([
      { kind: 'silence', sec: 1 },
      { kind: 'noise', sec: 0.05, db: -10 },
      { kind: 'silence', sec: 1.5 },
      { kind: 'speechlike', sec: 0.35, db: -25 },
      { kind: 'silence', sec: 1.5 },
    ]);
    const segs = await run(samples);
    expect(segs).toHaveLength(1);
    expect(sec(segs[0]!.startSample)).toBeCloseTo(sec(active[1]![0]) - PAD, 1);
  });

  it('keeps one segment across pauses shorter than minSilenceSec, splits at longer ones', async () => {
    const p = (gap: number): Part[] => [
      { kind: 'silence', sec: 1 },
      { kind: 'speechlike', sec: 1.2 },
      { kind: 'silence', sec: gap },
      { kind: 'speechlike', sec: 1.2 },
      { kind: 'silence', sec: 1 },
    ];
    expect(await run(build(p(0.3)).samples)).toHaveLength(1);
    expect(await run(build(p(0.9)).samples)).toHaveLength(2);
    expect(await run(build(p(0.3)).samples, { minSilenceSec: 0.2, padSec: 0.05 })).toHaveLength(2);
  });

  it('does not take steady sounds for speech: a tone, hum, a noise bed switching on between sentences', async () => {
    const parts: Part[] = [
      { kind: 'silence', sec: 1 },
      { kind: 'tone', sec: 2, hz: 440, db: -20 },
      { kind: 'silence', sec: 1 },
      { kind: 'speechlike', sec: 1.6, db: -24 },
      { kind: 'noise', sec: 2.5, db: -45 }, // a noise bed switching on right after the sentence
      { kind: 'silence', sec: 1 },
      { kind: 'speechlike', sec: 1.2, db: -30 },
      { kind: 'silence', sec: 1 },
    ];
    const { samples } = build(parts, { seed: 12 });
    const segs = await run(samples);
    expect(segs).toHaveLength(2);
    expect(sec(segs[0]!.startSample)).toBeCloseTo(4 - PAD, 1);
    // ends with the sentence (+ PAD), not seconds into the noise
    expect(sec(segs[0]!.startSample + segs[0]!.samples.length)).toBeLessThan(5.6 + PAD + 0.1);
    expect(sec(segs[1]!.startSample)).toBeCloseTo(9.1 - PAD, 1);
  });

  it('follows a noise bed that steps up 20 dB: bursts after the step are found with clean edges', async () => {
    const quiet = build([{ kind: 'silence', sec: 12 }], { bedDb: -62, seed: 5 }).samples;
    const loudParts: Part[] = [
      { kind: 'silence', sec: 10 },
      { kind: 'speechlike', sec: 2, db: -22 },
      { kind: 'silence', sec: 2 },
    ];
    const loud = build(loudParts, { bedDb: -42, seed: 6 });
    const x = new Float32Array(quiet.length + loud.samples.length);
    x.set(quiet);
    x.set(loud.samples, quiet.length);
    const segs = await run(x);
    // the step itself may look like speech until the floor has caught up (≤ floorWindowSec)
    const after = segs.filter((s) => s.startSample > quiet.length + 7 * SR);
    expect(after).toHaveLength(1);
    expect(sec(after[0]!.startSample)).toBeCloseTo(sec(quiet.length + loud.active[0]![0]) - PAD, 1);
    const early = segs.filter((s) => s.startSample <= quiet.length + 7 * SR);
    for (const s of early) expect(sec(s.startSample + s.samples.length)).toBeLessThan(sec(quiet.length) + 6);
  });
});

describe('energy segmenter: the max-length cut', () => {
  /** 70 s of continuous speech-like sound: a breath (−40 dB noise, 0.2 s) every 3 s, true silences (0.2 s) at 27.5 s and 55 s */
  function longSpeech(): Float32Array {
    const x = build([{ kind: 'silence', sec: 1 }, { kind: 'speechlike', sec: 70, db: -20 }, { kind: 'silence', sec: 1 }], { seed: 9 }).samples;
    const r = build([{ kind: 'noise', sec: 0.2, db: -40 }], { seed: 10 }).samples;
    for (let t = 3; t < 70; t += 3) x.set(r, Math.round(t * SR));
    for (const t of [27.5, 55]) x.fill(0, Math.round(t * SR), Math.round((t + 0.2) * SR));
    return x;
  }

  it('cuts at the quietest point of the last seconds, never exceeding maxSegmentSec, segments contiguous', async () => {
    const x = longSpeech();
    const segs = await run(x, { maxSegmentSec: 30, cutSearchSec: 5 });
    expect(segs.map((s) => s.cut)).toEqual([true, true, false]);
    for (const s of segs) expect(s.samples.length).toBeLessThanOrEqual(30 * SR);
    expect(sec(segs[0]!.startSample)).toBeCloseTo(1 - PAD, 1);
    const cut1 = sec(segs[1]!.startSample);
    const cut2 = sec(segs[2]!.startSample);
    expect(cut1).toBeGreaterThan(27.5);
    expect(cut1).toBeLessThan(27.7);
    expect(cut2).toBeGreaterThan(55);
    expect(cut2).toBeLessThan(55.2);
    expect(segs[0]!.startSample + segs[0]!.samples.length).toBe(segs[1]!.startSample);
    expect(segs[1]!.startSample + segs[1]!.samples.length).toBe(segs[2]!.startSample);
    expectAtPosition(segs, x);
  });

  it('honours a small maxSegmentSec', async () => {
    const x = longSpeech();
    const segs = await run(x, { maxSegmentSec: 4, cutSearchSec: 1.5 });
    expect(segs.length).toBeGreaterThanOrEqual(18);
    for (const s of segs) expect(s.samples.length).toBeLessThanOrEqual(4 * SR);
    for (let i = 1; i < segs.length; i++) expect(segs[i]!.startSample).toBeGreaterThanOrEqual(segs[i - 1]!.startSample + segs[i - 1]!.samples.length);
    // together they still cover all of the speech
    const covered = segs.reduce((n, s) => n + s.samples.length, 0);
    expect(covered).toBeGreaterThanOrEqual(70 * SR);
  });
});

describe('energy segmenter: chunking does not matter', () => {
  const { samples } = build(
    [
      { kind: 'silence', sec: 0.7 },
      { kind: 'speechlike', sec: 9.3, db: -24 },
      { kind: 'silence', sec: 0.4 },
      { kind: 'speechlike', sec: 6, db: -28 },
      { kind: 'silence', sec: 1.9 },
      { kind: 'speechlike', sec: 0.6, db: -30 },
      { kind: 'silence', sec: 0.33 },
    ],
    { bedDb: -52, seed: 11 },
  );
  const opts = { maxSegmentSec: 8, cutSearchSec: 3 };

  it('gives identical segments for any chunk sizes', async () => {
    const ref = await run(samples, opts, [samples.length]);
    expect(ref.length).toBeGreaterThanOrEqual(4);
    expect(ref.some((s) => s.cut)).toBe(true);
    for (const sizes of [[SR], [320], [37], [4097, 1, 16001, 319], [Math.round(2.5 * SR), 7], [30 * SR]]) {
      const segs = await run(samples, opts, sizes);
      expect(segs.map((s) => [s.startSample, s.samples.length, s.cut])).toEqual(ref.map((s) => [s.startSample, s.samples.length, s.cut]));
      segs.forEach((s, i) => expect(same(s.samples, ref[i]!.samples)).toBe(true));
    }
  });

  it('reads an async iterable the same way', async () => {
    async function* gen(): AsyncGenerator<Float32Array> {
      yield* chunked(samples, [1234, 9999]);
    }
    const a: SpeechSegment[] = [];
    for await (const s of new SpeechSegmenter(opts).segments(gen())) a.push(s);
    const b = await run(samples, opts);
    expect(a.map((s) => s.startSample)).toEqual(b.map((s) => s.startSample));
  });
});

describe('SegmentStateMachine', () => {
  const F = 320;
  const frame = new Float32Array(F).fill(0.1);
  function feed(scores: number[], opts: SegmenterOptions = {}): { start: number; end: number }[] {
    const m = new SegmentStateMachine(F, { on: 10, off: 6 }, { padSec: 0, minSpeechSec: 0.04, minSilenceSec: 0.1, ...opts });
    const out: SpeechSegment[] = [];
    for (const s of scores) out.push(...m.pushFrame(frame, F, s));
    out.push(...m.finish());
    return out.map((s) => ({ start: s.startSample / F, end: (s.startSample + s.samples.length) / F }));
  }

  it('starts at `on`, continues above `off`, ends after minSilence below `off`', () => {
    // frames:       0  1  2   3   4  5  6  7  8  9 10 11 12  13 14
    expect(feed([0, 8, 12, 12, 7, 7, 2, 2, 2, 2, 2, 8, 8, 11, 11])).toEqual([
      { start: 2, end: 6 },
      { start: 13, end: 15 },
    ]);
  });

  it('never starts on scores between the thresholds', () => {
    expect(feed(Array.from({ length: 50 }, () => 9))).toEqual([]);
  });

  it('drops speech shorter than minSpeechSec', () => {
    expect(feed([0, 12, 0, 0, 0, 0, 0, 0, 12, 12, 12, 0, 0, 0, 0, 0, 0], { minSpeechSec: 0.05 })).toEqual([{ start: 8, end: 11 }]);
  });

  it('pads and clamps padding to the previous segment and the stream', () => {
    const segs = feed([12, 12, 0, 0, 0, 0, 0, 12, 12, 0], { padSec: 0.06, minSilenceSec: 0.1 });
    // pad = 3 frames; the second segment's pre-pad stops at the first one's end
    expect(segs).toEqual([
      { start: 0, end: 5 },
      { start: 5, end: 10 },
    ]);
  });

  it('rejects frames after a short one (only the last may be short)', () => {
    const m = new SegmentStateMachine(F, { on: 10, off: 6 });
    m.pushFrame(frame, 100, 0);
    expect(() => m.pushFrame(frame, F, 0)).toThrow(/last frame/);
  });
});

describe('EnergyDetector', () => {
  it('tracks the noise floor, scores one frame per frame after its lookahead, gates digital near-silence', () => {
    const d = new EnergyDetector({ bandsHz: [] }); // broadband: the floor is in dBFS
    const { samples } = build([{ kind: 'silence', sec: 3 }], { bedDb: -45, seed: 2 });
    const scores: number[] = [];
    let undef = 0;
    for (let i = 0; i + 320 <= samples.length; i += 320) {
      const s = d.push(samples.subarray(i, i + 320), 320);
      if (s === undefined) undef++;
      else scores.push(s);
    }
    expect(undef).toBe(d.lookaheadFrames);
    scores.push(...d.flush());
    expect(scores).toHaveLength(samples.length / 320);
    expect(d.floorDb()).toBeGreaterThan(-48);
    expect(d.floorDb()).toBeLessThan(-44);
    for (const s of scores.slice(10)) expect(Math.abs(s)).toBeLessThan(3);
    const quiet = new EnergyDetector();
    quiet.push(new Float32Array(320).fill(1e-4), 320); // −80 dBFS DC: high-passed away and under the gate
    expect(quiet.flush()).toEqual([-Infinity]);
  });
});

describe('HannPowerSpectrum (the band spectrum over asr RealFft)', () => {
  it('matches a direct DFT of the Hann-windowed, zero-padded frame', () => {
    const n = 512;
    const valid = 320;
    const x = new Float32Array(n);
    for (let i = 0; i < valid; i++) x[i] = Math.sin(i * 0.3) + 0.5 * Math.cos(i * 1.7) + (i % 7) / 10;
    const p = new HannPowerSpectrum(n).power(x, valid);
    for (let k = 0; k <= n / 2; k++) {
      let re = 0;
      let im = 0;
      for (let i = 0; i < valid; i++) {
        const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (valid - 1));
        re += x[i]! * w * Math.cos((2 * Math.PI * k * i) / n);
        im -= x[i]! * w * Math.sin((2 * Math.PI * k * i) / n);
      }
      expect(p[k]!).toBeCloseTo(re * re + im * im, 6);
    }
  });
});
