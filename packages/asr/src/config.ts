/**
 * The engine's one typed configuration (model, execution provider, precision,
 * threads), validated with zod and built from the environment in one place.
 */
import { z } from 'zod';

export const PROVIDERS = ['cpu', 'webgpu', 'cuda'] as const;
export const PRECISIONS = ['fp32', 'fp16', 'int8'] as const;
export type Provider = (typeof PROVIDERS)[number];
export type Precision = (typeof PRECISIONS)[number];

export const asrConfigSchema = z.object({
  /** a model directory (model.onnx, model.fp16.onnx, model.int8.onnx) or one .onnx file */
  modelPath: z.string().min(1),
  /** the name the model is served under (part of its identity; default: its ONNX model_id, or the file name) */
  modelName: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'model names use letters, digits, ".", "_" and "-"').optional(),
  provider: z.enum([...PROVIDERS, 'auto']).default('auto'),
  precision: z.enum([...PRECISIONS, 'auto']).default('auto'),
  /** intra-op threads for the CPU provider; 0 lets onnxruntime decide */
  threads: z.number().int().min(0).max(256).default(0),
  /**
   * int8 graphs on the CPU provider: `auto` re-signs dynamically quantized uint8 MatMul weights to int8 in memory
   * at load where the CPU has VNNI or AMX (bit-identical outputs, onnxruntime's faster u8×s8 kernels; int8-weights.ts);
   * `asis` runs the file's weights as they are
   */
  int8Weights: z.enum(['auto', 'asis']).default('auto'),
  /** device index for GPU providers (one worker process per GPU) */
  deviceId: z.number().int().min(0).default(0),
  /** a pause at least this long starts a new transcript segment */
  segmentGapSec: z.number().positive().default(0.6),
  maxSegmentSec: z.number().positive().default(10),
  /** auto: beam search with the model directory's LM (decoder.json) when it has one, else greedy */
  decoder: z.enum(['auto', 'greedy', 'beam']).default('auto'),
  /** an ARPA file (plain or .gz) overriding decoder.json's; "none" for beam search without LM */
  lmPath: z.string().min(1).optional(),
  lmAlpha: z.number().min(0).optional(),
  lmBeta: z.number().optional(),
  beamWidth: z.number().int().min(1).max(1024).optional(),
  /** Whisper: segment timestamps (timestamp tokens decoded into segments) instead of <|notimestamps|> (sherpa-onnx's default) */
  whisperTimestamps: z.boolean().default(false),
  /** Whisper: transcribe, or translate into English (multilingual models) */
  whisperTask: z.enum(['transcribe', 'translate']).default('transcribe'),
  /** Whisper: decoder steps of a batch's sequences in one call (on), one sequence at a time (off), or the faster of the two on a calibration batch at load (auto) */
  whisperBatch: z.enum(['auto', 'on', 'off']).default('auto'),
  /**
   * Whisper: onnxruntime's graph optimisation level for the decoder. `auto` times the calibration batch with the
   * decoder opened at all, basic and disabled and keeps the fastest: on this project's 2-core CPU the full-size base
   * decoder steps faster at basic (fp32) and disabled (int8) than at all — the fusions of the higher levels do not
   * pay for a one-token step (BENCHMARKS.md); the encoder stays at all, where they do
   */
  whisperDecoderOpt: z.enum(['auto', 'all', 'extended', 'basic', 'disabled']).default('auto'),
  /**
   * Parakeet TDT: `batched` runs the joiner and decoder steps of a batch's utterances in one call each;
   * `sequential` searches each utterance on its own, as sherpa-onnx does (the encoder still runs once per batch);
   * `auto` times both on a calibration batch at load and keeps the faster
   */
  tdtSearch: z.enum(['auto', 'batched', 'sequential']).default('auto'),
  /** Fun-ASR-Nano: LLM steps of a batch's sequences in one call (on), one sequence at a time (off), or the faster of the two measured at load (auto) */
  nanoBatch: z.enum(['auto', 'on', 'off']).default('auto'),
  /**
   * Fun-ASR-Nano: VoxFleet's repetition guard (on) stops a sequence whose tail loops; off decodes to the
   * stop token or the position budget as sherpa-onnx does (for comparing with it on equal work)
   */
  nanoRepetitionGuard: z.enum(['on', 'off']).default('on'),
});

