import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ArpaLm, LmFormatError } from '../src/lm/arpa.js';

// A hand-made bigram model: log10 probabilities, backoff weights.
export const TINY_ARPA = `
\\data\\
ngram 1=6
ngram 2=3

\\1-grams:
-99\t<s>\t-0.3
-1.0\t</s>
-0.5\tthe\t-0.2
-1.5\tcat
-1.2\tsat\t-0.1
-2.0\t<unk>

\\2-grams:
-0.1\t<s> the
-0.4\tthe cat
-0.3\tcat sat

\\end\\
`;

const L = Math.log(10);

describe('ArpaLm', () => {
  const lm = ArpaLm.parse(TINY_ARPA);

  it('scores seen bigrams directly and unseen ones through the backoff weight', () => {
    expect(lm.order).toBe(2);
    expect(lm.score(['<s>'], 'the').logp).toBeCloseTo(-0.1 * L, 9);
    expect(lm.score(['the'], 'cat').logp).toBeCloseTo(-0.4 * L, 9);
    // "the sat" is not a bigram: backoff(the) + P(sat)
    expect(lm.score(['the'], 'sat').logp).toBeCloseTo((-0.2 - 1.2) * L, 9);
    // a context with no backoff weight backs off at no cost
    expect(lm.score(['cat'], 'the').logp).toBeCloseTo(-0.5 * L, 9);
    // only the last word of a long history counts for a bigram model
    expect(lm.score(['<s>', 'the', 'cat'], 'sat').logp).toBeCloseTo(-0.3 * L, 9);
  });

  it('scores unknown words as <unk> and says so', () => {
    const s = lm.score(['the'], 'dog');
    expect(s.oov).toBe(true);
    expect(s.logp).toBeCloseTo((-0.2 - 2.0) * L, 9);
    expect(lm.score(['the'], 'cat').oov).toBe(false);
  });

  it('knows which partial words can still become a vocabulary word', () => {
    expect(lm.isPrefix('ca')).toBe(true);
    expect(lm.isPrefix('cat')).toBe(true);
    expect(lm.isPrefix('cx')).toBe(false);
  });

  it('loads plain and gzipped files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vf-lm-'));
    await writeFile(join(dir, 'a.arpa'), TINY_ARPA);
    await writeFile(join(dir, 'a.arpa.gz'), gzipSync(TINY_ARPA));
    for (const f of ['a.arpa', 'a.arpa.gz']) {
      const m = await ArpaLm.load(join(dir, f));
      expect(m.score(['the'], 'cat').logp).toBeCloseTo(-0.4 * L, 9);
    }
  });

  it('rejects files that are not ARPA or disagree with their header', () => {
    expect(() => ArpaLm.parse('hello')).toThrow(LmFormatError);
    expect(() => ArpaLm.parse(TINY_ARPA.replace('ngram 2=3', 'ngram 2=4'))).toThrow(/header says 4 2-grams/);
    expect(() => ArpaLm.parse(TINY_ARPA.replace('-0.4\tthe cat', 'x\tthe cat'))).toThrow(/bad number/);
  });
});
