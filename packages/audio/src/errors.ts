/**
 * Typed errors raised by the audio layer.
 *
 * Every failure that is the input's fault (or the environment's) is reported as an
 * {@link AudioError} with a stable `code`; callers map codes to HTTP statuses
 * (see {@link AUDIO_ERROR_HTTP_STATUS} for a suggested mapping). Messages are safe to
 * show to API clients: they never contain server paths or raw ffmpeg output — that
 * goes into `detail`, meant for logs.
 */

export type AudioErrorCode =
  /** Zero-byte input, or input that decoded to zero samples. */
  | 'empty'
  /** Not recognisable / corrupt audio. */
  | 'undecodable'
  /** Recognised but not accepted: URL input, disallowed container, no audio stream, unknown codec. */
  | 'unsupported'
  /** Longer than `maxDurationSec`. */
  | 'too_long'
  /** Local failure: file unreadable, ffmpeg missing or crashed, timeout. */
  | 'io';

/** Suggested HTTP status for each error code. */
export const AUDIO_ERROR_HTTP_STATUS: Readonly<Record<AudioErrorCode, number>> = {
  empty: 400,
  undecodable: 422,
  unsupported: 415,
  too_long: 413,
  io: 500,
};

export interface AudioErrorOptions {
  cause?: unknown;
  /** Diagnostic text for logs (e.g. the tail of ffmpeg's stderr). */
  detail?: string;
}

export class AudioError extends Error {
  override readonly name = 'AudioError';
  readonly code: AudioErrorCode;
  readonly detail: string | undefined;

  constructor(code: AudioErrorCode, message: string, options: AudioErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.detail = options.detail;
  }
}

export function isAudioError(value: unknown, code?: AudioErrorCode): value is AudioError {
  return value instanceof AudioError && (code === undefined || value.code === code);
}

export function tooLongError(durationSec: number, maxDurationSec: number, when: 'header' | 'decode'): AudioError {
  const message =
    when === 'header'
      ? `audio duration ${durationSec.toFixed(2)} s exceeds the ${maxDurationSec} s limit`
      : `audio exceeds the ${maxDurationSec} s limit (stopped decoding at ${durationSec.toFixed(2)} s)`;
  return new AudioError('too_long', message);
}

export function emptyDecodeError(): AudioError {
  return new AudioError('empty', 'audio decoded to zero samples');
}
