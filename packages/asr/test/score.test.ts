import { describe, expect, it } from 'vitest';
import { charErrors, editDistance, normalizeForScoring, rate, wordErrors } from '../src/score.js';

describe('scoring', () => {
  it('normalises case, punctuation and apostrophes', () => {
    expect(normalizeForScoring("  The Boy's  gold, 'fifty' pieces! ")).toBe("the boy's gold fifty pieces");
    expect(normalizeForScoring('开放时间早上九点至下午五点。')).toBe('开放时间早上九点至下午五点');
  });

  it('computes edit distances', () => {
    expect(editDistance([...'kitten'], [...'sitting'])).toBe(3);
    expect(editDistance([], ['a'])).toBe(1);
  });

  it('scores WER and CER', () => {
    expect(rate(wordErrors('the cat sat', 'The cat sat.'))).toBe(0);
    expect(wordErrors('the cat', 'the cat sat')).toEqual({ errors: 1, total: 3 });
    expect(charErrors('helo world', 'hello world')).toEqual({ errors: 1, total: 11 });
    // no spaces in the reference (zh): hypothesis spaces are ignored
    expect(charErrors('开放 时间', '开放时间')).toEqual({ errors: 0, total: 4 });
  });
});
