/**
 * The registry's `funasr-nano` kind: Fun-ASR-Nano's LLM export as sherpa-onnx ships it
 * (docs/model-contracts.md §4): per precision three graphs, and the Qwen3 tokenizer.
 *
 *   fp32: encoder_adaptor.onnx, embedding.onnx, llm.fp32.onnx (+ llm.fp32.data) or llm.onnx
 *   int8: encoder_adaptor.int8.onnx, embedding.int8.onnx, llm.int8.onnx
 *   fp16: llm.fp16.onnx with the int8 encoder_adaptor / embedding (as the fp16 archive
 *         ships them), else the fp32 ones
 *   Qwen3-0.6B/tokenizer.json (or .json.gz)
 *
 * A directory is this kind when it holds an encoder_adaptor*.onnx. Each graph's signature
 * (names, element types, ranks; the LLM's 2 × num_layers caches and deltas) and the
 * metadata sherpa-onnx reads (lfr_window_size/shift, llm_dim; vocab_size, num_layers,
 * max_total_len, a model_type with "kv_delta") are checked; a missing or wrong file fails
 * at start-up naming it.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { loadTokenizer } from '@voxfleet/tokenizer';
import type { AsrConfig, Precision } from './config.js';
import { nanoFrontEndSpec, nanoModelInfo, type NanoAudioRows, type NanoModelInfo, type NanoPositions } from './families/funasr-nano.js';
import { parseFrontEndSpec } from './frontend/spec.js';
import { modelDirectory, readManifest, servedName } from './manifest.js';
import { readOnnxInfo, type OnnxInfo, type TensorSignature } from './onnx-metadata.js';
import { ModelSpecError, specMetadata, type ModelSpec } from './registry.js';
import type { ModelVariant } from './session.js';

export interface NanoSpec {
  /** of the primary precision (fp32 when there is one) */
  info: NanoModelInfo;
  /** each precision's (the fp16 build's caches are float16) */
  byPrecision: Partial<Record<Precision, NanoModelInfo>>;
  tokenizerDir: string;
  /** audio rows spliced into the prompt: VOXFLEET_NANO_AUDIO_ROWS (all | low-frame-rate), default all */
  audioRows: NanoAudioRows;
  /** where generated tokens go in the cache: VOXFLEET_NANO_POSITIONS (sherpa | contiguous), default sherpa */
  positions: NanoPositions;
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

/** Whether `path` is a directory with an encoder_adaptor*.onnx (a Fun-ASR-Nano LLM export). */
export async function isNanoDirectory(path: string): Promise<boolean> {
  if (!(await stat(path).catch(() => undefined))?.isDirectory()) return false;
  return (await readdir(path)).some((n) => /^encoder_adaptor(\.[A-Za-z0-9]+)?\.onnx$/.test(n));
}

const describe = (sigs: TensorSignature[]): string => sigs.map((s) => `${s.name} ${s.type}[${s.dims.join(',')}]`).join(', ') || '(none)';

async function infoOf(file: string, role: string): Promise<OnnxInfo> {
  if (!(await isFile(file))) throw new ModelSpecError(file, `missing: a funasr-nano model needs its ${role} (${basename(file)})`);
  try {
    return await readOnnxInfo(file);
  } catch (err) {
    throw new ModelSpecError(file, `not a readable ONNX file (${(err as Error).message})`);
  }
}

function want(file: string, role: string, side: 'input' | 'output', sigs: TensorSignature[], i: number, name: string, types: string, rank: number): void {
  const got = sigs[i];
  if (!got || got.name !== name || !types.split('|').includes(got.type) || got.dims.length !== rank) {
    throw new ModelSpecError(file, `not a Fun-ASR-Nano ${role}: ${side} ${i + 1} should be ${name} ${types} of rank ${rank}; the graph's ${side}s are ${describe(sigs)}`);
  }
}

