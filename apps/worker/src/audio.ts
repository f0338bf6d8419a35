/**
 * The worker's long-audio path: packages/segmenter's `transcribeLong` (decode
 * and VAD on the segmenter thread; a clip of at most `segmentMaxSec` is one
 * piece) over the shared micro-batcher, so the pieces of every job this
 * worker holds share batches. Reports what the processor records.
 */
import type { Transcript, UtteranceOptions } from '@voxfleet/asr';
import { context, type Context, type Tracer } from '@voxfleet/telemetry';
import { transcribeLong, type LongProgress } from '@voxfleet/segmenter';
import type { Batched } from './batcher.js';
import type { AudioRun, TranscribeAudio } from './processor.js';

export interface LongAudioOptions {
  /** the micro-batcher: one piece in (ownership passes) with its job's options, its transcript out */
  submit: (samples: Float32Array, options: UtteranceOptions, signal: AbortSignal) => Promise<Batched<Transcript>>;
  maxAudioSec: number;
  decodeTimeoutMs: number;
  /** audio up to this long is transcribed whole; longer audio is cut at pauses into pieces of at most this */
  segmentMaxSec: number;
  /** this job's pieces waiting or running in the batcher at once */
  maxInflightSegments: number;
  /** +1 when a task starts producing pieces, −1 when it will submit nothing more (the batcher's adaptive wait) */
  onProducer?: (delta: 1 | -1) => void;
  /** spans under the job's: decode (until the source is read to its end), and each piece's batch wait and inference */
  tracer?: Tracer;
}

/** A piece's time in the batcher as two spans, from the times the batcher measured (the batch is shared with other jobs' pieces). */
function pieceSpans(tracer: Tracer, parent: Context, submittedAt: number, r: Batched<Transcript>): void {
  const started = submittedAt + r.waitMs;
  tracer.startSpan('batch wait', { startTime: submittedAt }, parent).end(started);
  tracer.startSpan('inference', { startTime: started, attributes: { 'voxfleet.batch_size': r.batchSize } }, parent).end(started + r.runMs);
}

/** 5–95 %: pieces done over the pieces expected (found so far, extrapolated to the whole duration). */
export function progressPercent(p: LongProgress, durationSec: number): number {
  const expected = Math.max(p.segmentsFound, p.audioSecDecoded > 0 ? Math.ceil((p.segmentsFound * durationSec) / p.audioSecDecoded) : p.segmentsFound);
  return Math.min(95, 5 + Math.floor((90 * p.segmentsDone) / Math.max(1, expected)));
}

/** What a model detected (SenseVoice's language, emotion and event tags): the most frequent over the pieces. */
export function tagsOf(pieces: (Transcript & { language?: string; emotion?: string; event?: string })[]): AudioRun['tags'] {
  const top = (key: 'language' | 'emotion' | 'event'): string | undefined => {
    const n = new Map<string, number>();
    for (const p of pieces) if (p[key]) n.set(p[key]!, (n.get(p[key]!) ?? 0) + 1);
    return [...n].sort((a, b) => b[1] - a[1])[0]?.[0];
  };
  const out: AudioRun['tags'] = {};
  for (const key of ['language', 'emotion', 'event'] as const) {
    const v = top(key);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

export function longAudio(o: LongAudioOptions): TranscribeAudio {
  return async (input, { durationSec, signal, onProgress, options }) => {
    let lastProgress = 0;
    // the job's span is the active one here; the pieces' callbacks come back from the segmenter thread, so it is held on to
    const parent = context.active();
    const decode = o.tracer?.startSpan('decode', {}, parent);
    let decoding = decode !== undefined;
    const decoded = (): void => {
      if (decoding) decode?.end();
      decoding = false;
    };
    o.onProducer?.(1);
    const t = await transcribeLong(
      input,
      async (samples, sig) => {
        const submittedAt = Date.now();
        const r = await o.submit(samples, options, sig);
        if (o.tracer) pieceSpans(o.tracer, parent, submittedAt, r);
        return { transcript: r.output, batchSize: r.batchSize, waitMs: r.waitMs, runMs: r.runMs };
      },
      {
        maxSegmentSec: o.segmentMaxSec,
        maxInflight: o.maxInflightSegments,
        // A long file is decoded at the pace of inference (backpressure): scale the decode deadline with its length.
        decode: { maxDurationSec: o.maxAudioSec, timeoutMs: Math.max(o.decodeTimeoutMs, Math.round(durationSec * 1000)) },
        signal,
        onSourceEnd: () => {
          decoded();
          o.onProducer?.(-1);
        },
        onProgress: (p) => {
          const now = Date.now();
          if (p.done || now - lastProgress < 250) return;
          lastProgress = now;
          onProgress(progressPercent(p, durationSec));
        },
      },
    ).finally(decoded);
    const run: AudioRun = {
      transcript: t,
      durationSec: t.durationSec,
      segments: t.pieces.length,
      batchSizes: t.pieces.map((p) => p.batchSize),
      decodeMs: t.waitMs,
      batchWaitMs: t.pieces.reduce((n, p) => n + p.waitMs, 0),
      inferenceMs: t.pieces.reduce((n, p) => n + p.runMs, 0),
      tags: tagsOf(t.pieces.map((p) => p.transcript)),
    };
    return run;
  };
}
