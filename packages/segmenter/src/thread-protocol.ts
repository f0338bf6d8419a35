/** Messages between SegmenterThread (main thread) and the segmenter's worker thread (thread.ts). */
import type { ErrorInfo } from '@voxfleet/asr/engine-protocol';
import type { StreamOptions } from '@voxfleet/audio';
import type { Piece } from './pieces.js';
import type { SegmenterOptions, SegmenterStats } from './segmenter.js';

/** One stream for the thread to decode and cut: everything must survive structured cloning. */
export interface StreamSpec {
  /** a local path, or the bytes (copied to the thread) */
  input: string | Uint8Array;
  /** decodeStream options (the thread owns the abort signal) */
  decode: Omit<StreamOptions, 'signal'>;
  /** segmenter options (a custom `detector` cannot cross threads: use transcribeLong's inProcess) */
  segmenter: Omit<SegmenterOptions, 'detector'>;
}

export type SegmenterRequest =
  | { type: 'open'; id: number; spec: StreamSpec }
  /** produce the next piece of stream `id` (one pull at a time per stream: backpressure) */
  | { type: 'pull'; id: number }
  /** stop stream `id` (kills its ffmpeg); nothing more is sent for it */
  | { type: 'cancel'; id: number }
  | { type: 'close' };

export type SegmenterResponse =
  | { type: 'ready' }
  /** `piece.samples`' buffer is transferred */
  | { type: 'piece'; id: number; piece: Piece; decodedSamples: number }
  | { type: 'end'; id: number; stats: SegmenterStats; decodedSamples: number }
  | { type: 'error'; id: number; error: ErrorInfo }
  | { type: 'closed' };
