/**
 * Audio metadata without a full decode. WAV: from our own header parser. Everything else:
 * ffmpeg opens the input and describes it on stderr (`-t 0`, nothing is decoded); only
 * when the container reports no duration (e.g. Ogg read from a pipe) are the samples
 * decoded and counted. (The bundled ffmpeg ships no ffprobe.)
 */
import { createDeadline } from './abort.js';
import { AudioError, tooLongError } from './errors.js';
import { PROBE_OUTPUT_ARGS, startFfmpeg, type FfmpegInput } from './ffmpeg-job.js';
import { resolveFfmpegPath } from './ffmpeg.js';
import { checkLocalPath, checkOptions, localFileSize } from './input.js';
import { decodeStream } from './decode.js';
import { bytesToStream, checkHeaderDuration, readFileWavHeader, tryWavHeader } from './source.js';
import { SAMPLE_RATE, type AudioInfo, type DecodeOptions } from './types.js';
import { checkWavComplete, type WavHeader } from './wav.js';

function wavInfo(header: WavHeader): AudioInfo {
  return {
    durationSec: header.durationSec,
    format: 'wav',
    codec: header.codec,
    sampleRate: header.sampleRate,
    channels: header.channels,
  };
}

async function ffmpegProbe(input: FfmpegInput, opts: DecodeOptions, signal: AbortSignal): Promise<Omit<AudioInfo, 'durationSec'> & { durationSec?: number }> {
  const job = startFfmpeg({ ffmpegPath: resolveFfmpegPath(opts), input, outputArgs: PROBE_OUTPUT_ARGS, signal });
  job.output.resume(); // `-f null` writes nothing, but never leave a pipe unread
  const info = await job.done;
  return {
    durationSec: info.durationSec,
    format: info.format ?? 'unknown',
    codec: info.codec ?? 'unknown',
    sampleRate: info.sampleRate ?? 0,
    channels: info.channels ?? 0,
  };
}

async function countDuration(input: string | Uint8Array, opts: DecodeOptions, signal: AbortSignal): Promise<number> {
  let samples = 0;
  const countOpts: DecodeOptions = { ffmpegPath: opts.ffmpegPath, maxDurationSec: opts.maxDurationSec, signal, wavFastPath: false };
  for await (const chunk of decodeStream(input, { ...countOpts, chunkSamples: 10 * SAMPLE_RATE })) samples += chunk.length;
  return samples / SAMPLE_RATE;
}

/** Describes a local audio file or in-memory audio. Throws AudioError for empty/undecodable/unsupported input. */
export async function probe(input: string | Uint8Array, opts: DecodeOptions = {}): Promise<AudioInfo> {
  checkOptions(opts);
  const deadline = createDeadline(opts);
  const { signal } = deadline;
  try {
    signal.throwIfAborted();
    let header: WavHeader | undefined;
    let ffInput: FfmpegInput;
    if (typeof input === 'string') {
      const path = checkLocalPath(input);
      header = await readFileWavHeader(path, await localFileSize(path));
      ffInput = { kind: 'file', path };
    } else if (input instanceof Uint8Array) {
      if (input.byteLength === 0) throw new AudioError('empty', 'input is empty (0 bytes)');
      header = tryWavHeader(input, input.byteLength);
      ffInput = { kind: 'stream', stream: bytesToStream(input) };
    } else {
      throw new TypeError('probe expects a file path or a Uint8Array');
    }

    if (header !== undefined) {
      checkWavComplete(header); // a truncated WAV is refused here; the decoders would read what there is
      checkHeaderDuration(header, opts);
      return wavInfo(header);
    }

    const described = await ffmpegProbe(ffInput, opts, signal);
    const durationSec = described.durationSec ?? (await countDuration(input, opts, signal));
    const max = opts.maxDurationSec;
    if (max !== undefined && durationSec > max) throw tooLongError(durationSec, max, 'header');
    return { ...described, durationSec };
  } finally {
    deadline.dispose();
  }
}