function checkGraphs(p: { encoderAdaptor: string; embedding: string; llm: string }, enc: OnnxInfo, emb: OnnxInfo, llm: OnnxInfo): void {
  want(p.encoderAdaptor, 'encoder_adaptor', 'input', enc.inputs, 0, 'x', 'float32', 3);
  want(p.encoderAdaptor, 'encoder_adaptor', 'output', enc.outputs, 0, 'encoder_out', 'float32|float16', 3);
  want(p.embedding, 'embedding', 'input', emb.inputs, 0, 'input_ids', 'int64', 2);
  want(p.embedding, 'embedding', 'output', emb.outputs, 0, 'embeddings', 'float32|float16', 3);
  want(p.llm, 'llm', 'input', llm.inputs, 0, 'inputs_embeds', 'float32', 3);
  want(p.llm, 'llm', 'input', llm.inputs, 1, 'attention_mask', 'int64', 2);
  want(p.llm, 'llm', 'input', llm.inputs, 2, 'cache_position', 'int64', 1);
  want(p.llm, 'llm', 'output', llm.outputs, 0, 'logits', 'float32', 3);
  const layers = (llm.inputs.length - 3) / 2;
  if (!Number.isInteger(layers) || layers < 1 || llm.outputs.length !== 1 + 2 * layers) {
    throw new ModelSpecError(p.llm, `not a Fun-ASR-Nano KV-delta llm: ${llm.inputs.length} inputs and ${llm.outputs.length} outputs (expected 3 + 2 × layers and 1 + 2 × layers)`);
  }
  const cacheType = llm.inputs[3]!.type;
  for (let i = 0; i < layers; i++) {
    want(p.llm, 'llm', 'input', llm.inputs, 3 + 2 * i, `cache_key_${i}`, cacheType, 4);
    want(p.llm, 'llm', 'input', llm.inputs, 4 + 2 * i, `cache_value_${i}`, cacheType, 4);
    want(p.llm, 'llm', 'output', llm.outputs, 1 + 2 * i, `key_delta_${i}`, cacheType, 4);
    want(p.llm, 'llm', 'output', llm.outputs, 2 + 2 * i, `value_delta_${i}`, cacheType, 4);
  }
}

/** The three graphs of each precision the directory holds. */
async function nanoVariants(dir: string): Promise<ModelVariant[]> {
  const has = async (n: string): Promise<boolean> => isFile(join(dir, n));
  const out: ModelVariant[] = [];
  const add = (precision: Precision, encoderAdaptor: string, embedding: string, llm: string): void => {
    out.push({ precision, file: join(dir, llm), nano: { encoderAdaptor: join(dir, encoderAdaptor), embedding: join(dir, embedding), llm: join(dir, llm) } });
  };
  const fp32Llm = (await has('llm.fp32.onnx')) ? 'llm.fp32.onnx' : (await has('llm.onnx')) ? 'llm.onnx' : null;
  const int8Parts = (await has('encoder_adaptor.int8.onnx')) && (await has('embedding.int8.onnx'));
  if (fp32Llm) add('fp32', 'encoder_adaptor.onnx', 'embedding.onnx', fp32Llm);
  if (await has('llm.int8.onnx')) add('int8', 'encoder_adaptor.int8.onnx', 'embedding.int8.onnx', 'llm.int8.onnx');
  if (await has('llm.fp16.onnx')) {
    if (int8Parts) add('fp16', 'encoder_adaptor.int8.onnx', 'embedding.int8.onnx', 'llm.fp16.onnx');
    else add('fp16', 'encoder_adaptor.onnx', 'embedding.onnx', 'llm.fp16.onnx');
  }
  if (out.length === 0) {
    throw new ModelSpecError(join(dir, 'llm.int8.onnx'), 'missing: a funasr-nano model needs an llm (llm.fp32.onnx, llm.onnx, llm.int8.onnx or llm.fp16.onnx) beside encoder_adaptor*.onnx');
  }
  return out;
}

export function nanoAudioRowsFromEnv(env: NodeJS.ProcessEnv = process.env): NanoAudioRows {
  const v = env.VOXFLEET_NANO_AUDIO_ROWS;
  if (v === undefined || v === '' || v === 'all') return 'all';
  if (v === 'low-frame-rate') return 'low-frame-rate';
  throw new Error(`VOXFLEET_NANO_AUDIO_ROWS must be all or low-frame-rate, got ${JSON.stringify(v)}`);
}

