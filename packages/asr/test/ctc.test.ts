import { describe, expect, it } from 'vitest';
import { decodeCtc, greedyPath, stitch, type Vocabulary } from '../src/ctc.js';

const vocab: Vocabulary = { tokens: ['<blank>', ' ', "'", ...'abcdefghijklmnopqrstuvwxyz'], blankId: 0, unit: 'char' };
const id = (c: string): number => vocab.tokens.indexOf(c);

/** one-hot logits for a sequence of token ids */
function logits(ids: number[], v = vocab.tokens.length): Float32Array {
  const out = new Float32Array(ids.length * v).fill(-5);
  ids.forEach((k, t) => (out[t * v + k] = 5));
  return out;
}

describe('greedy CTC', () => {
  it('merges repeats, drops blanks, keeps repeats split by a blank', () => {
    const seq = [0, id('h'), id('h'), 0, id('i'), 0, id('i'), id('i'), 0];
    const path = greedyPath(logits(seq), 0, seq.length, vocab.tokens.length, 0);
    expect(path.map((p) => vocab.tokens[p.id]).join('')).toBe('hii');
    expect(path[0]).toEqual({ id: id('h'), first: 1, last: 2 });
    expect(path[2]).toEqual({ id: id('i'), first: 6, last: 7 });
  });

  it('reads a row of a batched tensor at an offset', () => {
    const a = [id('a'), 0];
    const b = [id('b'), id('c')];
    const batch = new Float32Array([...logits(a), ...logits(b)]);
    const v = vocab.tokens.length;
    const p = greedyPath(batch, 2 * v, 2, v, 0);
    expect(p.map((x) => vocab.tokens[x.id]).join('')).toBe('bc');
  });

  it('gives words, absolute timestamps and pause-separated segments', () => {
    const frames: number[] = [];
    const put = (s: string): void => {
      for (const c of s) frames.push(c === '_' ? 0 : c === ' ' ? id(' ') : id(c));
    };
    put('hi_ yo'); // frames 0..5
    for (let i = 0; i < 40; i++) frames.push(0); // 40 × 30 ms = 1.2 s pause
    put('ok');
    const path = greedyPath(logits(frames), 0, frames.length, vocab.tokens.length, 0);
    const t = decodeCtc(path, vocab, { frameShiftSec: 0.03, offsetSec: 10, segmentGapSec: 0.6 }, 2);
    expect(t.text).toBe('hi yo ok');
    expect(t.segments).toHaveLength(2);
    expect(t.segments[0]).toEqual({ start: 10, end: 10.18, text: 'hi yo' });
    expect(t.segments[1]!.start).toBeCloseTo(10 + 46 * 0.03, 6);
    expect(t.tokens[0]).toMatchObject({ text: 'h', start: 10, end: 10.03 });
    expect(t.durationSec).toBe(2);
  });

  it('handles SentencePiece word markers', () => {
    const sp: Vocabulary = { tokens: ['<blk>', '▁he', 'llo', '▁world', '<|en|>'], blankId: 0, unit: 'sentencepiece' };
    const t = decodeCtc(
      [
        { id: 4, first: 0, last: 0 },
        { id: 1, first: 1, last: 1 },
        { id: 2, first: 2, last: 2 },
        { id: 3, first: 3, last: 4 },
      ],
      sp,
      { frameShiftSec: 0.06 },
      1,
    );
    expect(t.text).toBe('hello world');
    expect(t.tokens.map((x) => x.text)).toEqual(['▁he', 'llo', '▁world']);
  });

  it('returns an empty transcript for silence', () => {
    const t = decodeCtc([], vocab, { frameShiftSec: 0.03 }, 1.5);
    expect(t).toEqual({ text: '', segments: [], tokens: [], durationSec: 1.5 });
  });
});

describe('stitch', () => {
  it('stitches transcripts with absolute times', () => {
    const t = stitch(
      [
        { offsetSec: 0, transcript: { text: 'a', segments: [{ start: 0.1, end: 0.5, text: 'a' }], tokens: [], durationSec: 20 } },
        { offsetSec: 20, transcript: { text: 'b', segments: [{ start: 0.2, end: 0.4, text: 'b' }], tokens: [], durationSec: 5 } },
      ],
      25,
    );
    expect(t.text).toBe('a b');
    expect(t.segments[1]).toEqual({ start: 20.2, end: 20.4, text: 'b' });
    expect(t.durationSec).toBe(25);
  });

  it("clamps each piece's segments and tokens to [0, its length], so times stay monotonic", () => {
    const piece = (dur: number) => ({
      text: 'x',
      segments: [{ start: -0.05, end: dur + 0.3, text: 'x' }],
      tokens: [{ id: 1, text: 'x', start: dur - 0.1, end: dur + 0.2 }],
      durationSec: Math.round(dur * 1000) / 1000,
    });
    // the exact length wins over the rounded durationSec
    const t = stitch(
      [
        { offsetSec: 0, durSec: 1.23456, transcript: piece(1.23456) },
        { offsetSec: 1.23456, durSec: 2, transcript: piece(2) },
      ],
      3.23456,
    );
    expect(t.segments).toEqual([
      { start: 0, end: 1.235, text: 'x' },
      { start: 1.235, end: 3.235, text: 'x' },
    ]);
    expect(t.tokens.map((k) => [k.start, k.end])).toEqual([
      [1.135, 1.235],
      [3.135, 3.235],
    ]);
    for (let i = 1; i < t.tokens.length; i++) expect(t.tokens[i]!.start).toBeGreaterThanOrEqual(t.tokens[i - 1]!.end);
  });
});
