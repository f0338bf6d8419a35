/**
 * Decoding to 16 kHz mono float32.
 *
 * Route: 16 kHz PCM/float WAV is read in-process (no ffmpeg); everything else — including
 * WAV at other rates, which ffmpeg's resampler handles — is decoded by ffmpeg to s16le on
 * stdout and converted incrementally. Both routes stream in fixed-size chunks, so
 * `decodeStream` uses flat memory and `decodeFile`/`decodeBuffer` simply collect it.
 */
import { createDeadline } from './abort.js';
import { AudioError, emptyDecodeError, tooLongError } from './errors.js';
import { DECODE_OUTPUT_ARGS, startFfmpeg } from './ffmpeg-job.js';
import { resolveFfmpegPath } from './ffmpeg.js';
import { checkOptions } from './input.js';
import { S16Chunker, concatSamples } from './pcm.js';
import { openSource, type FfmpegSource, type WavSource } from './source.js';
import { SAMPLE_RATE, type AudioInput, type DecodeOptions, type StreamOptions } from './types.js';
import { wavFramesToMono } from './wav.js';

const DEFAULT_CHUNK_SAMPLES = SAMPLE_RATE;
/** Chunk size used internally by decodeFile/decodeBuffer (10 s). */
const COLLECT_CHUNK_SAMPLES = 10 * SAMPLE_RATE;

async function* wavChunks(source: WavSource, chunkSamples: number, signal: AbortSignal): AsyncGenerator<Float32Array> {
  const { header } = source;
  for (let frame = 0; frame < header.frames; frame += chunkSamples) {
    signal.throwIfAborted();
    const bytes = await source.read(frame, Math.min(chunkSamples, header.frames - frame));
    if (bytes.byteLength === 0) break; // file shrank since the header was read
    yield wavFramesToMono(bytes, header);
  }
}

async function* ffmpegChunks(
  source: FfmpegSource,
  opts: DecodeOptions,
  chunkSamples: number,
  signal: AbortSignal,
): AsyncGenerator<Float32Array> {
  const max = opts.maxDurationSec;
  const maxSamples = max === undefined ? Infinity : Math.round(max * SAMPLE_RATE);
  const job = startFfmpeg({
    ffmpegPath: resolveFfmpegPath(opts),
    input: source.input,
    outputArgs: DECODE_OUTPUT_ARGS,
    signal,
    onInputInfo(info) {
      // Early rejection from the container's own duration, before decoding anything.
      if (max !== undefined && info.durationSec !== undefined && info.durationSec > max) {
        job.stop(tooLongError(info.durationSec, max, 'header'));
      }
    },
  });

  source.onInputError?.((cause) => job.stop(new AudioError('io', 'failed to read the input stream', { cause })));

  const chunker = new S16Chunker(chunkSamples);
  let bytes = 0;
  try {
    // Pull-based: ffmpeg's stdout is only read when the consumer asks for more, so pipe
    // backpressure pauses ffmpeg instead of buffering the whole decode.
    for await (const data of job.output.iterator({ destroyOnReturn: false })) {
      const buffer = data as Buffer;
      bytes += buffer.byteLength;
      // Enforced on decoded output, so a container that under-reports its length cannot slip through.
      if (max !== undefined && bytes / 2 > maxSamples) {
        const err = tooLongError(bytes / 2 / SAMPLE_RATE, max, 'decode');
        job.stop(err);
        throw err;
      }
      yield* chunker.push(buffer);
    }
    await job.done;
    const last = chunker.flush();
    if (last !== undefined) yield last;
  } catch (err) {
    const failure = job.failure ?? err;
    if (failure instanceof AudioError && failure.code === 'undecodable' && source.bytesRead?.() === 0) {
      throw new AudioError('empty', 'input stream is empty (0 bytes)', { cause: failure });
    }
    throw failure;
  } finally {
    job.stop(new AudioError('io', 'decoding was cancelled by the consumer'));
  }
}

async function* decodeChunks(input: AudioInput, opts: DecodeOptions, chunkSamples: number): AsyncGenerator<Float32Array> {
  checkOptions(opts);
  const deadline = createDeadline(opts);
  const { signal } = deadline;
  let source: Awaited<ReturnType<typeof openSource>> | undefined;
  try {
    signal.throwIfAborted();
    source = await openSource(input, opts);
    signal.throwIfAborted();
    const chunks =
      source.kind === 'wav' ? wavChunks(source, chunkSamples, signal) : ffmpegChunks(source, opts, chunkSamples, signal);
    let total = 0;
    for await (const chunk of chunks) {
      total += chunk.length;
      yield chunk;
    }
    if (total === 0) throw emptyDecodeError();
  } finally {
    deadline.dispose();
    await source?.close();
  }
}

function checkChunkSamples(value: number | undefined): number {
  if (value === undefined) return DEFAULT_CHUNK_SAMPLES;
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`chunkSamples must be a positive integer, got ${value}`);
  return value;
}

/**
 * Streams 16 kHz mono float32 chunks of `chunkSamples` samples (the last may be shorter).
 * Memory stays flat for any input length; breaking out of the loop or aborting `signal`
 * kills ffmpeg. Errors (including `too_long` found mid-decode) surface from the iteration,
 * possibly after some chunks were already yielded. A Readable input is consumed and
 * destroyed when decoding stops.
 */
export function decodeStream(input: AudioInput, opts: StreamOptions = {}): AsyncGenerator<Float32Array> {
  const chunkSamples = checkChunkSamples(opts.chunkSamples);
  checkOptions(opts);
  return decodeChunks(input, opts, chunkSamples);
}

async function collect(chunks: AsyncIterable<Float32Array>): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return concatSamples(parts);
}

/** Decodes a local audio file to 16 kHz mono float32 samples in [-1, 1]. */
export function decodeFile(path: string, opts: DecodeOptions = {}): Promise<Float32Array> {
  if (typeof path !== 'string') return Promise.reject(new TypeError('decodeFile expects a file path string'));
  return collect(decodeChunks(path, opts, COLLECT_CHUNK_SAMPLES));
}

/** Decodes in-memory audio (any supported container) to 16 kHz mono float32 samples in [-1, 1]. */
export function decodeBuffer(bytes: Uint8Array, opts: DecodeOptions = {}): Promise<Float32Array> {
  if (!(bytes instanceof Uint8Array)) return Promise.reject(new TypeError('decodeBuffer expects a Uint8Array'));
  return collect(decodeChunks(bytes, opts, COLLECT_CHUNK_SAMPLES));
}
