/** Input validation shared by decode and probe. */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { AudioError } from './errors.js';
import type { AudioInput, DecodeOptions } from './types.js';

/** A Windows drive prefix (`C:`), the only colon allowed before the first path separator. */
const DRIVE = /^[A-Za-z]:$/;

/**
 * Accepts only plain local paths and returns them absolute. Anything with a colon before
 * the first path separator — every URL and ffmpeg protocol (`http:`, `concat:`, `file:`,
 * `pipe:`, `data:`, `subfile,,…:`) — is rejected up front. (ffmpeg is additionally given
 * `file:<absolute path>` and a protocol whitelist, so nothing reaches it as a URL anyway.)
 */
export function checkLocalPath(input: string): string {
  if (input.length === 0) throw new AudioError('io', 'input path is empty');
  if (input.includes('\0')) throw new AudioError('unsupported', 'input path contains a NUL byte');
  const head = input.split(/[\\/]/, 1)[0] ?? '';
  if (head.includes(':') && !DRIVE.test(head)) {
    throw new AudioError('unsupported', 'only local file paths are accepted; URLs and protocol prefixes are rejected');
  }
  return path.resolve(input);
}

/** Size of a local regular file; maps fs failures to `io` and zero bytes to `empty`. */
export async function localFileSize(absPath: string): Promise<number> {
  let size: number;
  try {
    const info = await stat(absPath);
    if (!info.isFile()) throw new AudioError('io', 'input path is not a regular file');
    size = info.size;
  } catch (err) {
    if (err instanceof AudioError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'input file not found' : `cannot read input file (${code ?? 'error'})`;
    throw new AudioError('io', what, { cause: err });
  }
  if (size === 0) throw new AudioError('empty', 'input file is empty (0 bytes)');
  return size;
}

export function isReadableInput(input: AudioInput): input is Readable {
  return input instanceof Readable || (typeof input === 'object' && input !== null && 'pipe' in input && 'readable' in input);
}

export function checkOptions(opts: DecodeOptions): void {
  const { maxDurationSec, timeoutMs } = opts;
  if (maxDurationSec !== undefined && !(maxDurationSec > 0 && Number.isFinite(maxDurationSec))) {
    throw new RangeError(`maxDurationSec must be a positive finite number, got ${maxDurationSec}`);
  }
  if (timeoutMs !== undefined && !(timeoutMs > 0 && Number.isFinite(timeoutMs))) {
    throw new RangeError(`timeoutMs must be a positive finite number, got ${timeoutMs}`);
  }
}
