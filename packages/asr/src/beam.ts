/**
 * CTC prefix beam search, optionally with a word n-gram language model
 * (shallow fusion: alpha × LM log-probability + beta per word, scored when a
 * word ends; a partial word that starts no vocabulary word is penalised at
 * once). Returns the same token path as `greedyPath`, so timestamps, words
 * and segments come from `decodeCtc` for both decoders.
 *
 * Prefixes live in a per-utterance trie: extending a prefix is a child lookup
 * and its LM state (completed-word score, last word, partial word) is computed
 * once, when the child is created.
 */
import type { ArpaLm } from './lm/arpa.js';
import { isControlToken, type PathStep, type Vocabulary } from './ctc.js';

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

/** One emitted token with its frames, linked back to the previous one (alignments share their starts). */
interface Node extends PathStep {
  prev: Node | undefined;
}

/** A distinct token sequence, with the LM's view of its text. */
interface Prefix {
  /** last token (-1 at the root) */
  id: number;
  children: Map<number, Prefix> | undefined;
  /** history for the LM: the last n−1 completed words ("<s>" first) */
  history: string[];
  /** the word being written ("" right after a word boundary) */
  partial: string;
  /** alpha × log P + beta summed over the completed words */
  done: number;
  /** done + the penalty for a partial word that no vocabulary word starts with */
  score: number;
}

interface Beam {
  prefix: Prefix;
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

/** Builds prefixes and their LM state. */
class PrefixTrie {
  readonly root: Prefix;

  constructor(
    private readonly o: BeamOptions,
    private readonly texts: string[],
  ) {
    this.root = { id: -1, children: undefined, history: ['<s>'], partial: '', done: 0, score: 0 };
  }

  private wordScore(history: string[], word: string): number {
    const { logp, oov } = this.o.lm!.score(history, word);
    return this.o.alpha * (logp + (oov ? this.o.unkPenalty : 0)) + this.o.beta;
  }

  private push(history: string[], word: string): string[] {
    const keep = Math.max(1, this.o.lm!.order - 1);
    return [...history, word].slice(-keep);
  }

  child(p: Prefix, id: number): Prefix {
    let c = p.children?.get(id);
    if (c) return c;
    let { history, partial, done } = p;
    for (const ch of this.texts[id]!) {
      if (ch !== ' ') {
        partial += ch;
      } else if (partial !== '') {
        if (this.o.lm) {
          done += this.wordScore(history, partial);
          history = this.push(history, partial);
        }
        partial = '';
      }
    }
    const penalty = this.o.lm && partial !== '' && !this.o.lm.isPrefix(partial) ? this.o.alpha * this.o.unkPenalty : 0;
    c = { id, children: undefined, history, partial, done, score: done + penalty };
    (p.children ??= new Map()).set(id, c);
    return c;
  }

  /** LM score of a complete hypothesis: its last word and the sentence end included. */
  final(p: Prefix): number {
    if (!this.o.lm) return 0;
    let { done, history } = p;
    if (p.partial !== '') {
      done += this.wordScore(history, p.partial);
      history = this.push(history, p.partial);
    }
    return done + this.o.alpha * this.o.lm.score(history, '</s>').logp;
  }
}

/** Adds one way of reaching a prefix to the next frame's candidates (merging alignments of the same prefix). */
function extend(next: Map<Prefix, Beam>, prefix: Prefix, pb: number, pnb: number, node: Node | undefined): void {
  const contrib = logAdd(pb, pnb);
  const cur = next.get(prefix);
  if (!cur) {
    next.set(prefix, { prefix, pb, pnb, node, nodeScore: contrib, score: 0 });
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
  const texts = vocab.tokens.map((t) => (isControlToken(t) ? '' : tokenText(t, vocab.unit)));
  const spaces = texts.map((t) => t !== '' && t.trim() === '');
  const trie = new PrefixTrie(opts, texts);
  let beams: Beam[] = [{ prefix: trie.root, pb: 0, pnb: -Infinity, node: undefined, nodeScore: 0, score: 0 }];
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
    const next = new Map<Prefix, Beam>();
    for (const b of beams) {
      const p = b.prefix;
      const total = logAdd(b.pb, b.pnb);
      // blank: the prefix stays, now ending in blank
      extend(next, p, total + logp[blank]!, -Infinity, b.node);
      for (const c of cands) {
        const lp = logp[c]!;
        // a control token (language tag etc.), or a word boundary with no word before it, writes nothing: like blank
        const silent = texts[c] === '' || (spaces[c]! && p.partial === '');
        let from = total;
        if (c === p.id) {
          // repeated token without blank between: the same prefix, its last token lasts longer
          if (b.pnb > -Infinity && b.node) extend(next, p, -Infinity, b.pnb + lp, { ...b.node, last: t });
          // only after a blank is the token written again
          from = b.pb;
          if (from === -Infinity) continue;
        }
        if (silent) extend(next, p, from + lp, -Infinity, b.node);
        else extend(next, trie.child(p, c), -Infinity, from + lp, { id: c, first: t, last: t, prev: b.node });
      }
    }
    beams = [...next.values()];
    for (const b of beams) b.score = logAdd(b.pb, b.pnb) + b.prefix.score;
    beams.sort((x, y) => y.score - x.score);
    if (beams.length > opts.beamWidth) beams.length = opts.beamWidth;
  }
  let best = beams[0]!;
  let bestScore = -Infinity;
  for (const b of beams) {
    const s = logAdd(b.pb, b.pnb) + trie.final(b.prefix);
    if (s > bestScore) {
      bestScore = s;
      best = b;
    }
  }
  const path: PathStep[] = [];
  for (let n = best.node; n; n = n.prev) path.push({ id: n.id, first: n.first, last: n.last });
  return path.reverse();
}
