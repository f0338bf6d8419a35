import { describe, expect, it } from 'vitest';
import { beamSearchPath, DEFAULT_BEAM } from '../src/beam.js';
import { decodeCtc, greedyPath, type Vocabulary } from '../src/ctc.js';
import { ArpaLm } from '../src/lm/arpa.js';
import { rng as seeded } from '@voxfleet/testkit';
import { TINY_ARPA } from './lm.test.js';

const chars: Vocabulary = { tokens: ['<blank>', ' ', "'", ...'abcdefghijklmnopqrstuvwxyz'], blankId: 0, unit: 'char' };
const text = (v: Vocabulary, path: { id: number }[]): string => path.map((p) => v.tokens[p.id]).join('');

/** Probability of every label sequence, by summing over all CTC alignments (tiny cases only). */
function exactBest(logp: number[][], blank: number): { labels: string; p: number } {
  const T = logp.length;
  const V = logp[0]!.length;
  const totals = new Map<string, number>();
  const walk = (t: number, prev: number, labels: number[], lp: number): void => {
    if (t === T) {
      const k = labels.join(',');
      totals.set(k, (totals.get(k) ?? 0) + Math.exp(lp));
      return;
    }
    for (let v = 0; v < V; v++) {
      const next = v === blank || v === prev ? labels : [...labels, v];
      walk(t + 1, v, next, lp + logp[t]![v]!);
    }
  };
  walk(0, -1, [], 0);
  let best = { labels: '', p: -1 };
  for (const [k, p] of totals) if (p > best.p) best = { labels: k, p };
  return best;
}

function randomLogits(rng: () => number, T: number, V: number, sharp: number): number[][] {
  return Array.from({ length: T }, () => {
    const raw = Array.from({ length: V }, () => rng() * sharp);
    const m = Math.max(...raw);
    const lse = m + Math.log(raw.reduce((a, x) => a + Math.exp(x - m), 0));
    return raw.map((x) => x - lse);
  });
}

describe('CTC prefix beam search', () => {
  it('finds the most probable label sequence (all alignments summed) where greedy may not', () => {
    const rng = seeded(7);
    const v: Vocabulary = { tokens: ['<b>', 'x', 'y'], blankId: 0, unit: 'char' };
    let greedyMisses = 0;
    for (let trial = 0; trial < 60; trial++) {
      const lp = randomLogits(rng, 6, 3, 3);
      const flat = Float32Array.from(lp.flat());
      const exact = exactBest(lp, 0);
      const beam = beamSearchPath(flat, 0, 6, v, { ...DEFAULT_BEAM, beamWidth: 64, tokenMinLogp: -Infinity });
      expect(beam.map((p) => p.id).join(',')).toBe(exact.labels);
      const greedy = greedyPath(flat, 0, 6, 3, 0);
      if (greedy.map((p) => p.id).join(',') !== exact.labels) greedyMisses++;
    }
    expect(greedyMisses).toBeGreaterThan(0); // the cases are not all trivial
  });

  it('gives the greedy path, timestamps included, when every frame is certain', () => {
    const seq = 'hh_e_ll_lo  w'.split('').map((c) => (c === '_' ? 0 : chars.tokens.indexOf(c)));
    const V = chars.tokens.length;
    const flat = new Float32Array(seq.length * V).fill(-8);
    seq.forEach((k, t) => (flat[t * V + k] = 8));
    const g = greedyPath(flat, 0, seq.length, V, 0);
    const b = beamSearchPath(flat, 0, seq.length, chars, DEFAULT_BEAM);
    expect(text(chars, b)).toBe('hello w');
    expect(b).toEqual(g);
  });

  it('lets the language model pick the vocabulary word when the sound is ambiguous', () => {
    const lm = ArpaLm.parse(TINY_ARPA);
    const V = chars.tokens.length;
    const id = (c: string): number => chars.tokens.indexOf(c);
    // "the c?t": the middle letter sounds a bit more like "o" than "a"
    const frames: Record<string, number>[] = [
      { t: 0 }, { h: 0 }, { e: 0 }, { ' ': 0 }, { c: 0 }, { o: -0.6, a: -0.9 }, { t: 0 },
    ];
    const flat = new Float32Array(frames.length * V).fill(-12);
    frames.forEach((f, t) => {
      for (const [c, lp] of Object.entries(f)) flat[t * V + id(c)] = lp;
    });
    const plain = beamSearchPath(flat, 0, frames.length, chars, DEFAULT_BEAM);
    expect(text(chars, plain)).toBe('the cot');
    const withLm = beamSearchPath(flat, 0, frames.length, chars, { ...DEFAULT_BEAM, lm });
    expect(text(chars, withLm)).toBe('the cat');
    expect(withLm[5]).toMatchObject({ id: id('a'), first: 5, last: 5 });
  });

  it('reads one utterance out of a batched tensor at an offset', () => {
    const V = chars.tokens.length;
    const flat = new Float32Array(4 * V).fill(-9);
    [0, 0, chars.tokens.indexOf('o'), chars.tokens.indexOf('k')].forEach((k, t) => (flat[t * V + k] = 9));
    expect(text(chars, beamSearchPath(flat, 2 * V, 2, chars, DEFAULT_BEAM))).toBe('ok');
  });

  it('handles SentencePiece word markers and control tokens like greedy decoding does', () => {
    const sp: Vocabulary = { tokens: ['<blk>', '▁he', 'llo', '▁world', '<|en|>'], blankId: 0, unit: 'sentencepiece' };
    const seq = [4, 0, 1, 1, 2, 0, 3, 3, 0];
    const flat = new Float32Array(seq.length * 5).fill(-9);
    seq.forEach((k, t) => (flat[t * 5 + k] = 9));
    const timing = { frameShiftSec: 0.06 };
    const g = decodeCtc(greedyPath(flat, 0, seq.length, 5, 0), sp, timing, 1);
    const b = decodeCtc(beamSearchPath(flat, 0, seq.length, sp, DEFAULT_BEAM), sp, timing, 1);
    expect(b.text).toBe('hello world');
    expect(b).toEqual(g);
  });
});
