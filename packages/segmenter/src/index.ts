export { EnergyDetector, HannPowerSpectrum, type EnergyDetectorOptions, type FrameDetector } from './detector.js';
export {
  SEGMENTER_SAMPLE_RATE,
  SegmentStateMachine,
  SpeechSegmenter,
  segmentSpeech,
  type SampleSource,
  type SegmenterOptions,
  type SegmenterStats,
  type SpeechSegment,
} from './segmenter.js';
export { PieceCutter, type Piece } from './pieces.js';
export { SegmenterThread, type PieceStream } from './segmenter-thread.js';
export type { StreamSpec } from './thread-protocol.js';
export { transcribeLong, type LongInput, type LongOptions, type LongProgress, type LongTranscript, type Submit } from './long.js';
export { batchingSubmit, type BatchTranscriber, type BatchedPiece, type BatchingOptions } from './submit.js';
