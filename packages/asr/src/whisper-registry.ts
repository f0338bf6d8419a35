/**
 * The registry's `whisper` kind: sherpa-onnx's Whisper export (docs/model-contracts.md §5a),
 * a directory of `{name}-encoder[.int8].onnx`, `{name}-decoder[.int8].onnx` and
 * `{name}-tokens.txt` (tiktoken's base64 form). Both graphs are bound by position as
 * sherpa-onnx binds them (offline-whisper-model.cc): encoder mel [N, n_mels, T] →
 * cross K, cross V (rank 4); decoder tokens (int64, rank 2), self K / V caches, cross K / V
 * (rank 4), offset (int64 [1]) → logits (rank 3), self K / V caches. The encoder's metadata
 * is what sherpa-onnx reads (families/whisper.ts); a missing or wrong file fails at start.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { AsrConfig, Precision } from './config.js';
import { ModelMetadataError } from './families/meta.js';
import { SymbolTable } from './families/symbols.js';
import { optimumWhisperInfo, whisperModelInfo, type WhisperModelInfo, type WhisperSuppress } from './families/whisper.js';
import { parseFrontEndSpec } from './frontend/spec.js';
import { modelDirectory, readManifest, servedName } from './manifest.js';
import { readOnnxInfo, type OnnxInfo, type TensorSignature } from './onnx-metadata.js';
import { ModelSpecError, specMetadata, type ModelSpec } from './registry.js';
import { precisionOfFile, type ModelVariant } from './session.js';

export interface WhisperSpec {
  /** sherpa-onnx's export (cross K/V, self caches, offset) or transformers.js / optimum's (merged decoder, use_cache_branch) */
  layout: 'sherpa-onnx' | 'optimum';
  info: WhisperModelInfo;
  /** optimum: generation_config.json's suppress lists, applied as transformers.js applies them */
  suppress?: WhisperSuppress;
  /** optimum: the decoder's attention heads and head size (its past_key_values are [batch, heads, seq, head_dim]) */
  heads?: number;
  headDim?: number;
  /** the export's name ({name}-encoder.onnx): tiny, base, large-v3, … */
  exportName: string;
  encoder: Pick<OnnxInfo, 'inputs' | 'outputs'>;
  decoder: Pick<OnnxInfo, 'inputs' | 'outputs'>;
}

/** sherpa-onnx keeps 2950 feature frames (29.5 s) of an utterance. */
export const WHISPER_FRONT_END_MAX_FRAMES = 2950;

const ENCODER = /^(.+)-encoder((?:\.[A-Za-z0-9]+)?)\.onnx$/;

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

/** The `{name}-encoder*.onnx` files of a directory, or null when it holds none. */
export async function whisperEncoders(path: string): Promise<string[] | null> {
  if (!(await stat(path).catch(() => undefined))?.isDirectory()) return null;
  const names = (await readdir(path)).filter((n) => ENCODER.test(n)).sort();
  return names.length > 0 ? names : null;
}

const describe = (sigs: TensorSignature[]): string => sigs.map((s) => `${s.name} ${s.type}[${s.dims.join(',')}]`).join(', ') || '(none)';

async function infoOf(file: string, role: string): Promise<OnnxInfo> {
  if (!(await isFile(file))) throw new ModelSpecError(file, `missing: a Whisper model needs its ${role} (${basename(file)}) beside its encoder`);
  try {
    return await readOnnxInfo(file);
  } catch (err) {
    throw new ModelSpecError(file, `not a readable ONNX file (${(err as Error).message})`);
  }
}

type Want = [type: string, rank: number];
const F = 'float32';
const ROLES: Record<'encoder' | 'decoder', { inputs: Want[]; outputs: Want[] }> = {
  encoder: { inputs: [[F, 3]], outputs: [[F, 4], [F, 4]] },
  decoder: {
    inputs: [['int64', 2], [F, 4], [F, 4], [F, 4], [F, 4], ['int64', 1]],
    outputs: [[F, 3], [F, 4], [F, 4]],
  },
};

