/**
 * CTC prefix beam search, optionally with a word n-gram language model
 * (shallow fusion: alpha × LM log-probability + beta per word, scored when a
 * word ends; a partial word that starts no vocabulary word is penalised at
 * once). Returns the same token path as `greedyPath`, so timestamps, words
 * and segments come from `decodeCtc` for both decoders.
 */
import type { ArpaLm } from './lm/arpa.js';
import type { Vocabulary } from './ctc.js';

export interface BeamOptions {
  beamWidth: number;
  /** tokens with a lower log-probability in a frame are not expanded */
  tokenMinLogp: number;
  lm?: ArpaLm;
  alpha: number;
  beta: number;
  /** added (× alpha) for an out-of-vocabulary word, and for a partial word no vocabulary word starts with */
  unkPenalty: number;
}

export const DEFAULT_BEAM: Omit<BeamOptions, 'lm'> = {
  beamWidth: 16,
  tokenMinLogp: -5,
  alpha: 0.5,
  beta: 2,
  unkPenalty: -20,
};

type PathStep = { id: number; first: number; last: number };

/** One emitted token, linked back to the previous one (paths share their prefixes). */
interface Node {
  id: number;
  first: number;
  last: number;
  prev: Node | undefined;
}

interface Beam {
  text: string;
  lastId: number;
  /** log-probability of the prefix ending in blank / in its last token */
  pb: number;
  pnb: number;
  node: Node | undefined;
  /** log-probability of the contribution that chose `node` */
  nodeScore: number;
  /** ranking score: prefix probability + LM */
  score: number;
}

function logAdd(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = a > b ? a : b;
  return m + Math.log1p(Math.exp(-Math.abs(a - b)));
}

/** The text a token adds: a char vocabulary's " " token or a SentencePiece "▁" starts a new word. */
function tokenText(tok: string, unit: Vocabulary['unit']): string {
  return unit === 'sentencepiece' ? tok.replace(/▁/g, ' ') : tok;
}

/** LM score of a prefix text, cached per utterance: completed words, plus a penalty for a hopeless partial word. */
class LmScorer {
  private readonly done = new Map<string, number>();
  constructor(
    private readonly lm: ArpaLm,
    private readonly o: BeamOptions,
  ) {}

  private words(text: string): string[] {
    return text.split(' ').filter(Boolean);
  }

  /** The words an n-gram of this order conditions on, "<s>" included at the start. */
  private history(words: string[]): string[] {
    return ['<s>', ...words].slice(-Math.max(1, this.lm.order - 1));
  }

  /** Score of all words in `words` (every one complete), from "<s>". */
  private complete(words: string[]): number {
    const key = words.join(' ');
    const hit = this.done.get(key);
    if (hit !== undefined) return hit;
    if (words.length === 0) return 0;
    const head = words.slice(0, -1);
    const { logp, oov } = this.lm.score(this.history(head), words[words.length - 1]!);
    const s = this.complete(head) + this.o.alpha * (logp + (oov ? this.o.unkPenalty : 0)) + this.o.beta;
    this.done.set(key, s);
    return s;
  }

  private readonly prefixes = new Map<string, number>();

  prefix(text: string): number {
    const hit = this.prefixes.get(text);
    if (hit !== undefined) return hit;
    const s = this.prefixScore(text);
    this.prefixes.set(text, s);
    return s;
  }

  private prefixScore(text: string): number {
    const words = text.split(' ');
    const partial = words.pop()!;
    let s = this.complete(words.filter(Boolean));
    if (partial && !this.lm.isPrefix(partial)) s += this.o.alpha * this.o.unkPenalty;
    return s;
  }

  final(text: string): number {
    const words = this.words(text);
    const { logp } = this.lm.score(this.history(words), '</s>');
    return this.complete(words) + this.o.alpha * logp;
  }
}