export type AsrConfig = z.infer<typeof asrConfigSchema>;
export type AsrConfigInput = z.input<typeof asrConfigSchema>;

export const DEFAULT_MODEL_DIR = new URL('../../../models/voxfleet-en-char-ctc/', import.meta.url).pathname;

/**
 * One engine configuration per model a worker holds: VOXFLEET_MODEL may list
 * several model paths separated by commas (VOXFLEET_MODEL_NAME then names
 * only one of them: it is refused with several).
 */
export function asrConfigsFromEnv(env: NodeJS.ProcessEnv = process.env): AsrConfig[] {
  const paths = (env.VOXFLEET_MODEL || DEFAULT_MODEL_DIR).split(',').map((p) => p.trim()).filter(Boolean);
  if (paths.length > 1 && env.VOXFLEET_MODEL_NAME) throw new Error('VOXFLEET_MODEL_NAME names one model; with several in VOXFLEET_MODEL, give each directory a voxfleet-model.json instead');
  return paths.map((modelPath) => asrConfigFromEnv(env, { modelPath }));
}

/**
 * Reads VOXFLEET_MODEL, VOXFLEET_MODEL_NAME, VOXFLEET_PROVIDER, VOXFLEET_PRECISION, VOXFLEET_THREADS, VOXFLEET_DEVICE_ID,
 * VOXFLEET_INT8_WEIGHTS, VOXFLEET_DECODER, VOXFLEET_LM, VOXFLEET_LM_ALPHA, VOXFLEET_LM_BETA, VOXFLEET_BEAM_WIDTH,
 * VOXFLEET_WHISPER_TIMESTAMPS (on/off), VOXFLEET_WHISPER_TASK (transcribe/translate),
 * VOXFLEET_WHISPER_BATCH, VOXFLEET_WHISPER_DECODER_OPT (auto/all/extended/basic/disabled), VOXFLEET_TDT_SEARCH (auto/batched/sequential), VOXFLEET_NANO_BATCH (auto/on/off), VOXFLEET_NANO_REPETITION_GUARD (on/off).
 */
export function asrConfigFromEnv(env: NodeJS.ProcessEnv = process.env, overrides: Partial<AsrConfigInput> = {}): AsrConfig {
  const num = (v: string | undefined): number | undefined => (v === undefined || v === '' ? undefined : Number(v));
  return asrConfigSchema.parse({
    modelPath: env.VOXFLEET_MODEL || DEFAULT_MODEL_DIR,
    modelName: env.VOXFLEET_MODEL_NAME || undefined,
    provider: env.VOXFLEET_PROVIDER || undefined,
    precision: env.VOXFLEET_PRECISION || undefined,
    threads: num(env.VOXFLEET_THREADS),
    deviceId: num(env.VOXFLEET_DEVICE_ID),
    int8Weights: env.VOXFLEET_INT8_WEIGHTS || undefined,
    decoder: env.VOXFLEET_DECODER || undefined,
    lmPath: env.VOXFLEET_LM || undefined,
    lmAlpha: num(env.VOXFLEET_LM_ALPHA),
    lmBeta: num(env.VOXFLEET_LM_BETA),
    beamWidth: num(env.VOXFLEET_BEAM_WIDTH),
    whisperTimestamps: env.VOXFLEET_WHISPER_TIMESTAMPS ? ['1', 'on', 'true', 'yes'].includes(env.VOXFLEET_WHISPER_TIMESTAMPS.toLowerCase()) : undefined,
    whisperTask: env.VOXFLEET_WHISPER_TASK || undefined,
    whisperBatch: env.VOXFLEET_WHISPER_BATCH || undefined,
    whisperDecoderOpt: env.VOXFLEET_WHISPER_DECODER_OPT || undefined,
    tdtSearch: env.VOXFLEET_TDT_SEARCH || undefined,
    nanoBatch: env.VOXFLEET_NANO_BATCH || undefined,
    nanoRepetitionGuard: env.VOXFLEET_NANO_REPETITION_GUARD || undefined,
    ...overrides,
  });
}
