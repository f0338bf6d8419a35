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
  windowFunction,
  type FbankOptions,
  type Features,
  type FrameGeometry,
  type MelBank,
  type ResolvedFbankOptions,
  type WindowType,
} from './fbank.js';
export { applyLfr, lfrFrameCount, lfrOutputFrames } from './lfr.js';
export { applyCmvn } from './cmvn.js';
export { FrontEnd, type CmvnStats, type FrontEndConfig } from './frontend.js';
