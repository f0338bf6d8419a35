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
 * - `nemo-ctc`: `audio_signal` [N,80,T], `length` → `logprobs` (NeMo EncDec… CTC export);
 * - `nemo-transducer`: a directory of encoder / decoder / joiner graphs per precision
 *   (`encoder[.int8].onnx`, …; NeMo's transducer export as sherpa-onnx ships Parakeet TDT),
 *   bound by position as sherpa-onnx binds them; metadata on the encoder; TDT only.
 * - `funasr-nano`: Fun-ASR-Nano's LLM export, a directory of encoder_adaptor / embedding / llm
 *   graphs per precision and the Qwen3-0.6B tokenizer (./nano-registry.ts).
 * - `whisper`: sherpa-onnx's Whisper export, `{name}-encoder[.int8].onnx` + `{name}-decoder[.int8].onnx`
 *   + `{name}-tokens.txt`, or a transformers.js / optimum folder (onnx/encoder_model*.onnx +
 *   onnx/decoder_model_merged*.onnx, config.json, generation_config.json, tokenizer.json) (./whisper-registry.ts).
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { AsrConfig, Precision } from './config.js';
import {
  ModelMetadataError,
  SymbolTable,
  checkTransducerTokens,
  nemoCtcFrontEndSpec,
  nemoCtcModelInfo,
  nemoTransducerFrontEndSpec,
  nemoTransducerModelInfo,
  paraformerFrontEndSpec,
  paraformerModelInfo,
  senseVoiceFrontEndSpec,
  senseVoiceModelInfo,
  type NemoTransducerModelInfo,
} from './families/index.js';
import { parseFrontEndSpec, type FrontEndSpec } from './frontend/spec.js';
import { modelDirectory, readManifest, servedName } from './manifest.js';
import { readOnnxInfo, type OnnxInfo, type TensorSignature } from './onnx-metadata.js';
import { listVariants, precisionOfFile, type ModelVariant } from './session.js';
import { isNanoDirectory, loadNanoSpec, type NanoSpec } from './nano-registry.js';
import { isOptimumWhisper, loadOptimumWhisperSpec, loadWhisperSpec, whisperEncoders, type WhisperSpec } from './whisper-registry.js';

export const MODEL_KINDS = ['voxfleet-ctc', 'sense-voice', 'funasr-nano-ctc', 'paraformer', 'nemo-ctc', 'nemo-transducer', 'funasr-nano', 'whisper'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];
type SingleFileKind = Exclude<ModelKind, 'nemo-transducer' | 'funasr-nano' | 'whisper'>;

/** A transducer's three graphs: their signatures (of the primary precision) and what the encoder's metadata says. */
export interface TransducerSpec {
  info: NemoTransducerModelInfo;
  /** joiner output width - V: the TDT durations (durations 0 .. n-1 frames) */
  numDurations: number;
  encoder: Pick<OnnxInfo, 'inputs' | 'outputs'>;
  decoder: Pick<OnnxInfo, 'inputs' | 'outputs'>;
  joiner: Pick<OnnxInfo, 'inputs' | 'outputs'>;
}

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
  /** job options the model takes: `language` picks its language input; `itn` its inverse text normalisation; `hotwords` its prompt's (Fun-ASR-Nano) */
  options: { language: boolean; itn: boolean; hotwords?: boolean };
  /** the front-end (null for voxfleet-ctc, whose front-end is built from its metadata by CtcModel) */
  frontEnd: FrontEndSpec | null;
  /** greedy CTC, CTC prefix beam search (voxfleet-ctc with an LM), Paraformer's per-row argmax, or TDT greedy search */
  decoder: 'ctc-greedy' | 'ctc-beam' | 'paraformer' | 'tdt-greedy' | 'llm-greedy' | 'whisper-greedy';
  /** token timestamps: from CTC frames, from CIF peaks (Paraformer with 4 outputs), or none (they span the utterance) */
  timestamps: 'frames' | 'cif-peaks' | 'none';
  /** largest batch the graph takes (Nano CTC: 1) */
  maxBatch: number;
  metadata: Record<string, string>;
  signature: Pick<OnnxInfo, 'inputs' | 'outputs'>;
  /** nemo-transducer only */
  transducer?: TransducerSpec;
  /** funasr-nano only */
  nano?: NanoSpec;
  /** whisper only */
  whisper?: WhisperSpec;
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

/** `read()`, with a metadata error reported as a spec error of `file` ("metadata: …"); other errors as they are. */
export function specMetadata<T>(file: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof ModelMetadataError) throw new ModelSpecError(file, `metadata: ${err.message}`);
    throw err;
  }
}

interface Expect {
  name: string;
  type: string;
  rank: number;
}

