/**
 * The error codes a client can see in a job's `error.code`, the same whether
 * the gateway found the problem (at upload) or a worker did (while
 * transcribing). apps/gateway/README.md lists them.
 */
import type { AudioErrorCode } from '@voxfleet/audio';

/** An audio problem, by the audio layer's code. */
export const AUDIO_ERROR_CODES = {
  empty: 'empty_audio',
  undecodable: 'undecodable_audio',
  unsupported: 'unsupported_audio',
  too_long: 'audio_too_long',
  io: 'audio_io_error',
} as const satisfies Record<AudioErrorCode, string>;

export type AudioErrorApiCode = (typeof AUDIO_ERROR_CODES)[AudioErrorCode];

/** Codes of a task's failure (besides the audio ones). */
export const TASK_ERROR_CODES = {
  /** the blob was deleted (retention, or erased) before a worker read it */
  blobMissing: 'blob_missing',
  /** transcription failed on every attempt (the message says why) */
  processingFailed: 'processing_failed',
  /** the task left the queue without an outcome (its records expired) */
  lost: 'lost',
  /** the shared task was cancelled by the other jobs that wanted it */
  taskCancelled: 'task_cancelled',
  /** the payload could not be read (a gateway and worker of incompatible versions) */
  invalidPayload: 'invalid_payload',
  /** the task was keyed for a model no worker took up within VOXFLEET_MODEL_WAIT_SEC */
  modelUnavailable: 'model_unavailable',
  /** a language the model does not know (when it takes a language) */
  unsupportedLanguage: 'unsupported_language',
  /** an option the model does not have (itn on a model without inverse text normalisation) */
  unsupportedOption: 'unsupported_option',
} as const;

export type TaskErrorCode = AudioErrorApiCode | (typeof TASK_ERROR_CODES)[keyof typeof TASK_ERROR_CODES];

/** Audio errors that no retry can fix. */
export const PERMANENT_AUDIO_ERRORS: ReadonlySet<AudioErrorCode> = new Set(['empty', 'undecodable', 'unsupported', 'too_long']);