function check(file: string, role: 'encoder' | 'decoder', info: OnnxInfo): void {
  for (const [side, sigs, want] of [
    ['input', info.inputs, ROLES[role].inputs],
    ['output', info.outputs, ROLES[role].outputs],
  ] as const) {
    // a decoder exported with attention outputs (export-onnx-with-attention.py) has a 4th output: allowed
    if (sigs.length < want.length || (side === 'input' && sigs.length !== want.length)) {
      throw new ModelSpecError(file, `not a Whisper ${role} (sherpa-onnx export): it has ${sigs.length} ${side}s (${describe(sigs)}), expected ${want.length}`);
    }
    want.forEach(([type, rank], i) => {
      const got = sigs[i]!;
      if (got.type !== type || got.dims.length !== rank) {
        throw new ModelSpecError(file, `not a Whisper ${role} (sherpa-onnx export): ${side} ${i + 1} (${got.name} ${got.type}[${got.dims.join(',')}]) should be ${type} of rank ${rank}; the graph's ${side}s are ${describe(sigs)}`);
      }
    });
  }
}

/** A Whisper export directory → its spec (both graphs per precision, metadata from the primary encoder). */
export async function loadWhisperSpec(config: Pick<AsrConfig, 'modelPath' | 'modelName'>, encoders: string[]): Promise<ModelSpec> {
  const dir = await modelDirectory(config.modelPath);
  const manifest = await readManifest(dir);
  const name = servedName(config.modelName, manifest, dir);
  const variants: ModelVariant[] = [];
  const infos = new Map<ModelVariant, { encoder: OnnxInfo; decoder: OnnxInfo }>();
  const exportNames = new Set<string>();
  for (const enc of encoders) {
    const [, exportName, suffix] = ENCODER.exec(enc)!;
    exportNames.add(exportName!);
    const precision = precisionOfFile(enc);
    if (variants.some((v) => v.precision === precision)) continue;
    const parts = { encoder: join(dir, enc), decoder: join(dir, `${exportName}-decoder${suffix}.onnx`) };
    const got = { encoder: await infoOf(parts.encoder, 'encoder'), decoder: await infoOf(parts.decoder, 'decoder') };
    check(parts.encoder, 'encoder', got.encoder);
    check(parts.decoder, 'decoder', got.decoder);
    const v: ModelVariant = { precision, file: parts.encoder, whisper: parts };
    variants.push(v);
    infos.set(v, got);
  }
  if (exportNames.size !== 1) throw new ModelSpecError(dir, `holds the encoders of several Whisper exports (${[...exportNames].join(', ')}): serve one per directory`);
  const exportName = [...exportNames][0]!;
  const primary = variants.find((v) => v.precision === 'fp32') ?? variants[0]!;
  const p = infos.get(primary)!;
  const info: WhisperModelInfo = specMetadata(primary.file, () => whisperModelInfo(p.encoder.metadata));
  const bins = p.encoder.inputs[0]!.dims[1];
  if (typeof bins === 'number' && bins !== info.nMels) throw new ModelSpecError(primary.file, `its mel input takes ${bins} bins but metadata n_mels says ${info.nMels}`);
  const vocab = p.decoder.outputs[0]!.dims[2];
  if (typeof vocab === 'number' && vocab !== info.nVocab) throw new ModelSpecError(primary.whisper!.decoder, `its logits have ${vocab} values but metadata n_vocab says ${info.nVocab}`);
  const cache = p.decoder.inputs[1]!.dims;
  if ([cache[0], cache[2], cache[3]].some((d, i) => typeof d === 'number' && d !== [info.nTextLayer, info.nTextCtx, info.nTextState][i])) {
    throw new ModelSpecError(primary.whisper!.decoder, `its self cache is [${cache.join(',')}], metadata says [${info.nTextLayer}, N, ${info.nTextCtx}, ${info.nTextState}]`);
  }
  const shape = (i: { encoder: OnnxInfo; decoder: OnnxInfo }): string =>
    JSON.stringify([i.encoder, i.decoder].map((x) => [...x.inputs, ...x.outputs].map((s) => s.dims.map((d) => (typeof d === 'number' ? d : '?')))));
  for (const v of variants) {
    if (v !== primary && shape(infos.get(v)!) !== shape(p)) throw new ModelSpecError(v.file, `its graphs' shapes are not those of ${basename(primary.file)}'s model`);
  }
  const tokensFile = join(dir, `${exportName}-tokens.txt`);
  if (!(await isFile(tokensFile))) throw new ModelSpecError(tokensFile, 'missing: a Whisper model needs its tokens file beside the .onnx files');
  try {
    const table = await SymbolTable.read(tokensFile, { base64: true });
    if (table.size > info.eot) throw new Error(`it lists ${table.size} tokens; the special tokens start at eot ${info.eot} and are not listed in sherpa-onnx's export`);
  } catch (err) {
    throw new ModelSpecError(tokensFile, `unusable tokens file: ${(err as Error).message}`);
  }
  const sig = (x: OnnxInfo): Pick<OnnxInfo, 'inputs' | 'outputs'> => ({ inputs: x.inputs, outputs: x.outputs });
  return {
    name,
    aliases: manifest.aliases,
    kind: 'whisper',
    dir,
    variants,
    tokensFile,
    languages: manifest.languages ?? (info.multilingual ? ['auto', ...info.languages.keys()] : ['en']),
    options: { language: info.multilingual, itn: false },
    frontEnd: parseFrontEndSpec({ kind: 'whisper', melBins: info.nMels, maxFrames: WHISPER_FRONT_END_MAX_FRAMES, framing: 'kaldi-native-fbank', layout: 'channels-first' }),
    decoder: 'whisper-greedy',
    timestamps: 'none',
    maxBatch: Infinity,
    metadata: p.encoder.metadata,
    signature: sig(p.encoder),
    whisper: { layout: 'sherpa-onnx', info, exportName, encoder: sig(p.encoder), decoder: sig(p.decoder) },
  };
}

