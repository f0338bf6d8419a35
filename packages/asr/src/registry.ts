/**
 * The model registry: a model directory is recognised by its files and its
 * ONNX signature and metadata (`model_type`, `comment`, input and output
 * names), plus an optional manifest (voxfleet-model.json: name, aliases,
 * languages). The result is one typed, validated spec per model — kind,
 * files per precision, tokens, languages, front-end, decoder — printed at
 * start. A directory that is not a model VoxFleet can serve fails here, at
 * start-up, with the file and what is wrong with it.
 *
 * Kinds (signatures from docs/model-contracts.md, checked against sherpa-onnx):
 * - `voxfleet-ctc`: VoxFleet's own CTC model: `x` [N,T,D], `x_length` → `logits`;
 * - `sense-voice`: `x`, `x_length`, `language`, `text_norm` → `logits` [N,T+4,V] (model_type sense_voice_ctc);
 * - `funasr-nano-ctc`: the Fun-ASR-Nano CTC export: `x` [1,T,560] → `logits` (sense_voice_ctc, comment contains "Nano");
 * - `paraformer`: `speech`, `speech_lengths` → `logits`, `token_num` (+ `us_alphas`, `us_cif_peak` with timestamps);
 * - `nemo-ctc`: `audio_signal` [N,80,T], `length` → `logprobs` (NeMo EncDec… CTC export).
 */
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { AsrConfig, Precision } from './config.js';
import {
  ModelMetadataError,
  SymbolTable,
  nemoCtcFrontEndSpec,
  nemoCtcModelInfo,
  paraformerFrontEndSpec,
  paraformerModelInfo,
  senseVoiceFrontEndSpec,
  senseVoiceModelInfo,
} from './families/index.js';
import { parseFrontEndSpec, type FrontEndSpec } from './frontend/spec.js';
import { modelDirectory, readManifest, servedName } from './manifest.js';
import { readOnnxInfo, type OnnxInfo, type TensorSignature } from './onnx-metadata.js';
import { listVariants, type ModelVariant } from './session.js';

