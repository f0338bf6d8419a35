/**
 * A model directory's optional manifest, `voxfleet-model.json`: the name the
 * model is served under, its aliases and languages (what a directory's files
 * cannot say). Without one, the name is the directory's name.
 *
 *   {"name": "sense-voice", "aliases": ["sensevoice-small"], "languages": ["auto", "zh", "en"]}
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';

export const MANIFEST_FILE = 'voxfleet-model.json';
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

const nameSchema = z.string().regex(MODEL_NAME_PATTERN, 'model names use letters, digits, ".", "_" and "-" (at most 100)');

export const manifestSchema = z.strictObject({
  name: nameSchema.optional(),
  aliases: z.array(nameSchema).default([]),
  languages: z.array(z.string().regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$|^auto$/, 'a language code such as "en", or "auto"')).optional(),
});
export type ModelManifest = z.infer<typeof manifestSchema>;

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

/** The model directory of a model path (a directory, or one .onnx file in it). */
export async function modelDirectory(modelPath: string): Promise<string> {
  const st = await stat(modelPath).catch(() => undefined);
  return st?.isDirectory() ? modelPath.replace(/\/+$/, '') : dirname(modelPath);
}

export async function readManifest(dir: string): Promise<ModelManifest> {
  const file = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return manifestSchema.parse({});
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(`${file}: not JSON (${(err as Error).message})`);
  }
  const r = manifestSchema.safeParse(raw);
  if (!r.success) throw new ManifestError(`${file}: ${r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** The name a model is served under: the configured one, else the manifest's, else the directory's. */
export function servedName(configured: string | undefined, manifest: ModelManifest, dir: string): string {
  const name = configured ?? manifest.name ?? basename(dir);
  if (!MODEL_NAME_PATTERN.test(name)) throw new ManifestError(`model name "${name}" (from ${configured ? 'VOXFLEET_MODEL_NAME' : manifest.name ? MANIFEST_FILE : 'the directory name'}) is not a valid name: use letters, digits, ".", "_" and "-"`);
  return name;
}
