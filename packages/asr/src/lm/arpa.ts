/**
 * A word n-gram language model read from a standard ARPA file (plain or
 * gzipped), as written by KenLM, SRILM or `training/lm.py`: log10
 * probabilities and backoff weights, any order. Scores are natural logs.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';

export class LmFormatError extends Error {
  override readonly name = 'LmFormatError';
}

const LN10 = Math.log(10);

export interface WordScore {
  /** natural log of P(word | history) */
  logp: number;
  /** the word is not in the vocabulary (scored as <unk>) */
  oov: boolean;
}

export class ArpaLm {
  /** per order (index 0 = unigrams): "w1 w2 … wn" → [logp, backoff] (natural log) */
  private readonly grams: Map<string, [number, number]>[];
  private readonly prefixes = new Set<string>();
  private readonly unk: number;

  private constructor(grams: Map<string, [number, number]>[]) {
    this.grams = grams;
    const uni = grams[0]!;
    for (const w of uni.keys()) for (let i = 1; i <= w.length; i++) this.prefixes.add(w.slice(0, i));
    // Without an <unk> entry an unknown word costs as much as the rarest known word.
    this.unk = uni.get('<unk>')?.[0] ?? Math.min(...[...uni.values()].map((v) => v[0]).filter((p) => p > -99 * LN10));
  }

  static async load(path: string): Promise<ArpaLm> {
    let bytes = await readFile(path);
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
    return ArpaLm.parse(bytes.toString('utf8'));
  }

  static parse(text: string): ArpaLm {
    const lines = text.split('\n');
    const counts: number[] = [];
    const grams: Map<string, [number, number]>[] = [];
    let order = 0;
    let i = 0;
    while (i < lines.length && lines[i]!.trim() !== '\\data\\') i++;
    if (i === lines.length) throw new LmFormatError('not an ARPA file: no \\data\\ section');
    for (i++; i < lines.length; i++) {
      const line = lines[i]!.trim();
      const m = /^ngram (\d+)=(\d+)$/.exec(line);
      if (m) counts[Number(m[1]) - 1] = Number(m[2]);
      else if (line.startsWith('\\')) break;
    }
    for (; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      if (line === '\\end\\') break;
      const sec = /^\\(\d+)-grams:$/.exec(line);
      if (sec) {
        order = Number(sec[1]);
        grams[order - 1] = new Map();
        continue;
      }
      if (order === 0) throw new LmFormatError(`line ${i + 1}: n-gram outside a section`);
      const parts = line.split(/\s+/);
      if (parts.length < order + 1) throw new LmFormatError(`line ${i + 1}: expected ${order} words`);
      const logp = Number(parts[0]) * LN10;
      const bo = parts.length > order + 1 ? Number(parts[order + 1]) * LN10 : 0;
      if (!Number.isFinite(logp) || !Number.isFinite(bo)) throw new LmFormatError(`line ${i + 1}: bad number`);
      grams[order - 1]!.set(parts.slice(1, order + 1).join(' '), [logp, bo]);
    }
    if (!grams[0] || grams[0].size === 0) throw new LmFormatError('ARPA file has no unigrams');
    counts.forEach((n, k) => {
      if (grams[k] && grams[k].size !== n) throw new LmFormatError(`header says ${n} ${k + 1}-grams, file has ${grams[k].size}`);
    });
    return new ArpaLm(grams);
  }

  get order(): number {
    return this.grams.length;
  }

  get vocabularySize(): number {
    return this.grams[0]!.size;
  }

  /** Whether some vocabulary word starts with `partial`. */
  isPrefix(partial: string): boolean {
    return this.prefixes.has(partial);
  }

  /** P(word | history) with Katz-style backoff; `history` ends with the previous word ("<s>" at the start). */
  score(history: readonly string[], word: string): WordScore {
    const oov = !this.grams[0]!.has(word);
    const w = oov ? '<unk>' : word;
    let backoff = 0;
    for (let n = Math.min(this.grams.length, history.length + 1); n >= 1; n--) {
      const ctx = history.slice(history.length - (n - 1));
      const hit = this.grams[n - 1]!.get(n === 1 ? w : `${ctx.join(' ')} ${w}`);
      if (hit) return { logp: backoff + hit[0], oov };
      if (n > 1) backoff += this.grams[n - 2]!.get(ctx.join(' '))?.[1] ?? 0;
    }
    return { logp: backoff + this.unk, oov };
  }
}
