/**
 * Long audio end to end, the one path for the worker, the offline CLI and the
 * benches: audio → pieces (PieceCutter: a clip of at most `maxSegmentSec` is
 * ONE piece without VAD; anything longer is cut at pauses by the
 * SpeechSegmenter into pieces of at most `maxSegmentSec`) → `submit` per
 * piece with at most `maxInflight` pieces submitted and unresolved (decoding
 * pauses otherwise, so memory is flat in the length of the file) → one
 * stitched transcript with absolute, monotonic timestamps (asr's `stitch`:
 * each piece clamped to [0, its length]).
 *
 * Decoding (ffmpeg's output → Float32) and the VAD run on the segmenter thread
 * (SegmenterThread, one per process, pull-based); the calling thread only
 * receives transferred pieces, hands them to `submit` and stitches. Sample
 * sources (already decoded audio) and `inProcess: true` cut on the calling
 * thread.
 *
 * Measured (`npx tsx packages/segmenter/bench/long-cost.ts`, 2-core dev box
 * under load 3, three runs): the VAD costs 4.8–6.2 s of CPU per audio hour
 * (580–750× real time), which is why it is off the main thread — in process a
 * whole transcribeLong keeps the calling thread busy 3.8–5.8 s per audio hour
 * (WAV) / 7–9 s (ffmpeg), on the segmenter thread 0.15–0.33 s / 0.2–1.0 s.
 * Stitching stays here: 26–31 µs per piece, 34–40 ms once (median; up to
 * ~0.2 s cold) for the 1 300 pieces of a 120-minute file of continuous speech
 * (≈ 100 k tokens), 17 ms for the same audio in 240 pieces of 30 s.
 */
import { setMaxListeners } from 'node:events';
import { round3, stitch, type Transcript } from '@voxfleet/asr/ctc';
import { decodeStream, type DecodeOptions } from '@voxfleet/audio';
import { localPieces } from './pieces.js';
import { SegmenterThread, type PieceStream } from './segmenter-thread.js';
import { SEGMENTER_SAMPLE_RATE, type SampleSource, type SegmenterOptions, type SegmenterStats } from './segmenter.js';

const SR = SEGMENTER_SAMPLE_RATE;

/**
 * Transcribes one piece of 16 kHz mono audio. Ownership of `samples` passes to
 * it (it may transfer the buffer). `signal` aborts when the call is cancelled
 * or another piece failed.
 */
export type Submit<R extends { transcript: Transcript }> = (samples: Float32Array, signal: AbortSignal) => Promise<R>;

/** A local file path, the bytes of a file, or already-decoded 16 kHz mono chunks (any sizes); not a Readable byte stream. */
export type LongInput = string | Uint8Array | SampleSource;

export interface LongProgress {
  /** pieces transcribed so far */
  segmentsDone: number;
  /** pieces found so far (the total is known only at the end) */
  segmentsFound: number;
  /** end of the latest transcribed piece, seconds */
  audioSecDone: number;
  /** audio decoded so far, seconds */
  audioSecDecoded: number;
  /** true on the last call */
  done: boolean;
}

export interface LongOptions extends SegmenterOptions {
  /** pieces submitted and unresolved at once (default 8) */
  maxInflight?: number;
  /** decoder chunk size in samples (default 1 s) */
  chunkSamples?: number;
  /** passed to decodeStream: ffmpegPath, timeoutMs, maxDurationSec, wavFastPath (its `signal` is ignored: use `signal`) */
  decode?: DecodeOptions;
  /** cancels decoding and the pending pieces; the call rejects with its reason */
  signal?: AbortSignal;
  /** after every transcribed piece, and once with `done: true` */
  onProgress?: (p: LongProgress) => void;
  /** called exactly once, as soon as no more pieces will be submitted (for a one-piece clip: before that piece is submitted); also on error/abort */
  onSourceEnd?: () => void;
  /** decode and cut on the calling thread (default false: on the segmenter thread; sample sources are always cut in process) */
  inProcess?: boolean;
  /** the segmenter thread for path/bytes input (default `SegmenterThread.shared()`) */
  thread?: SegmenterThread;
}

export interface LongTranscript<R = unknown> extends Transcript {
  /** the pieces that were transcribed, seconds (absolute) */
  speech: { start: number; end: number; cut: boolean }[];
  /** the segmenter's stats (for a one-piece clip: that piece) */
  stats: SegmenterStats;
  /** what `submit` returned for each piece, in order */
  pieces: R[];
  /** time spent waiting for the next piece (decoding and VAD), ms */
  waitMs: number;
}

