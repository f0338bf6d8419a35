/**
 * Cuts long audio into pieces the acoustic model handles well (it is trained
 * on utterances of a few seconds), at the quietest point of each window, and
 * stitches per-piece transcripts back with absolute timestamps.
 */
import { round3, transcriptOf, type Segment, type TokenTiming, type Transcript } from './ctc.js';

export interface Piece {
  /** sample offset in the original audio */
  start: number;
  samples: Float32Array;
}

export interface ChunkOptions {
  sampleRate?: number;
  /** no piece is longer than this */
  maxSec?: number;
  /** cut points are searched in [minSec, maxSec] from the piece start */
  minSec?: number;
}

/** Splits at the lowest-energy 50 ms frame between minSec and maxSec of each piece. */
export function chunkAudio(samples: Float32Array, opts: ChunkOptions = {}): Piece[] {
  const sr = opts.sampleRate ?? 16000;
  const max = Math.round((opts.maxSec ?? 20) * sr);
  const min = Math.round((opts.minSec ?? 8) * sr);
  const hop = Math.round(0.05 * sr);
  const pieces: Piece[] = [];
  let start = 0;
  while (samples.length - start > max) {
    let bestAt = start + max;
    let bestEnergy = Infinity;
    for (let at = start + min; at + hop <= start + max; at += hop) {
      let e = 0;
      for (let i = at; i < at + hop; i++) e += samples[i]! * samples[i]!;
      if (e < bestEnergy) {
        bestEnergy = e;
        bestAt = at + (hop >> 1);
      }
    }
    pieces.push({ start, samples: samples.subarray(start, bestAt) });
    start = bestAt;
  }
  pieces.push({ start, samples: samples.subarray(start) });
  return pieces;
}

function shift<T extends { start: number; end: number }>(items: T[], by: number): T[] {
  return items.map((x) => ({ ...x, start: round3(x.start + by), end: round3(x.end + by) }));
}

/** Joins piece transcripts (in order) into one with absolute times. */
export function stitch(parts: { offsetSec: number; transcript: Transcript }[], durationSec: number): Transcript {
  const segments: Segment[] = [];
  const tokens: TokenTiming[] = [];
  for (const { offsetSec, transcript } of parts) {
    segments.push(...shift(transcript.segments, offsetSec));
    tokens.push(...shift(transcript.tokens, offsetSec));
  }
  return transcriptOf(segments, tokens, durationSec);
}
