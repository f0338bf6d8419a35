/** Messages between AsrEngine (main thread) and its worker thread. */
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

export type EngineRequest =
  | { type: 'transcribe'; id: number; audio: Float32Array[] }
  | { type: 'close' };

export interface ErrorInfo {
  name: string;
  message: string;
  code?: string;
}

export type EngineResponse =
  | { type: 'ready'; report: LoadReport; frameShiftSec: number; lfrN: number }
  | { type: 'failed'; error: ErrorInfo }
  | { type: 'result'; id: number; transcripts: Transcript[]; timing: BatchTiming }
  | { type: 'error'; id: number; error: ErrorInfo }
  | { type: 'closed' };
