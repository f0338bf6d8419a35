/**
 * Word and character error rates. Text is normalised first (case, punctuation,
 * width).
 */
export function normalizeForScoring(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[’`]/g, "'")
    .replace(/[^\p{L}\p{N}' ]+/gu, ' ')
    .replace(/(^|\s)'+|'+(\s|$)/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

export function editDistance<T>(a: readonly T[], b: readonly T[]): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

export interface ErrorCounts {
  /** edits */
  errors: number;
  /** reference length */
  total: number;
}

export function wordErrors(hyp: string, ref: string): ErrorCounts {
  const r = normalizeForScoring(ref).split(' ').filter(Boolean);
  const h = normalizeForScoring(hyp).split(' ').filter(Boolean);
  return { errors: editDistance(h, r), total: r.length };
}

/** Character errors, spaces included (as jiwer's CER) unless the reference has none (zh, yue). */
export function charErrors(hyp: string, ref: string): ErrorCounts {
  const nr = normalizeForScoring(ref);
  const spaced = nr.includes(' ');
  const r = [...nr];
  const h = [...(spaced ? normalizeForScoring(hyp) : normalizeForScoring(hyp).replace(/ /g, ''))];
  return { errors: editDistance(h, r), total: r.length };
}

export function rate(c: ErrorCounts): number {
  return c.total === 0 ? (c.errors === 0 ? 0 : 1) : c.errors / c.total;
}

export function sumCounts(cs: readonly ErrorCounts[]): ErrorCounts {
  return cs.reduce((a, c) => ({ errors: a.errors + c.errors, total: a.total + c.total }), { errors: 0, total: 0 });
}
