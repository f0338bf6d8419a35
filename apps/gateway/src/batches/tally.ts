/** How jobs move a batch's counters: pure, so ingest, tracker and sweep count the same way. */
import type { CounterDelta, CounterField, JobRecord } from '@voxfleet/storage';
import { scoreTranscript } from './scoring.js';

export function add(d: CounterDelta, k: CounterField, n = 1): void {
  d[k] = (d[k] ?? 0) + n;
}

const audioMs = (r: JobRecord): number => Math.round(r.audio.durationSec * 1000);

/** WER/CER sums of a completed job scored against its reference. */
export function addScore(d: CounterDelta, r: JobRecord): void {
  if (r.status !== 'completed' || !r.result || r.batch?.reference === undefined) return;
  const s = scoreTranscript(r.result.text, r.batch.reference);
  add(d, 'werE', s.words.errors);
  add(d, 'werN', s.words.total);
  add(d, 'cerE', s.chars.errors);
  add(d, 'cerN', s.chars.total);
  add(d, 'scored');
}

/** A job created at ingest: counted as a job, its audio, dedup, and — if answered from the cache — done. */
export function countIngested(d: CounterDelta, r: JobRecord): void {
  add(d, 'jobs');
  add(d, 'audioMs', audioMs(r));
  if (r.batch?.dedup) add(d, 'dedup');
  if (r.final) {
    add(d, 'cached');
    add(d, 'audioDoneMs', audioMs(r));
    addScore(d, r);
  }
}

/** A job leaving the pending set in its final state. */
export function countFinal(d: CounterDelta, r: JobRecord): void {
  add(d, r.status === 'completed' ? 'completed' : r.status === 'cancelled' ? 'cancelled' : 'failed');
  if (r.status === 'completed') {
    add(d, 'audioDoneMs', audioMs(r));
    addScore(d, r);
  }
}