/** Adds one way of reaching a prefix to the next frame's candidates (merging paths to the same prefix). */
function extend(next: Map<string, Beam>, text: string, lastId: number, pb: number, pnb: number, node: Node | undefined): void {
  const key = `${lastId}\u0000${text}`;
  const contrib = logAdd(pb, pnb);
  const cur = next.get(key);
  if (!cur) {
    next.set(key, { text, lastId, pb, pnb, node, nodeScore: contrib, score: 0 });
    return;
  }
  cur.pb = logAdd(cur.pb, pb);
  cur.pnb = logAdd(cur.pnb, pnb);
  if (contrib > cur.nodeScore) {
    cur.node = node;
    cur.nodeScore = contrib;
  }
}

/**
 * Best token path of one utterance: `scores` holds `frames × vocab` logits
 * (not normalised) from `offset`, as for `greedyPath`.
 */
export function beamSearchPath(
  scores: ArrayLike<number>,
  offset: number,
  frames: number,
  vocab: Vocabulary,
  opts: BeamOptions,
): PathStep[] {
  const V = vocab.tokens.length;
  const blank = vocab.blankId;
  const texts = vocab.tokens.map((t) => (/^<.*>$/.test(t) ? '' : tokenText(t, vocab.unit)));
  const spaces = texts.map((t) => t !== '' && t.trim() === '');
  const scorer = opts.lm ? new LmScorer(opts.lm, opts) : undefined;
  let beams: Beam[] = [{ text: '', lastId: -1, pb: 0, pnb: -Infinity, node: undefined, nodeScore: 0, score: 0 }];
  const logp = new Float64Array(V);
  const cands: number[] = [];
  for (let t = 0; t < frames; t++) {
    const base = offset + t * V;
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, scores[base + v]!);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(scores[base + v]! - max);
    const lse = max + Math.log(sum);
    cands.length = 0;
    for (let v = 0; v < V; v++) {
      logp[v] = scores[base + v]! - lse;
      if (v !== blank && logp[v]! >= opts.tokenMinLogp) cands.push(v);
    }
    const next = new Map<string, Beam>();
    for (const b of beams) {
      const total = logAdd(b.pb, b.pnb);
      // blank: the prefix stays, now ending in blank
      extend(next, b.text, b.lastId, total + logp[blank]!, -Infinity, b.node);
      for (const c of cands) {
        const lp = logp[c]!;
        const piece = texts[c]!;
        // a control token (language tag etc.), or a word boundary with no word before it, writes nothing: like blank
        const silent = piece === '' || (spaces[c]! && (b.text === '' || b.text.endsWith(' ')));
        let from = total;
        if (c === b.lastId) {
          // repeated token without blank between: the same prefix, its last token lasts longer
          if (b.pnb > -Infinity && b.node) extend(next, b.text, c, -Infinity, b.pnb + lp, { ...b.node, last: t });
          // only after a blank is the token written again
          from = b.pb;
          if (from === -Infinity) continue;
        }
        if (silent) extend(next, b.text, b.lastId, from + lp, -Infinity, b.node);
        else extend(next, b.text + piece, c, -Infinity, from + lp, { id: c, first: t, last: t, prev: b.node });
      }
    }
    beams = [...next.values()];
    for (const b of beams) b.score = logAdd(b.pb, b.pnb) + (scorer ? scorer.prefix(b.text) : 0);
    beams.sort((x, y) => y.score - x.score);
    if (beams.length > opts.beamWidth) beams.length = opts.beamWidth;
  }
  let best = beams[0]!;
  let bestScore = -Infinity;
  for (const b of beams) {
    const s = logAdd(b.pb, b.pnb) + (scorer ? scorer.final(b.text) : 0);
    if (s > bestScore) {
      bestScore = s;
      best = b;
    }
  }
  const path: PathStep[] = [];
  for (let n = best.node; n; n = n.prev) path.push({ id: n.id, first: n.first, last: n.last });
  return path.reverse();
}
