/** Messages between AsrEngine (main thread) and its worker thread; `errorInfo` also serves the segmenter's thread. */
import type { LoadReport } from './ctc-model.js';
import type { Transcript } from './ctc.js';

export interface BatchTiming {
  frontEndMs: number;
  inferenceMs: number;
  /** batch size × longest utterance, in model frames */
  paddedFrames: number;
  /** sum of real frames */
  frames: number;
}

/** Per-utterance job options (SenseVoice: language, ITN); absent: the model's defaults. */
export interface UtteranceOptions {
  language: string | null;
  itn: boolean | null;
  /** Fun-ASR-Nano: hotwords for its prompt (absent or null: none) */
  hotwords?: string[] | null;
}

export type EngineRequest =
  | { type: 'transcribe'; id: number; audio: Float32Array[]; options?: UtteranceOptions[] }
  | { type: 'close' };

/** How the main thread counts an utterance's model frames (the batcher's cost) without the model. */
export type FrameCost =
  /** LFR frames of stride n over 10 ms fbank frames (FunASR front-ends) */
  | { kind: 'lfr'; n: number }
  /** 10 ms frames subsampled by `factor` (NeMo) */
  | { kind: 'subsampled'; factor: number };

/** An error as it crosses a thread boundary (an Error's class and extra fields do not survive postMessage). */
export interface ErrorInfo {
  name: string;
  message: string;
  code?: string;
  /** diagnostic text for logs (AudioError's `detail`) */
  detail?: string;
}

/** What a worker thread posts for an error: its name, message, and `code` / `detail` when they are strings. */
export function errorInfo(err: unknown): ErrorInfo {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const { code, detail } = err as { code?: unknown; detail?: unknown };
  return { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}), ...(typeof detail === 'string' ? { detail } : {}) };
}

export type EngineResponse =
  /** concurrent: requests may run side by side in the thread (a backend whose decoding loop takes in later requests' sequences: Fun-ASR-Nano) */
  | { type: 'ready'; report: LoadReport; cost: FrameCost; concurrent: boolean }
  | { type: 'failed'; error: ErrorInfo }
  | { type: 'result'; id: number; transcripts: Transcript[]; timing: BatchTiming }
  | { type: 'error'; id: number; error: ErrorInfo }
  | { type: 'closed' };
