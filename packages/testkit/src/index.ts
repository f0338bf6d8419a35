/** @voxfleet/testkit: helpers shared by tests and benchmarks (never imported at run time, never imports apps/*). */
export { rng, concatWithGaps, type Placed } from './signals.js';
export { startRedis, hstat, type RedisOptions, type TestRedis } from './redis.js';
export { lossyProxy, type LossyProxy } from './lossy-proxy.js';
export { startSentinelRedis, type SentinelNode, type TestSentinelRedis } from './sentinel.js';
export { freePort, stopProcess, baseEnv, spawnWorker, spawnGateway, stopStack, quietLogger, type SpawnOptions, type TestGatewayProcess, type TestWorker } from './processes.js';
export { startGatewayWith, type StartGateway } from './gateway.js';
export { Client } from './http.js';
export { FIXTURES, CLIP, wavBytes, fixtureSamples, distinctClips } from './audio.js';
export { ffmpegEncode, encodeFile } from './ffmpeg.js';
export { zipOf, tarOf, patchBytes, unzip, overlappingZip, type ArchiveItem, type OverlapOptions } from './archives.js';
export { copyDir, filesUnder } from './files.js';
export { rawHttp, multipartBody, filePartHeaders, type RawRequest, type RawResponse, type RawStep } from './raw-http.js';
export { ensureTestGraph, onnxTools, syntheticFeatures, testGraphSourceHash, SINGLE_FILE_TEST_GRAPH_KINDS, TEST_GRAPH_KINDS, type SingleFileTestGraphKind, type TestGraphKind, type TestGraphSize } from './testgraphs.js';
export { sherpaTranscribe, sherpaVersion, SherpaRecognizer, type SherpaKind, type SherpaOptions, type SherpaResult } from './sherpa.js';
export { SherpaWhisper, whisperExportName, type SherpaWhisperOptions, type SherpaWhisperResult } from './sherpa-whisper.js';
export { identityOnnx, type OnnxTensorSpec } from './onnx.js';
export { startS3, S3RVER_KEY, type S3Options, type TestS3 } from './s3.js';
export { createNetwork, netnsUnavailable, IP, type ExecResult, type NetnsHost, type TestNetwork } from './netns.js';
