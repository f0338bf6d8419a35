export { ComplexFft, RealFft } from './fft.js';
export {
  DEFAULT_FBANK_OPTIONS,
  FLOAT32_EPSILON,
  FbankComputer,
  computeFbank,
  fbankFrameCount,
  frameSizes,
  getFbankComputer,
  melFilterbank,
  melScale,
  resolveFbankOptions,
  slaneyMelFilterbank,
  windowFunction,
  type FbankOptions,
  type Features,
  type FrameGeometry,
  type MelBank,
  type MelType,
  type ResolvedFbankOptions,
  type WindowType,
} from './fbank.js';
export { applyLfr, lfrFrameCount, lfrOutputFrames, type LfrPadding } from './lfr.js';
export { normalizePerFeature, PER_FEATURE_EPSILON } from './normalize.js';
export {
  FUNASR_FBANK,
  FrontEndSpecError,
  NEMO_FBANK,
  createFrontEnd,
  fbankOptionsOf,
  frontEndSpecSchema,
  parseFrontEndSpec,
  type FbankSpec,
  type FeatureLayout,
  type FrontEndFeatures,
  type FrontEndSpec,
  type FrontEndSpecInput,
  type FunAsrFrontEndSpec,
  type NemoFrontEndSpec,
  type SpecFrontEnd,
  type WhisperFrontEndSpec,
} from './spec.js';
export { BluesteinPower, WhisperLogMel, whisperFrameCount, type WhisperFeatures } from './whisper.js';
export { applyCmvn } from './cmvn.js';
export { FrontEnd, type CmvnStats, type FrontEndConfig } from './frontend.js';