/** Transcribes a file / bytes / sample stream of any length: see the module comment. */
export async function transcribeLong<R extends { transcript: Transcript }>(
  input: LongInput,
  submit: Submit<R>,
  opts: LongOptions = {},
): Promise<LongTranscript<R>> {
  const maxInflight = Math.max(1, opts.maxInflight ?? 8);
  let sourceEnded = false;
  const endSource = (): void => {
    if (sourceEnded) return;
    sourceEnded = true;
    opts.onSourceEnd?.();
  };
  // aborted by the caller's signal or by the first failure (its reason is what the call rejects with): stops decoding and the pending pieces
  const ctl = new AbortController();
  // every piece in flight may listen to it (the submit), besides the stream and this loop
  setMaxListeners(maxInflight + 10, ctl.signal);
  const onAbort = (): void => ctl.abort(opts.signal!.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let stream: PieceStream | undefined;
  /** where each piece lies (its samples are handed over to submit) */
  const pieces: { startSample: number; length: number; cut: boolean }[] = [];
  const results: R[] = [];
  const inflight = new Set<Promise<void>>();
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  ctl.signal.addEventListener('abort', notify, { once: true });
  let done = 0;
  let audioSecDone = 0;
  let waitMs = 0;
  const progress = (last: boolean): void =>
    opts.onProgress?.({ segmentsDone: done, segmentsFound: pieces.length, audioSecDone, audioSecDecoded: (stream?.decodedSamples ?? 0) / SR, done: last });

  try {
    opts.signal?.throwIfAborted();
    stream = await openPieces(input, opts, ctl.signal);
    let stats: SegmenterStats;
    for (;;) {
      while (inflight.size >= maxInflight && !ctl.signal.aborted) await new Promise<void>((r) => (wake = r));
      ctl.signal.throwIfAborted();
      const t0 = performance.now();
      const r = await stream.next();
      waitMs += performance.now() - t0;
      if (r.done) {
        stats = r.value;
        break;
      }
      const index = pieces.length;
      const { startSample, samples, cut, last } = r.value;
      const length = samples.length;
      pieces.push({ startSample, length, cut });
      if (last) endSource();
      const settled = new Promise<R>((resolve) => resolve(submit(samples, ctl.signal)))
        .then((res) => {
          results[index] = res;
          done++;
          audioSecDone = Math.max(audioSecDone, (startSample + length) / SR);
          if (!ctl.signal.aborted) progress(false);
        })
        .catch((err: unknown) => ctl.abort(err))
        .finally(() => {
          inflight.delete(settled);
          notify();
        });
      inflight.add(settled);
    }
    endSource();
    await Promise.all(inflight);
    ctl.signal.throwIfAborted();
    const durationSec = stats.totalSamples / SR;
    const t = stitch(
      pieces.map((p, i) => ({ offsetSec: p.startSample / SR, durSec: p.length / SR, transcript: results[i]!.transcript })),
      durationSec,
    );
    progress(true);
    return {
      ...t,
      speech: pieces.map((p) => ({ start: round3(p.startSample / SR), end: round3((p.startSample + p.length) / SR), cut: p.cut })),
      stats,
      pieces: results,
      waitMs,
    };
  } catch (err) {
    ctl.abort(err);
    // let every submitted piece settle, so nothing resolves after this call has rejected
    await Promise.all(inflight);
    throw ctl.signal.reason;
  } finally {
    endSource();
    opts.signal?.removeEventListener('abort', onAbort);
    await stream?.close();
  }
}

async function openPieces(input: LongInput, opts: LongOptions, signal: AbortSignal): Promise<PieceStream> {
  const { maxInflight: _m, chunkSamples, decode, signal: _s, onProgress: _p, onSourceEnd: _e, inProcess, thread, ...segmenter } = opts;
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
    // a Readable is async-iterable too, but yields bytes
    if ('pipe' in input) throw new TypeError('transcribeLong takes a path, bytes or sample chunks, not a byte stream');
    return localPieces(input, segmenter, signal);
  }
  const { signal: _ignored, ...decodeOpts } = { ...decode, chunkSamples: chunkSamples ?? SR };
  if (inProcess) return localPieces(decodeStream(input, { ...decodeOpts, signal }), segmenter, signal);
  if (segmenter.detector) throw new TypeError('a custom detector runs only in process (inProcess: true)');
  const t = thread ?? (await SegmenterThread.shared());
  signal.throwIfAborted();
  return t.open({ input, decode: decodeOpts, segmenter }, signal);
}