export const MODEL_KINDS = ['voxfleet-ctc', 'sense-voice', 'funasr-nano-ctc', 'paraformer', 'nemo-ctc'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

export interface ModelSpec {
  name: string;
  aliases: string[];
  kind: ModelKind;
  dir: string;
  /** one ONNX file per precision */
  variants: ModelVariant[];
  /** tokens.txt (null: the vocabulary is in the metadata) */
  tokensFile: string | null;
  /** languages a job may ask for ('auto' first when the model detects them) */
  languages: string[];
  /** job options the model takes: `language` picks its language input; `itn` its inverse text normalisation */
  options: { language: boolean; itn: boolean };
  /** the front-end (null for voxfleet-ctc, whose front-end is built from its metadata by CtcModel) */
  frontEnd: FrontEndSpec | null;
  /** greedy CTC, CTC prefix beam search (voxfleet-ctc with an LM), or Paraformer's per-row argmax */
  decoder: 'ctc-greedy' | 'ctc-beam' | 'paraformer';
  /** token timestamps: from CTC frames, from CIF peaks (Paraformer with 4 outputs), or none (they span the utterance) */
  timestamps: 'frames' | 'cif-peaks' | 'none';
  /** largest batch the graph takes (Nano CTC: 1) */
  maxBatch: number;
  metadata: Record<string, string>;
  signature: Pick<OnnxInfo, 'inputs' | 'outputs'>;
}

/** A model directory VoxFleet cannot serve: which file, and what is wrong with it. */
export class ModelSpecError extends Error {
  override readonly name = 'ModelSpecError';
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

interface Expect {
  name: string;
  type: string;
  rank: number;
}

const SIGNATURES: Record<ModelKind, { inputs: Expect[]; outputs: Expect[] }> = {
  'voxfleet-ctc': {
    inputs: [
      { name: 'x', type: 'float32|float16', rank: 3 },
      { name: 'x_length', type: 'int32', rank: 1 },
    ],
    outputs: [{ name: 'logits', type: 'float32|float16', rank: 3 }],
  },
  'sense-voice': {
    inputs: [
      { name: 'x', type: 'float32', rank: 3 },
      { name: 'x_length', type: 'int32', rank: 1 },
      { name: 'language', type: 'int32', rank: 1 },
      { name: 'text_norm', type: 'int32', rank: 1 },
    ],
    outputs: [{ name: 'logits', type: 'float32', rank: 3 }],
  },
  'funasr-nano-ctc': {
    inputs: [{ name: 'x', type: 'float32', rank: 3 }],
    outputs: [{ name: 'logits', type: 'float32', rank: 3 }],
  },
  paraformer: {
    inputs: [
      { name: 'speech', type: 'float32', rank: 3 },
      { name: 'speech_lengths', type: 'int32', rank: 1 },
    ],
    outputs: [
      { name: 'logits', type: 'float32', rank: 3 },
      { name: 'token_num', type: 'int32|int64', rank: 1 },
    ],
  },
  'nemo-ctc': {
    inputs: [
      { name: 'audio_signal', type: 'float32', rank: 3 },
      { name: 'length', type: 'int64', rank: 1 },
    ],
    outputs: [{ name: 'logprobs', type: 'float32', rank: 3 }],
  },
};

const has = (sigs: TensorSignature[], name: string): boolean => sigs.some((s) => s.name === name);
const describe = (sigs: TensorSignature[]): string => sigs.map((s) => `${s.name} ${s.type}[${s.dims.join(',')}]`).join(', ') || '(none)';

/** The kind a graph's signature and metadata say it is, or null. */
export function detectKind(info: OnnxInfo): ModelKind | null {
  const { inputs, outputs, metadata } = info;
  if (has(inputs, 'speech') && has(inputs, 'speech_lengths')) return 'paraformer';
  if (has(inputs, 'audio_signal') && has(outputs, 'logprobs')) return 'nemo-ctc';
  if (metadata.model_type === 'sense_voice_ctc' || (has(inputs, 'language') && has(inputs, 'text_norm'))) {
    return (metadata.comment ?? '').includes('Nano') ? 'funasr-nano-ctc' : 'sense-voice';
  }
  if (has(inputs, 'x') && has(inputs, 'x_length') && has(outputs, 'logits')) return 'voxfleet-ctc';
  return null;
}

function checkSignature(kind: ModelKind, file: string, info: OnnxInfo): void {
  const want = SIGNATURES[kind];
  for (const [side, sigs, expected] of [
    ['input', info.inputs, want.inputs],
    ['output', info.outputs, want.outputs],
  ] as const) {
    for (const e of expected) {
      const got = sigs.find((s) => s.name === e.name);
      const ok = got && e.type.split('|').includes(got.type) && got.dims.length === e.rank;
      if (!ok) {
        throw new ModelSpecError(file, `not a ${kind} export: ${side} ${e.name} should be ${e.type} of rank ${e.rank}; the graph's ${side}s are ${describe(sigs)}`);
      }
    }
  }
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

async function tokensOf(kind: ModelKind, dir: string, metadata: Record<string, string>): Promise<string | null> {
  const file = join(dir, 'tokens.txt');
  if (await isFile(file)) {
    try {
      await SymbolTable.read(file, { base64: kind === 'funasr-nano-ctc' ? true : undefined });
    } catch (err) {
      throw new ModelSpecError(file, `unreadable tokens file: ${(err as Error).message}`);
    }
    return file;
  }
  if (kind === 'voxfleet-ctc' && metadata.vocab) return null;
  throw new ModelSpecError(file, `missing: a ${kind} model needs its tokens.txt beside the .onnx file`);
}

/** Per-kind settings read from the metadata (with the file named on failure). */
function familySettings(kind: ModelKind, file: string, info: OnnxInfo): Pick<ModelSpec, 'frontEnd' | 'languages' | 'options' | 'decoder' | 'timestamps' | 'maxBatch'> {
  const m = info.metadata;
  try {
    switch (kind) {
      case 'sense-voice': {
        const fi = senseVoiceModelInfo(m);
        return { frontEnd: parseFrontEndSpec(senseVoiceFrontEndSpec(fi)), languages: Object.keys(fi.languageIds), options: { language: true, itn: true }, decoder: 'ctc-greedy', timestamps: 'frames', maxBatch: Infinity };
      }
      case 'funasr-nano-ctc': {
        const fi = senseVoiceModelInfo(m);
        return { frontEnd: parseFrontEndSpec(senseVoiceFrontEndSpec(fi)), languages: ['auto'], options: { language: false, itn: false }, decoder: 'ctc-greedy', timestamps: 'frames', maxBatch: 1 };
      }
      case 'paraformer': {
        const fi = paraformerModelInfo(m);
        const withPeaks = has(info.outputs, 'us_cif_peak');
        return { frontEnd: parseFrontEndSpec(paraformerFrontEndSpec(fi)), languages: ['auto'], options: { language: false, itn: false }, decoder: 'paraformer', timestamps: withPeaks ? 'cif-peaks' : 'none', maxBatch: Infinity };
      }
      case 'nemo-ctc': {
        const fi = nemoCtcModelInfo(m);
        const bins = info.inputs.find((s) => s.name === 'audio_signal')?.dims[1];
        return { frontEnd: parseFrontEndSpec(nemoCtcFrontEndSpec(fi, typeof bins === 'number' ? bins : 80)), languages: ['auto'], options: { language: false, itn: false }, decoder: 'ctc-greedy', timestamps: 'frames', maxBatch: Infinity };
      }
      case 'voxfleet-ctc':
        return { frontEnd: null, languages: m.language ? [m.language] : ['auto'], options: { language: false, itn: false }, decoder: 'ctc-greedy', timestamps: 'frames', maxBatch: Infinity };
    }
  } catch (err) {
    if (err instanceof ModelMetadataError) throw new ModelSpecError(file, `metadata: ${err.message}`);
    throw err;
  }
}

/** Recognises the model at `config.modelPath` and checks that every file VoxFleet needs is there and right. */
export async function loadModelSpec(config: Pick<AsrConfig, 'modelPath' | 'modelName'>): Promise<ModelSpec> {
  let variants: ModelVariant[];
  try {
    variants = await listVariants(config.modelPath);
  } catch (err) {
    throw new ModelSpecError(config.modelPath, (err as Error).message);
  }
  const dir = await modelDirectory(config.modelPath);
  const manifest = await readManifest(dir);
  const name = servedName(config.modelName, manifest, dir);
  // The signature of every precision must agree; metadata is read from the fp32 file when there is one.
  const primary = variants.find((v) => v.precision === 'fp32') ?? variants[0]!;
  let info: OnnxInfo;
  try {
    info = await readOnnxInfo(primary.file);
  } catch (err) {
    throw new ModelSpecError(primary.file, `not a readable ONNX file (${(err as Error).message})`);
  }
  const kind = detectKind(info);
  if (!kind) {
    throw new ModelSpecError(primary.file, `unknown kind of model: its inputs are ${describe(info.inputs)} and outputs ${describe(info.outputs)}; VoxFleet serves ${MODEL_KINDS.join(', ')} exports`);
  }
  for (const v of variants) {
    const vi = v === primary ? info : await readOnnxInfo(v.file).catch((err: Error) => Promise.reject(new ModelSpecError(v.file, `not a readable ONNX file (${err.message})`)));
    const vk = detectKind(vi);
    if (vk !== kind && !(kind === 'voxfleet-ctc' && vk === null)) throw new ModelSpecError(v.file, `its signature (${describe(vi.inputs)}) is not that of the ${kind} file ${basename(primary.file)}`);
    checkSignature(kind, v.file, vi);
  }
  const settings = familySettings(kind, primary.file, info);
  return {
    name,
    aliases: manifest.aliases,
    kind,
    dir,
    variants,
    tokensFile: await tokensOf(kind, dir, info.metadata),
    ...settings,
    languages: manifest.languages ?? settings.languages,
    metadata: info.metadata,
    signature: { inputs: info.inputs, outputs: info.outputs },
  };
}

/** One line per spec for the start-up log. */
export function describeSpec(s: ModelSpec): string {
  const precisions = s.variants.map((v) => `${v.precision} ${basename(v.file)}`).join(', ');
  return `${s.name} (${s.kind}${s.aliases.length ? `, aliases ${s.aliases.join('/')}` : ''}): ${precisions}; languages ${s.languages.join(',')}; decoder ${s.decoder}; timestamps ${s.timestamps}${Number.isFinite(s.maxBatch) ? `; batch ≤ ${s.maxBatch}` : ''}`;
}

export type { Precision };
