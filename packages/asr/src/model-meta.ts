/**
 * What the engine needs to know about a CTC model, read from its ONNX metadata
 * (docs/model-contracts.md): vocabulary, LFR, CMVN, frame rate, sample scaling.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Vocabulary } from './ctc.js';

export interface ModelMeta {
  modelId: string;
  vocab: Vocabulary;
  lfrM: number;
  lfrN: number;
  melBins: number;
  /** seconds per output (CTC) frame */
  frameShiftSec: number;
  /** multiply samples by 32768 before fbank (normalize_samples = 0) */
  scale: number;
  cmvn?: { negMean: Float32Array; invStd: Float32Array };
  /** leading non-CTC output positions (SenseVoice: 4 tag positions) */
  prefixFrames: number;
  language?: string;
}

export class ModelMetaError extends Error {
  override readonly name = 'ModelMetaError';
}

function floats(s: string | undefined, dim: number, key: string): Float32Array | undefined {
  if (!s) return undefined;
  const v = Float32Array.from(s.split(',').map(Number));
  if (v.length !== dim || v.some((x) => !Number.isFinite(x))) {
    throw new ModelMetaError(`metadata ${key} has ${v.length} values, expected ${dim}`);
  }
  return v;
}

function int(meta: Record<string, string>, key: string, fallback?: number): number {
  const raw = meta[key];
  if (raw === undefined) {
    if (fallback === undefined) throw new ModelMetaError(`model metadata lacks "${key}"`);
    return fallback;
  }
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new ModelMetaError(`metadata ${key}="${raw}" is not an integer`);
  return n;
}

/** Vocabulary from metadata `vocab` (JSON array) or a sherpa-style tokens.txt beside the model. */
async function vocabulary(meta: Record<string, string>, modelFile: string): Promise<string[]> {
  if (meta.vocab) {
    const parsed: unknown = JSON.parse(meta.vocab);
    if (!Array.isArray(parsed) || !parsed.every((t) => typeof t === 'string')) {
      throw new ModelMetaError('metadata vocab is not a JSON array of strings');
    }
    return parsed;
  }
  let text: string;
  try {
    text = await readFile(join(dirname(modelFile), 'tokens.txt'), 'utf8');
  } catch {
    throw new ModelMetaError(`model has no vocab metadata and no tokens.txt beside ${modelFile}`);
  }
  const tokens: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^(.*)\s+(\d+)$/.exec(line);
    if (m) tokens[Number(m[2])] = m[1]!;
  }
  return tokens;
}

export async function modelMetaFrom(meta: Record<string, string>, modelFile: string): Promise<ModelMeta> {
  const lfrM = int(meta, 'lfr_window_size', 7);
  const lfrN = int(meta, 'lfr_window_shift', 6);
  const melBins = int(meta, 'mel_bins', 80);
  const dim = lfrM * melBins;
  const negMean = floats(meta.neg_mean, dim, 'neg_mean');
  const invStd = floats(meta.inv_stddev, dim, 'inv_stddev');
  if ((negMean === undefined) !== (invStd === undefined)) {
    throw new ModelMetaError('metadata has only one of neg_mean / inv_stddev');
  }
  const tokens = await vocabulary(meta, modelFile);
  const isSenseVoice = meta.lang_auto !== undefined || meta.with_itn !== undefined;
  const unit = meta.unit === 'char' ? 'char' : tokens.some((t) => t.startsWith('▁')) ? 'sentencepiece' : 'char';
  return {
    modelId: meta.model_id ?? modelFile.replace(/^.*\//, '').replace(/\.onnx$/, ''),
    vocab: { tokens, blankId: int(meta, 'blank_id', 0), unit },
    lfrM,
    lfrN,
    melBins,
    frameShiftSec: int(meta, 'frame_shift_ms', lfrN * 10) / 1000,
    scale: int(meta, 'normalize_samples', 0) === 0 ? 32768 : 1,
    ...(negMean && invStd ? { cmvn: { negMean, invStd } } : {}),
    prefixFrames: isSenseVoice ? 4 : 0,
    ...(meta.language ? { language: meta.language } : {}),
  };
}
