/**
 * A `Submit` over an engine for the offline paths (CLI, benches): pieces
 * submitted while nothing runs, or while a batch runs, are collected into the
 * next `engine.transcribe([...])` call (up to `maxBatch`), one call at a time.
 * The worker has its own batcher (frame budget, length groups, adaptive wait
 * across jobs); this one is deliberately small.
 */
import type { Transcript } from '@voxfleet/asr/ctc';
import type { Submit } from './long.js';

/** What batchingSubmit needs from an engine (AsrEngine fits). */
export interface BatchTranscriber<B extends { transcripts: Transcript[] } = { transcripts: Transcript[] }> {
  transcribe(audio: Float32Array[], opts?: { signal?: AbortSignal }): Promise<B>;
}

export interface BatchedPiece {
  transcript: Transcript;
  /** pieces in the engine call this one ran in */
  batchSize: number;
  /** submit → its batch started, ms */
  waitMs: number;
  /** wall time of its batch, ms */
  runMs: number;
}

export interface BatchingOptions<B> {
  /** pieces per engine call (default 8) */
  maxBatch?: number;
  /** after every engine call, with what the engine returned */
  onBatch?: (result: B, info: { size: number; ms: number }) => void;
}

interface Waiting {
  samples: Float32Array;
  at: number;
  resolve: (r: BatchedPiece) => void;
  reject: (e: unknown) => void;
}

export function batchingSubmit<B extends { transcripts: Transcript[] }>(engine: BatchTranscriber<B>, opts: BatchingOptions<B> = {}): Submit<BatchedPiece> {
  const maxBatch = Math.max(1, opts.maxBatch ?? 8);
  const queue: Waiting[] = [];
  let running = false;
  let scheduled = false;

  const schedule = (): void => {
    if (running || scheduled || queue.length === 0) return;
    scheduled = true;
    // one macrotask: pieces submitted together (several files, several pieces) share the call
    setImmediate(() => {
      scheduled = false;
      void run();
    });
  };

  const run = async (): Promise<void> => {
    const batch = queue.splice(0, maxBatch);
    if (batch.length === 0) return;
    running = true;
    const t0 = performance.now();
    try {
      const r = await engine.transcribe(batch.map((w) => w.samples));
      const ms = performance.now() - t0;
      if (r.transcripts.length !== batch.length) throw new Error(`engine returned ${r.transcripts.length} transcripts for ${batch.length} pieces`);
      opts.onBatch?.(r, { size: batch.length, ms });
      batch.forEach((w, i) => w.resolve({ transcript: r.transcripts[i]!, batchSize: batch.length, waitMs: t0 - w.at, runMs: ms }));
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      running = false;
      schedule();
    }
  };

  // An aborted piece rejects at once: taken out of the queue, or (running) its result is dropped.
  return (samples, signal) =>
    new Promise<BatchedPiece>((resolve, reject) => {
      signal.throwIfAborted();
      const onAbort = (): void => {
        const i = queue.indexOf(w);
        if (i >= 0) queue.splice(i, 1);
        reject(signal.reason);
      };
      const w: Waiting = {
        samples,
        at: performance.now(),
        resolve: (r) => {
          signal.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      queue.push(w);
      schedule();
    });
}