/** transformers.js's file suffixes per precision (utils/dtypes.js): fp32 none, fp16 _fp16, q8 _quantized (else _int8, _uint8). */
const OPTIMUM_SUFFIXES: [string, Precision][] = [['', 'fp32'], ['_fp16', 'fp16'], ['_quantized', 'int8'], ['_int8', 'int8'], ['_uint8', 'int8']];

/** Whether `path` is a transformers.js / optimum Whisper folder (onnx/encoder_model*.onnx + config.json). */
export async function isOptimumWhisper(path: string): Promise<boolean> {
  if (!(await stat(join(path, 'onnx')).catch(() => undefined))?.isDirectory()) return false;
  const names = await readdir(join(path, 'onnx'));
  return names.some((n) => /^encoder_model.*\.onnx$/.test(n)) && (await isFile(join(path, 'config.json')));
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  if (!(await isFile(file))) throw new ModelSpecError(file, 'missing: a transformers.js Whisper folder needs it');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new ModelSpecError(file, `not JSON: ${(err as Error).message}`);
  }
}

function wantByName(file: string, role: string, side: 'input' | 'output', sigs: TensorSignature[], name: string, type: string, rank: number): void {
  const got = sigs.find((s) => s.name === name);
  if (!got || got.type !== type || got.dims.length !== rank) {
    throw new ModelSpecError(file, `not a transformers.js Whisper ${role}: ${side} ${name} should be ${type} of rank ${rank}; the graph's ${side}s are ${describe(sigs)}`);
  }
}