export function nanoPositionsFromEnv(env: NodeJS.ProcessEnv = process.env): NanoPositions {
  const v = env.VOXFLEET_NANO_POSITIONS;
  if (v === undefined || v === '' || v === 'sherpa') return 'sherpa';
  if (v === 'contiguous') return 'contiguous';
  throw new Error(`VOXFLEET_NANO_POSITIONS must be sherpa or contiguous, got ${JSON.stringify(v)}`);
}

/** A Fun-ASR-Nano directory → its spec (every precision's graphs checked, metadata from the primary one). */
export async function loadNanoSpec(config: Pick<AsrConfig, 'modelPath' | 'modelName'>): Promise<ModelSpec> {
  const dir = await modelDirectory(config.modelPath);
  const manifest = await readManifest(dir);
  const name = servedName(config.modelName, manifest, dir);
  const variants = await nanoVariants(dir);
  const infos = new Map<ModelVariant, NanoModelInfo>();
  let primaryEnc: OnnxInfo | undefined;
  let primaryLlm: OnnxInfo | undefined;
  for (const v of variants) {
    const p = v.nano!;
    const enc = await infoOf(p.encoderAdaptor, 'encoder_adaptor');
    const emb = await infoOf(p.embedding, 'embedding');
    const llm = await infoOf(p.llm, 'llm');
    checkGraphs(p, enc, emb, llm);
    const info: NanoModelInfo = specMetadata(p.llm, () => nanoModelInfo(enc.metadata, llm.metadata, { type: llm.inputs[3]!.type, dims: llm.inputs[3]!.dims }));
    const layers = (llm.inputs.length - 3) / 2;
    if (info.numLayers !== layers) throw new ModelSpecError(p.llm, `metadata num_layers ${info.numLayers} but the graph has ${layers} cache pairs`);
    const vocab = llm.outputs[0]!.dims[2];
    if (typeof vocab === 'number' && vocab !== info.vocabSize) throw new ModelSpecError(p.llm, `logits have ${vocab} values per row but metadata vocab_size is ${info.vocabSize}`);
    const encDim = enc.outputs[0]!.dims[2];
    if (typeof encDim === 'number' && encDim !== info.hiddenSize) throw new ModelSpecError(p.encoderAdaptor, `encoder_out has ${encDim} values per row but metadata llm_dim is ${info.hiddenSize}`);
    const embDim = emb.outputs[0]!.dims[2];
    if (typeof embDim === 'number' && embDim !== info.hiddenSize) throw new ModelSpecError(p.embedding, `embeddings have ${embDim} values per row, the encoder ${info.hiddenSize}`);
    infos.set(v, info);
    if (!primaryEnc) {
      primaryEnc = enc;
      primaryLlm = llm;
    }
  }
  const tokenizerDir = join(dir, 'Qwen3-0.6B');
  try {
    await loadTokenizer(tokenizerDir);
  } catch (err) {
    throw new ModelSpecError(tokenizerDir, `the Qwen3 tokenizer cannot be loaded: ${(err as Error).message}`);
  }
  const primary = variants.find((v) => v.precision === 'fp32') ?? variants[0]!;
  const info = infos.get(primary)!;
  return {
    name,
    aliases: manifest.aliases,
    kind: 'funasr-nano',
    dir,
    variants,
    tokensFile: null,
    languages: manifest.languages ?? ['auto', 'zh', 'en', 'ja'],
    options: { language: true, itn: true, hotwords: true },
    frontEnd: parseFrontEndSpec(nanoFrontEndSpec(info)),
    decoder: 'llm-greedy',
    timestamps: 'none',
    maxBatch: Infinity,
    metadata: { ...primaryLlm!.metadata, ...primaryEnc!.metadata },
    signature: { inputs: primaryLlm!.inputs, outputs: primaryLlm!.outputs },
    nano: { info, byPrecision: Object.fromEntries([...infos].map(([v, i]) => [v.precision, i])), tokenizerDir, audioRows: nanoAudioRowsFromEnv(), positions: nanoPositionsFromEnv() },
  };
}
