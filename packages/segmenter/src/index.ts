export { EnergyDetector, type EnergyDetectorOptions, type FrameDetector } from './detector.js';
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
export { transcribeLong, type BatchTranscriber, type LongOptions, type LongProgress, type LongTranscript } from './long.js';