/** A transformers.js / optimum Whisper folder → its spec: encoder_model + decoder_model_merged per precision, ids from the JSON files. */
export async function loadOptimumWhisperSpec(config: Pick<AsrConfig, 'modelPath' | 'modelName'>): Promise<ModelSpec> {
  const dir = await modelDirectory(config.modelPath);
  const manifest = await readManifest(dir);
  const name = servedName(config.modelName, manifest, dir);
  const cfg = await readJson(join(dir, 'config.json'));
  const gen = await readJson(join(dir, 'generation_config.json'));
  let info: WhisperModelInfo;
  let suppress: WhisperSuppress;
  try {
    ({ info, suppress } = optimumWhisperInfo(cfg, gen));
  } catch (err) {
    if (err instanceof ModelMetadataError) throw new ModelSpecError(join(dir, 'generation_config.json'), err.message);
    throw err;
  }
  const variants: ModelVariant[] = [];
  const infos = new Map<ModelVariant, { encoder: OnnxInfo; decoder: OnnxInfo }>();
  for (const [sfx, precision] of OPTIMUM_SUFFIXES) {
    const enc = join(dir, 'onnx', `encoder_model${sfx}.onnx`);
    if (!(await isFile(enc)) || variants.some((v) => v.precision === precision)) continue;
    const parts = { encoder: enc, decoder: join(dir, 'onnx', `decoder_model_merged${sfx}.onnx`) };
    const got = { encoder: await infoOf(parts.encoder, 'encoder'), decoder: await infoOf(parts.decoder, 'merged decoder (decoder_model_merged)') };
    wantByName(parts.encoder, 'encoder', 'input', got.encoder.inputs, 'input_features', 'float32', 3);
    wantByName(parts.encoder, 'encoder', 'output', got.encoder.outputs, 'last_hidden_state', 'float32', 3);
    const d = got.decoder;
    wantByName(parts.decoder, 'decoder', 'input', d.inputs, 'input_ids', 'int64', 2);
    wantByName(parts.decoder, 'decoder', 'input', d.inputs, 'encoder_hidden_states', 'float32', 3);
    wantByName(parts.decoder, 'decoder', 'input', d.inputs, 'use_cache_branch', 'bool', 1);
    wantByName(parts.decoder, 'decoder', 'output', d.outputs, 'logits', 'float32', 3);
    for (let i = 0; i < info.nTextLayer; i++) {
      for (const s of ['decoder', 'encoder']) {
        for (const kv of ['key', 'value']) {
          wantByName(parts.decoder, 'decoder', 'input', d.inputs, `past_key_values.${i}.${s}.${kv}`, 'float32', 4);
          wantByName(parts.decoder, 'decoder', 'output', d.outputs, `present.${i}.${s}.${kv}`, 'float32', 4);
        }
      }
    }
    const v: ModelVariant = { precision, file: parts.encoder, whisper: parts };
    variants.push(v);
    infos.set(v, got);
  }
  if (variants.length === 0) throw new ModelSpecError(join(dir, 'onnx'), 'no encoder_model[_fp16|_quantized|_int8|_uint8].onnx');
  const primary = variants.find((v) => v.precision === 'fp32') ?? variants[0]!;
  const p = infos.get(primary)!;
  const past = p.decoder.inputs.find((x) => x.name === 'past_key_values.0.decoder.key')!.dims;
  const heads = typeof past[1] === 'number' ? past[1] : Number(cfg.decoder_attention_heads);
  const headDim = typeof past[3] === 'number' ? past[3] : info.nTextState / heads;
  if (!Number.isInteger(heads) || !Number.isInteger(headDim)) throw new ModelSpecError(primary.whisper!.decoder, `cannot tell the cache's heads and head size from [${past.join(',')}]`);
  const tokenizerFile = join(dir, 'tokenizer.json');
  if (!(await isFile(tokenizerFile))) throw new ModelSpecError(tokenizerFile, 'missing: a transformers.js Whisper folder needs its tokenizer.json');
  const sig = (x: OnnxInfo): Pick<OnnxInfo, 'inputs' | 'outputs'> => ({ inputs: x.inputs, outputs: x.outputs });
  return {
    name,
    aliases: manifest.aliases,
    kind: 'whisper',
    dir,
    variants,
    tokensFile: tokenizerFile,
    languages: manifest.languages ?? (info.multilingual ? ['auto', ...info.languages.keys()] : ['en']),
    options: { language: info.multilingual, itn: false },
    frontEnd: parseFrontEndSpec({ kind: 'whisper', melBins: info.nMels, maxFrames: 3000, framing: 'transformers', layout: 'channels-first' }),
    decoder: 'whisper-greedy',
    timestamps: 'none',
    maxBatch: Infinity,
    metadata: {},
    signature: sig(p.encoder),
    whisper: { layout: 'optimum', info, suppress, heads, headDim, exportName: basename(dir), encoder: sig(p.encoder), decoder: sig(p.decoder) },
  };
}
