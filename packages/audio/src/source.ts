/**
 * Turns an input (path, bytes or stream) into either an in-process WAV reader or an
 * ffmpeg input, after validation and the header-based duration check.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { Readable, Transform, pipeline } from 'node:stream';
import { AudioError, tooLongError } from './errors.js';
import type { FfmpegInput } from './ffmpeg-job.js';
import { checkLocalPath, isReadableInput, localFileSize } from './input.js';
import { SAMPLE_RATE, type AudioInput, type DecodeOptions } from './types.js';
import { InvalidWavError, looksLikeWav, parseWavHeader, type WavHeader } from './wav.js';

/** Enough for the header of any ordinary WAV file; longer headers go through ffmpeg. */
const WAV_HEADER_PREFIX = 64 * 1024;

export interface WavSource {
  kind: 'wav';
  header: WavHeader;
  /** Sample bytes of `frames` frames starting at `startFrame` (fewer if the input is shorter). */
  read(startFrame: number, frames: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface FfmpegSource {
  kind: 'ffmpeg';
  input: FfmpegInput;
  /** Bytes of input consumed so far (streams only). */
  bytesRead?: () => number;
  /** Registers a callback for a failure of the caller's input stream (streams only). */
  onInputError?: (callback: (err: Error) => void) => void;
  close(): Promise<void>;
}

export type Source = WavSource | FfmpegSource;

/** Header of a WAV input, or undefined when it is not a WAV the in-process reader handles; throws InvalidWavError for an impossible one. */
export function tryWavHeader(prefix: Uint8Array, totalSize: number): WavHeader | undefined {
  if (!looksLikeWav(prefix)) return undefined;
  try {
    return parseWavHeader(prefix, totalSize);
  } catch (err) {
    if (err instanceof InvalidWavError) throw err; // impossible values: nothing to hand to ffmpeg
    return undefined; // malformed or exotic: let ffmpeg have a go
  }
}

export async function readFileWavHeader(absPath: string, size: number): Promise<WavHeader | undefined> {
  const handle = await openForRead(absPath);
  try {
    const prefix = Buffer.alloc(Math.min(size, WAV_HEADER_PREFIX));
    const { bytesRead } = await handle.read(prefix, 0, prefix.length, 0);
    return tryWavHeader(prefix.subarray(0, bytesRead), size);
  } finally {
    await handle.close();
  }
}

async function openForRead(absPath: string): Promise<FileHandle> {
  try {
    return await open(absPath, 'r');
  } catch (cause) {
    throw new AudioError('io', 'cannot open input file', { cause });
  }
}

export function checkHeaderDuration(header: WavHeader, opts: DecodeOptions): void {
  if (header.frames === 0) throw new AudioError('empty', 'WAV file contains no audio frames');
  const max = opts.maxDurationSec;
  if (max !== undefined && header.durationSec > max) throw tooLongError(header.durationSec, max, 'header');
}

export function bytesToStream(bytes: Uint8Array): Readable {
  return Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)], { objectMode: false });
}

function countingStream(input: Readable): FfmpegSource {
  let count = 0;
  let failure: Error | undefined;
  let notify: ((err: Error) => void) | undefined;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      count += chunk.length;
      callback(null, chunk);
    },
  });
  // The caller's stream may fail before ffmpeg is even running; remember and report it.
  pipeline(input, counter, (err) => {
    if (err && failure === undefined) {
      failure = err;
      notify?.(err);
    }
  });
  return {
    kind: 'ffmpeg',
    input: { kind: 'stream', stream: counter },
    bytesRead: () => count,
    onInputError(callback) {
      notify = callback;
      if (failure !== undefined) callback(failure);
    },
    async close() {
      if (!counter.destroyed) counter.destroy(); // also releases the caller's stream
    },
  };
}

/** Resolves where the samples come from. Checks emptiness and header duration first. */
export async function openSource(input: AudioInput, opts: DecodeOptions): Promise<Source> {
  const fastPath = opts.wavFastPath !== false;

  if (typeof input === 'string') {
    const absPath = checkLocalPath(input);
    const size = await localFileSize(absPath);
    const header = await readFileWavHeader(absPath, size);
    if (header !== undefined) checkHeaderDuration(header, opts);
    if (header === undefined || !fastPath || header.sampleRate !== SAMPLE_RATE) {
      return { kind: 'ffmpeg', input: { kind: 'file', path: absPath }, close: async () => {} };
    }
    const handle = await openForRead(absPath);
    return {
      kind: 'wav',
      header,
      async read(startFrame, frames) {
        const length = frames * header.blockAlign;
        const buffer = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buffer, 0, length, header.dataOffset + startFrame * header.blockAlign);
        return buffer.subarray(0, bytesRead - (bytesRead % header.blockAlign));
      },
      close: () => handle.close(),
    };
  }

  if (input instanceof Uint8Array) {
    if (input.byteLength === 0) throw new AudioError('empty', 'input is empty (0 bytes)');
    const header = tryWavHeader(input, input.byteLength);
    if (header !== undefined) checkHeaderDuration(header, opts);
    if (header === undefined || !fastPath || header.sampleRate !== SAMPLE_RATE) {
      return { kind: 'ffmpeg', input: { kind: 'stream', stream: bytesToStream(input) }, close: async () => {} };
    }
    return {
      kind: 'wav',
      header,
      async read(startFrame, frames) {
        const start = header.dataOffset + startFrame * header.blockAlign;
        return input.subarray(start, Math.min(start + frames * header.blockAlign, header.dataOffset + header.frames * header.blockAlign));
      },
      close: async () => {},
    };
  }

  if (isReadableInput(input)) return countingStream(input);
  throw new TypeError('audio input must be a file path, a Uint8Array or a Readable stream');
}