const SIGNATURES: Record<SingleFileKind, { inputs: Expect[]; outputs: Expect[] }> = {
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
export function detectKind(info: OnnxInfo): Exclude<ModelKind, 'funasr-nano' | 'whisper'> | null {
  const { inputs, outputs, metadata } = info;
  if (has(inputs, 'speech') && has(inputs, 'speech_lengths')) return 'paraformer';
  if (has(inputs, 'audio_signal') && has(outputs, 'logprobs')) return 'nemo-ctc';
  if (has(inputs, 'audio_signal') && has(outputs, 'encoded_lengths')) return 'nemo-transducer';
  if (metadata.model_type === 'sense_voice_ctc' || (has(inputs, 'language') && has(inputs, 'text_norm'))) {
    return (metadata.comment ?? '').includes('Nano') ? 'funasr-nano-ctc' : 'sense-voice';
  }
  if (has(inputs, 'x') && has(inputs, 'x_length') && has(outputs, 'logits')) return 'voxfleet-ctc';
  return null;
}

function checkSignature(kind: SingleFileKind, file: string, info: OnnxInfo): void {
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
function familySettings(kind: SingleFileKind, file: string, info: OnnxInfo): Pick<ModelSpec, 'frontEnd' | 'languages' | 'options' | 'decoder' | 'timestamps' | 'maxBatch'> {
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
  if (await isNanoDirectory(config.modelPath)) return loadNanoSpec(config);
  if (await isOptimumWhisper(config.modelPath)) return loadOptimumWhisperSpec(config);
  const whisper = await whisperEncoders(config.modelPath);
  if (whisper) return loadWhisperSpec(config, whisper);
  const transducer = await transducerFiles(config.modelPath);
  if (transducer) return loadTransducerSpec(config, transducer);
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
  if (kind === 'nemo-transducer') {
    throw new ModelSpecError(primary.file, 'a NeMo transducer encoder: serve its directory, with decoder and joiner beside it, named encoder[.int8].onnx, decoder[.int8].onnx, joiner[.int8].onnx');
  }
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

const TRANSDUCER_ENCODER = /^encoder((?:\.[A-Za-z0-9]+)?)\.onnx$/;

/** The encoder files of a transducer directory (encoder.onnx, encoder.int8.onnx, …), or null when it is not one. */
async function transducerFiles(modelPath: string): Promise<string[] | null> {
  if (!(await stat(modelPath).catch(() => undefined))?.isDirectory()) return null;
  const names = (await readdir(modelPath)).filter((n) => TRANSDUCER_ENCODER.test(n)).sort();
  return names.length > 0 ? names : null;
}

interface Want {
  type: string;
  rank: number;
}

/** Checks a graph's inputs and outputs by position (sherpa-onnx binds NeMo graphs by position). */
function checkByPosition(file: string, role: string, info: OnnxInfo, inputs: Want[], outputs: Want[]): void {
  for (const [side, sigs, want] of [
    ['input', info.inputs, inputs],
    ['output', info.outputs, outputs],
  ] as const) {
    if (sigs.length < want.length || (side === 'input' && sigs.length !== want.length)) {
      throw new ModelSpecError(file, `not a NeMo transducer ${role}: it has ${sigs.length} ${side}s (${describe(sigs)}), expected ${want.length}`);
    }
    want.forEach((w, i) => {
      const got = sigs[i]!;
      if (!w.type.split('|').includes(got.type) || got.dims.length !== w.rank) {
        throw new ModelSpecError(file, `not a NeMo transducer ${role}: ${side} ${i + 1} (${got.name} ${got.type}[${got.dims.join(',')}]) should be ${w.type} of rank ${w.rank}; the graph's ${side}s are ${describe(sigs)}`);
      }
    });
  }
}

const F32 = 'float32';
const ROLES = {
  encoder: { inputs: [{ type: F32, rank: 3 }, { type: 'int64', rank: 1 }], outputs: [{ type: F32, rank: 3 }, { type: 'int32|int64', rank: 1 }] },
  decoder: {
    inputs: [{ type: 'int32', rank: 2 }, { type: 'int32', rank: 1 }, { type: F32, rank: 3 }, { type: F32, rank: 3 }],
    outputs: [{ type: F32, rank: 3 }, { type: 'int32|int64', rank: 1 }, { type: F32, rank: 3 }, { type: F32, rank: 3 }],
  },
  joiner: { inputs: [{ type: F32, rank: 3 }, { type: F32, rank: 3 }], outputs: [{ type: F32, rank: 4 }] },
} as const;

async function infoOf(file: string, role: string): Promise<OnnxInfo> {
  if (!(await isFile(file))) throw new ModelSpecError(file, `missing: a NeMo transducer needs its ${role} (${basename(file)}) beside its encoder`);
  try {
    return await readOnnxInfo(file);
  } catch (err) {
    throw new ModelSpecError(file, `not a readable ONNX file (${(err as Error).message})`);
  }
}

/** A NeMo transducer directory → its spec: three graphs per precision, checked by position, metadata from the encoder. */
async function loadTransducerSpec(config: Pick<AsrConfig, 'modelPath' | 'modelName'>, encoders: string[]): Promise<ModelSpec> {
  const dir = await modelDirectory(config.modelPath);
  const manifest = await readManifest(dir);
  const name = servedName(config.modelName, manifest, dir);
  const variants: ModelVariant[] = [];
  const infos = new Map<ModelVariant, { encoder: OnnxInfo; decoder: OnnxInfo; joiner: OnnxInfo }>();
  for (const enc of encoders) {
    const suffix = TRANSDUCER_ENCODER.exec(enc)![1]!;
    const precision = precisionOfFile(enc);
    if (variants.some((v) => v.precision === precision)) continue;
    const parts = { encoder: join(dir, enc), decoder: join(dir, `decoder${suffix}.onnx`), joiner: join(dir, `joiner${suffix}.onnx`) };
    const got = {
      encoder: await infoOf(parts.encoder, 'encoder'),
      decoder: await infoOf(parts.decoder, 'decoder'),
      joiner: await infoOf(parts.joiner, 'joiner'),
    };
    for (const role of ['encoder', 'decoder', 'joiner'] as const) checkByPosition(parts[role], role, got[role], [...ROLES[role].inputs], [...ROLES[role].outputs]);
    const v: ModelVariant = { precision, file: parts.encoder, parts };
    variants.push(v);
    infos.set(v, got);
  }
  const primary = variants.find((v) => v.precision === 'fp32') ?? variants[0]!;
  const p = infos.get(primary)!;
  const info: NemoTransducerModelInfo = specMetadata(primary.file, () => nemoTransducerModelInfo(p.encoder.metadata));
  const width = p.joiner.outputs[0]!.dims[3];
  if (!info.tdt) {
    throw new ModelSpecError(primary.file, `a NeMo RNN-T transducer without TDT durations (its url "${p.encoder.metadata.url ?? ''}" does not name tdt): only TDT transducers are served`);
  }
  if (typeof width !== 'number' || width <= info.vocabSize) {
    throw new ModelSpecError(primary.parts!.joiner, `not a TDT joiner: its output has ${String(width)} values per step, the model's vocabulary ${info.vocabSize} (tokens and blank) plus the durations`);
  }
  const bins = p.encoder.inputs[0]!.dims[1];
  if (typeof bins === 'number' && bins !== info.featDim) {
    throw new ModelSpecError(primary.file, `its input takes ${bins} mel bins but metadata feat_dim says ${info.featDim}`);
  }
  // every precision must be the same model: the same fixed dimensions, part by part
  const shape = (i: { encoder: OnnxInfo; decoder: OnnxInfo; joiner: OnnxInfo }): string =>
    JSON.stringify([i.encoder, i.decoder, i.joiner].map((x) => [...x.inputs, ...x.outputs].map((s) => s.dims.map((d) => (typeof d === 'number' ? d : '?')))));
  for (const v of variants) {
    if (v !== primary && shape(infos.get(v)!) !== shape(p)) throw new ModelSpecError(v.file, `its graphs' shapes are not those of ${basename(primary.file)}'s model`);
  }
  const tokensFile = join(dir, 'tokens.txt');
  if (!(await isFile(tokensFile))) throw new ModelSpecError(tokensFile, 'missing: a nemo-transducer model needs its tokens.txt beside the .onnx files');
  try {
    checkTransducerTokens(await SymbolTable.read(tokensFile), info.vocabSize);
  } catch (err) {
    throw new ModelSpecError(tokensFile, `unusable tokens file: ${(err as Error).message}`);
  }
  const sig = (x: OnnxInfo): Pick<OnnxInfo, 'inputs' | 'outputs'> => ({ inputs: x.inputs, outputs: x.outputs });
  return {
    name,
    aliases: manifest.aliases,
    kind: 'nemo-transducer',
    dir,
    variants,
    tokensFile,
    languages: manifest.languages ?? ['auto'],
    options: { language: false, itn: false },
    frontEnd: parseFrontEndSpec(nemoTransducerFrontEndSpec(info)),
    decoder: 'tdt-greedy',
    timestamps: 'frames',
    maxBatch: Infinity,
    metadata: p.encoder.metadata,
    signature: sig(p.encoder),
    transducer: { info, numDurations: width - info.vocabSize, encoder: sig(p.encoder), decoder: sig(p.decoder), joiner: sig(p.joiner) },
  };
}
