/**
 * Which CTC decoder a model is served with: greedy, or prefix beam search with
 * an optional word n-gram LM. A model directory may carry a `decoder.json`
 * (`{"lm": "lm.arpa.gz", "alpha": 0.5, "beta": 2, "beamWidth": 16}`) with the
 * weights tuned for that model; the config (env) can override each of them.
 * The decoder tag is part of the model identity (identity.ts).
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { DEFAULT_BEAM, type BeamOptions } from './beam.js';
import type { AsrConfig } from './config.js';

export type DecoderSpec =
  | { kind: 'greedy' }
  | { kind: 'beam'; options: Omit<BeamOptions, 'lm'>; lmPath?: string; lmDigest?: string };

const decoderFileSchema = z
  .object({
    lm: z.string().min(1).optional(),
    alpha: z.number().min(0).optional(),
    beta: z.number().optional(),
    beamWidth: z.number().int().min(1).max(1024).optional(),
    unkPenalty: z.number().max(0).optional(),
    tokenMinLogp: z.number().max(0).optional(),
  })
  .strict();

export class DecoderConfigError extends Error {
  override readonly name = 'DecoderConfigError';
}

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

export async function modelDirOf(modelPath: string): Promise<string> {
  return (await isDir(modelPath)) ? modelPath : dirname(modelPath);
}

async function decoderFile(dir: string): Promise<z.infer<typeof decoderFileSchema>> {
  const path = join(dir, 'decoder.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return {};
  }
  const parsed = decoderFileSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new DecoderConfigError(`${path}: ${parsed.error.message}`);
  return parsed.data;
}

export async function resolveDecoder(config: AsrConfig): Promise<DecoderSpec> {
  if (config.decoder === 'greedy') return { kind: 'greedy' };
  const dir = await modelDirOf(config.modelPath);
  const file = await decoderFile(dir);
  let lmPath: string | undefined;
  if (config.lmPath === 'none') lmPath = undefined;
  else if (config.lmPath) lmPath = config.lmPath;
  else if (file.lm) lmPath = isAbsolute(file.lm) ? file.lm : join(dir, file.lm);
  if (lmPath && !(await stat(lmPath).catch(() => undefined))?.isFile()) {
    throw new DecoderConfigError(`language model ${lmPath} does not exist`);
  }
  if (config.decoder === 'auto' && !lmPath) return { kind: 'greedy' };
  const options = {
    beamWidth: config.beamWidth ?? file.beamWidth ?? DEFAULT_BEAM.beamWidth,
    tokenMinLogp: file.tokenMinLogp ?? DEFAULT_BEAM.tokenMinLogp,
    alpha: config.lmAlpha ?? file.alpha ?? DEFAULT_BEAM.alpha,
    beta: config.lmBeta ?? file.beta ?? DEFAULT_BEAM.beta,
    unkPenalty: file.unkPenalty ?? DEFAULT_BEAM.unkPenalty,
  };
  if (!lmPath) return { kind: 'beam', options };
  const lmDigest = createHash('md5').update(await readFile(lmPath)).digest('hex');
  return { kind: 'beam', options, lmPath, lmDigest };
}

/** Part of the served model id: anything that changes transcripts changes the id (and so the cache key). */
export function decoderTag(spec: DecoderSpec): string {
  if (spec.kind === 'greedy') return '';
  const o = spec.options;
  const desc = JSON.stringify([o.beamWidth, o.tokenMinLogp, o.alpha, o.beta, o.unkPenalty, spec.lmDigest ?? null]);
  return `+beam-${createHash('md5').update(desc).digest('hex').slice(0, 8)}`;
}

export function describeDecoder(spec: DecoderSpec): string {
  if (spec.kind === 'greedy') return 'greedy';
  const o = spec.options;
  return `beam ${o.beamWidth}${spec.lmPath ? `, LM ${spec.lmPath.replace(/^.*\//, '')} (alpha ${o.alpha}, beta ${o.beta})` : ', no LM'}`;
}
