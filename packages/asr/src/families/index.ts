/**
 * The production model families' pure pieces: tokens.txt, metadata -> front-end spec, and
 * decoders that reproduce sherpa-onnx's results (no ONNX Runtime here; gateway-safe).
 */
export { ModelMetadataError, metaFloats, metaInt, type OnnxMetadata } from './meta.js';
export {
  buildTranscript,
  checkRows,
  concatBytes,
  jsonToken,
  sherpaFixed2,
  sherpaFrameShift,
  sherpaFrameTime,
  sherpaJsonView,
  type CtcRows,
  type FamilyTranscript,
  type SherpaResult,
  type TimedPiece,
  type TranscriptOptions,
} from './result.js';
export {
  SymbolTable,
  TokensFormatError,
  UnsupportedVocabularyError,
  decodeBase64Symbol,
  decodeUtf8,
  sherpaText,
  type SymbolTableOptions,
} from './symbols.js';
export {
  SENSE_VOICE_QUERY_FRAMES,
  decodeSenseVoice,
  senseVoiceFrontEndSpec,
  senseVoiceLogitFrames,
  senseVoiceModelInfo,
  type SenseVoiceModelInfo,
  type SenseVoiceTranscript,
} from './sensevoice.js';
export {
  PARAFORMER_PEAK_SHIFT,
  PARAFORMER_PEAK_THRESHOLD,
  decodeParaformer,
  paraformerEosId,
  paraformerFrontEndSpec,
  paraformerModelInfo,
  type CifPeaks,
  type ParaformerModelInfo,
  type ParaformerRows,
  type ParaformerTranscript,
} from './paraformer.js';
export {
  ctcBlankId,
  decodeNemoCtc,
  nemoCtcFrontEndSpec,
  nemoCtcLogitFrames,
  nemoCtcModelInfo,
  type NemoCtcModelInfo,
} from './nemo-ctc.js';
export {
  TDT_MAX_TOKENS_PER_FRAME,
  TdtSearch,
  checkTransducerTokens,
  nemoTransducerEncoderFrames,
  nemoTransducerFrontEndSpec,
  nemoTransducerModelInfo,
  removeSpaceBetweenCjk,
  tdtTranscript,
  type NemoTransducerModelInfo,
  type TdtTranscript,
} from './nemo-transducer.js';
