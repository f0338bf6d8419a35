/**
 * Long audio end to end: decodeStream → SpeechSegmenter → engine in batches
 * → one stitched transcript with absolute timestamps. Audio is never
 * accumulated: at most one batch is being filled while the previous one is
 * transcribed; only transcripts are kept.
 */
import { decodeStream, type AudioInput, type DecodeOptions } from '@voxfleet/audio';
import { stitch, type Segment, type TokenTiming, type Transcript } from '@voxfleet/asr';
import { SEGMENTER_SAMPLE_RATE, SpeechSegmenter, type SampleSource, type SegmenterOptions, type SegmenterStats, type SpeechSegment } from './segmenter.js';

/** What transcribeLong needs from an engine (AsrEngine fits). */
export interface BatchTranscriber {
  transcribe(audio: Float32Array[], opts?: { signal?: AbortSignal }): Promise<{ transcripts: Transcript[] }>;
}

export interface LongProgress {
  /** segments transcribed so far */
  segmentsDone: number;
  /** segments found so far (the total is known only at the end) */
  segmentsFound: number;
  /** end of the last transcribed segment, seconds */
  audioSecDone: number;
  /** audio decoded so far, seconds */
  audioSecDecoded: number;
  /** true on the last call */
  done: boolean;
}

export interface LongOptions extends SegmenterOptions {
  /** segments per engine.transcribe call (default 8) */
  batchSize?: number;
  /** decoder chunk size in samples (default 1 s) */
  chunkSamples?: number;
  /** passed to decodeStream (ffmpeg path, timeouts, max duration, WAV fast path) */
  decode?: DecodeOptions;
  signal?: AbortSignal;
  onProgress?: (p: LongProgress) => void;
}

export interface LongTranscript extends Transcript {
  /** the speech segments that were transcribed, seconds (absolute) */
  speech: { start: number; end: number; cut: boolean }[];
  stats: SegmenterStats;
}

/** Transcribes a file/bytes/stream of any length: see the module comment. */
export async function transcribeLong(engine: BatchTranscriber, input: AudioInput | SampleSource, opts: LongOptions = {}): Promise<LongTranscript> {
  const source: SampleSource =
    typeof input === 'string' || input instanceof Uint8Array || !isSampleSource(input)
      ? decodeStream(input as AudioInput, { ...opts.decode, chunkSamples: opts.chunkSamples ?? SEGMENTER_SAMPLE_RATE, signal: opts.signal ?? opts.decode?.signal })
      : input;
  return transcribeSegments(engine, source, opts);
}

function isSampleSource(x: unknown): x is SampleSource {
  // a Readable is async-iterable too, but yields bytes: only arrays of samples count
  return typeof x === 'object' && x !== null && !('pipe' in x) && (Symbol.asyncIterator in x || Symbol.iterator in x);
}

async function transcribeSegments(engine: BatchTranscriber, source: SampleSource, opts: LongOptions): Promise<LongTranscript> {
  const sr = SEGMENTER_SAMPLE_RATE;
  const batchSize = Math.max(1, opts.batchSize ?? 8);
  const segmenter = new SpeechSegmenter(opts);
  const parts: { offsetSec: number; transcript: Transcript }[] = [];
  const speech: LongTranscript['speech'] = [];
  let found = 0;
  let done = 0;
  let audioSecDone = 0;
  let inflight: Promise<void> | undefined;
  let failure: unknown;

  const progress = (last: boolean): void =>
    opts.onProgress?.({
      segmentsDone: done,
      segmentsFound: found,
      audioSecDone,
      audioSecDecoded: segmenter.stats.totalSamples / sr,
      done: last,
    });

  const send = (batch: SpeechSegment[]): Promise<void> => {
    const meta = batch.map((s) => ({ start: s.startSample, length: s.samples.length, cut: s.cut }));
    // the buffers are transferred to the engine: the batch is unusable from here on
    return engine.transcribe(batch.map((s) => s.samples), { signal: opts.signal }).then((r) => {
      if (r.transcripts.length !== meta.length) throw new Error(`engine returned ${r.transcripts.length} transcripts for ${meta.length} segments`);
      meta.forEach((m, i) => {
        const durSec = m.length / sr;
        parts.push({ offsetSec: m.start / sr, transcript: clampTimes(r.transcripts[i]!, durSec) });
        speech.push({ start: round3(m.start / sr), end: round3((m.start + m.length) / sr), cut: m.cut });
        audioSecDone = (m.start + m.length) / sr;
      });
      done += meta.length;
      progress(false);
    });
  };

  // one batch in flight while the next one fills; results are recorded in order
  const dispatch = async (batch: SpeechSegment[]): Promise<void> => {
    if (inflight) await inflight;
    if (failure !== undefined) throw failure;
    inflight = send(batch).catch((err: unknown) => {
      failure ??= err;
    });
  };

  let batch: SpeechSegment[] = [];
  try {
    for await (const seg of segmenter.segments(source)) {
      found++;
      batch.push(seg);
      if (batch.length >= batchSize) {
        const full = batch;
        batch = [];
        await dispatch(full);
      }
      if (failure !== undefined) throw failure;
    }
    if (batch.length > 0) await dispatch(batch);
    batch = [];
    if (inflight) await inflight;
    if (failure !== undefined) throw failure;
  } catch (err) {
    // let a running batch settle before reporting, so nothing resolves after we return
    if (inflight) await inflight;
    throw failure ?? err;
  }

  const durationSec = segmenter.stats.totalSamples / sr;
  const t = stitch(parts, durationSec);
  progress(true);
  return { ...t, speech, stats: { ...segmenter.stats } };
}

/** Keeps a piece's times inside [0, durSec] so stitched times stay monotonic across pieces. */
function clampTimes(t: Transcript, durSec: number): Transcript {
  const c = <T extends Segment | TokenTiming>(x: T): T => ({ ...x, start: Math.min(Math.max(0, x.start), durSec), end: Math.min(Math.max(0, x.end), durSec) });
  return { ...t, segments: t.segments.map(c), tokens: t.tokens.map(c) };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
