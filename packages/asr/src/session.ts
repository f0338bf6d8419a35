/**
 * ONNX Runtime sessions: which model files a model directory offers (one per
 * precision), how to open one on an execution provider, and clear errors when
 * a provider or precision cannot run.
 */
import { readFile, stat, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Precision, Provider } from './config.js';
import { signInt8Weights, signedInt8Exact } from './int8-weights.js';

export interface ModelVariant {
  precision: Precision;
  /** the model file (a transducer's: its encoder) */
  file: string;
  /** a transducer's three graphs of this precision */
  parts?: { encoder: string; decoder: string; joiner: string };
  /** Fun-ASR-Nano's three graphs of this precision */
  nano?: { encoderAdaptor: string; embedding: string; llm: string };
  /** Whisper's two graphs of this precision ({name}-encoder / {name}-decoder) */
  whisper?: { encoder: string; decoder: string };
}

/** A change made to a model's bytes before its session is created (for its load report), or null for none. */
export type ModelRewrite = (bytes: Uint8Array) => string | null;

export class EngineSetupError extends Error {
  override readonly name = 'EngineSetupError';
  constructor(
    readonly code: 'model_not_found' | 'precision_unavailable' | 'provider_unavailable' | 'bad_model',
    message: string,
  ) {
    super(message);
  }
}

const FILE_PRECISION: [RegExp, Precision][] = [
  [/\.(fp16|f16|half)\.onnx$/i, 'fp16'],
  [/\.(int8|q8|quant)\.onnx$/i, 'int8'],
  [/\.onnx$/i, 'fp32'],
];

export function precisionOfFile(file: string): Precision {
  for (const [re, p] of FILE_PRECISION) if (re.test(file)) return p;
  return 'fp32';
}

/** The model files of a directory (or the one file given), one per precision. */
export async function listVariants(modelPath: string): Promise<ModelVariant[]> {
  let st;
  try {
    st = await stat(modelPath);
  } catch {
    throw new EngineSetupError('model_not_found', `model path ${modelPath} does not exist`);
  }
  if (st.isFile()) return [{ precision: precisionOfFile(modelPath), file: modelPath }];
  const byPrecision = new Map<Precision, string>();
  for (const name of (await readdir(modelPath)).sort()) {
    if (!name.endsWith('.onnx')) continue;
    const p = precisionOfFile(name);
    if (!byPrecision.has(p) || basename(name) === 'model.onnx') byPrecision.set(p, join(modelPath, name));
  }
  if (byPrecision.size === 0) throw new EngineSetupError('model_not_found', `no .onnx file in ${modelPath}`);
  return [...byPrecision].map(([precision, file]) => ({ precision, file }));
}

const PROVIDER_HINT: Record<Provider, string> = {
  cpu: '',
  webgpu:
    'onnxruntime-node bundles WebGPU (Dawn); it needs a GPU adapter with a working Vulkan driver (e.g. the NVIDIA driver with its Vulkan ICD, or mesa-vulkan-drivers).',
  cuda:
    'onnxruntime-node ships without the CUDA execution provider: on a machine with an NVIDIA driver, CUDA 12 and cuDNN 9, reinstall it with `npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12` (the project .npmrc skips that download by default).',
};

export interface SessionOptions {
  threads: number;
  deviceId: number;
  /** see config.ts (default auto) */
  int8Weights?: 'auto' | 'asis';
  /** onnxruntime's graph optimisation level (default all); a backend may measure the levels of one graph (Whisper's decoder) */
  graphOptimization?: GraphOptimization;
}

export const GRAPH_OPTIMIZATIONS = ['all', 'extended', 'basic', 'disabled'] as const;
export type GraphOptimization = (typeof GRAPH_OPTIMIZATIONS)[number];

/** what was done to a session's weights at load (int8 re-signing), for its load report */
const notes = new WeakMap<ort.InferenceSession, string>();
/** `{ weights }` for a LoadReport when something was done to the session's weights at load, else nothing */
export function weightsNote(session: ort.InferenceSession): { weights?: string } {
  const note = notes.get(session);
  return note ? { weights: note } : {};
}

export async function openSession(
  variant: ModelVariant,
  provider: Provider,
  opts: SessionOptions,
  rewrite?: ModelRewrite,
): Promise<ort.InferenceSession> {
  const ep: ort.InferenceSession.ExecutionProviderConfig =
    provider === 'cuda' ? { name: 'cuda', deviceId: opts.deviceId } : provider;
  try {
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: [ep],
      graphOptimizationLevel: opts.graphOptimization ?? 'all',
      ...(opts.threads > 0 ? { intraOpNumThreads: opts.threads } : {}),
      interOpNumThreads: 1,
    };
    // int8 on the CPU: uint8 MatMul weights re-signed in memory where u8×s8 kernels are exact (int8-weights.ts)
    const sign = provider === 'cpu' && variant.precision === 'int8' && (opts.int8Weights ?? 'auto') === 'auto' && signedInt8Exact();
    if (sign || rewrite) {
      let bytes: Uint8Array = await readFile(variant.file);
      const said: string[] = [];
      const signed = sign ? signInt8Weights(bytes) : null;
      if (signed) {
        bytes = signed.bytes;
        said.push(`uint8 weights of ${signed.nodes} integer MatMuls re-signed to int8 at load (exact on this CPU's VNNI/AMX; VOXFLEET_INT8_WEIGHTS=asis to keep them)`);
      }
      const note = rewrite?.(bytes);
      if (note) said.push(note);
      if (said.length > 0) {
        const session = await ort.InferenceSession.create(bytes, options);
        notes.set(session, said.join('; '));
        return session;
      }
    }
    return await ort.InferenceSession.create(variant.file, options);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (provider !== 'cpu') {
      throw new EngineSetupError(
        'provider_unavailable',
        `execution provider "${provider}" cannot run ${basename(variant.file)}: ${msg}. ${PROVIDER_HINT[provider]}`,
      );
    }
    throw new EngineSetupError('bad_model', `cannot load ${variant.file}: ${msg}`);
  }
}
