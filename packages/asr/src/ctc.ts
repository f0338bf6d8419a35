/**
 * Greedy CTC decoding with token timestamps, and grouping of tokens into words
 * and timed segments. Works for character vocabularies (a " " token separates
 * words) and SentencePiece vocabularies ("▁" starts a word).
 */
export interface Vocabulary {
  tokens: readonly string[];
  blankId: number;
  unit: 'char' | 'sentencepiece';
}

export interface TokenTiming {
  id: number;
  text: string;
  /** seconds from the start of the audio */
  start: number;
  end: number;
}

export interface Segment {
  start: number;
  end: number;
  text: string;
}

export interface Transcript {
  text: string;
  segments: Segment[];
  tokens: TokenTiming[];
  /** seconds of audio the transcript covers */
  durationSec: number;
}

export interface DecodeTiming {
  /** seconds per output frame */
  frameShiftSec: number;
  /** seconds added to every timestamp (for segments cut out of longer audio) */
  offsetSec?: number;
  /** a pause at least this long starts a new segment */
  segmentGapSec?: number;
  /** a segment is closed once it is this long */
  maxSegmentSec?: number;
}

/** One emitted token of a CTC path and the frames it spans (inclusive). */
export interface PathStep {
  id: number;
  first: number;
  last: number;
}

/**
 * Arg-max path of one utterance: `scores` holds `frames × vocab` values in
 * row-major order starting at `offset` (a view into a batched logits tensor).
 */
export function greedyPath(
  scores: ArrayLike<number>,
  offset: number,
  frames: number,
  vocab: number,
  blankId: number,
): PathStep[] {
  const out: PathStep[] = [];
  let prev = -1;
  for (let t = 0; t < frames; t++) {
    const base = offset + t * vocab;
    let best = 0;
    let bestScore = -Infinity;
    for (let v = 0; v < vocab; v++) {
      const s = scores[base + v]!;
      if (s > bestScore) {
        bestScore = s;
        best = v;
      }
    }
    if (best !== blankId) {
      if (best === prev) out[out.length - 1]!.last = t;
      else out.push({ id: best, first: t, last: t });
    }
    prev = best;
  }
  return out;
}

interface Word {
  text: string;
  start: number;
  end: number;
}

/** Groups tokens into words; a pause of `gapSec` also ends a word (a char model may omit the space). */
function toWords(tokens: TokenTiming[], vocab: Vocabulary, gapSec: number): Word[] {
  const words: Word[] = [];
  let cur: Word | undefined;
  for (const tok of tokens) {
    let text = tok.text;
    let startsWord = false;
    if (vocab.unit === 'char') {
      if (text.trim() === '') {
        cur = undefined;
        continue;
      }
    } else if (text.startsWith('▁')) {
      startsWord = true;
      text = text.slice(1);
      if (text === '') {
        cur = undefined;
        continue;
      }
    }
    if (!cur || startsWord || tok.start - cur.end >= gapSec) {
      cur = { text: '', start: tok.start, end: tok.end };
      words.push(cur);
    }
    cur.text += text;
    cur.end = tok.end;
  }
  return words;
}

/** Tags such as <blank>, <|en|> or <unk>: part of the vocabulary, never of the text. */
export function isControlToken(token: string): boolean {
  return /^<.*>$/.test(token);
}

const SENTENCE_END = /[.!?。！？]$/;

export function decodeCtc(
  path: PathStep[],
  vocab: Vocabulary,
  timing: DecodeTiming,
  durationSec: number,
): Transcript {
  const shift = timing.frameShiftSec;
  const offset = timing.offsetSec ?? 0;
  const gap = timing.segmentGapSec ?? 0.6;
  const maxLen = timing.maxSegmentSec ?? 10;
  const tokens: TokenTiming[] = path
    .map((p) => ({
      id: p.id,
      text: vocab.tokens[p.id] ?? '',
      start: round3(offset + p.first * shift),
      end: round3(offset + (p.last + 1) * shift),
    }))
    .filter((t) => !isControlToken(t.text));
  const words = toWords(tokens, vocab, gap);
  const segments: Segment[] = [];
  let seg: Segment | undefined;
  for (const w of words) {
    if (!seg || w.start - seg.end >= gap || w.end - seg.start > maxLen) {
      seg = { start: w.start, end: w.end, text: w.text };
      segments.push(seg);
    } else {
      seg.text += ' ' + w.text;
      seg.end = w.end;
    }
    if (SENTENCE_END.test(w.text)) seg = undefined;
  }
  return transcriptOf(segments, tokens, durationSec);
}

/** A transcript from its segments and tokens: the text is the segments' text joined. */
export function transcriptOf(segments: Segment[], tokens: TokenTiming[], durationSec: number): Transcript {
  return { text: segments.map((s) => s.text).join(' '), segments, tokens, durationSec: round3(durationSec) };
}

/** Milliseconds precision for timestamps. */
export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** One piece of a longer recording: its transcript, where it starts and how long it is (seconds). */
export interface StitchPart {
  offsetSec: number;
  transcript: Transcript;
  /** the piece's exact length; default `transcript.durationSec` (rounded to ms) */
  durSec?: number;
}

/**
 * Joins piece transcripts (in order) into one with absolute times: every segment
 * and token is clamped to [0, its piece's length] and shifted by the piece's
 * offset, so times stay monotonic across pieces that do not overlap.
 */
export function stitch(parts: readonly StitchPart[], durationSec: number): Transcript {
  const segments: Segment[] = [];
  const tokens: TokenTiming[] = [];
  for (const { offsetSec, transcript, durSec = transcript.durationSec } of parts) {
    const place = <T extends Segment | TokenTiming>(x: T): T => ({
      ...x,
      start: round3(offsetSec + Math.min(Math.max(0, x.start), durSec)),
      end: round3(offsetSec + Math.min(Math.max(0, x.end), durSec)),
    });
    for (const x of transcript.segments) segments.push(place(x));
    for (const x of transcript.tokens) tokens.push(place(x));
  }
  return transcriptOf(segments, tokens, durationSec);
}
