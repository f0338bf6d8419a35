/**
 * What the deploy tests share: the repository's paths, YAML parsing as compose and
 * kustomize read it, and the environment variables the code really reads (so a
 * misspelt variable in a manifest fails a test instead of being ignored at run time).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

export const ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
export const at = (...p: string[]): string => join(ROOT, ...p);

/** One YAML document; merge keys (`<<: *anchor`) on, as Docker Compose reads them. */
export async function yamlFile<T = unknown>(path: string): Promise<T> {
  return parse(await readFile(path, 'utf8'), { merge: true }) as T;
}

/** Every document of a multi-document YAML stream (kubectl kustomize's output). */
export function yamlDocuments(text: string): Record<string, unknown>[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length) throw new Error(d.errors.map((e) => e.message).join('; '));
      return d.toJS() as Record<string, unknown> | null;
    })
    .filter((d): d is Record<string, unknown> => d !== null);
}

/** The sources every VOXFLEET_* / OTEL_* variable is read in. */
const CONFIG_SOURCES = ['packages/config/src/index.ts', 'packages/asr/src/config.ts'];

/** Names of `env` that no configuration source reads (VoxFleet's own and OTLP's). */
export async function unknownVariables(names: Iterable<string>): Promise<string[]> {
  const sources = (await Promise.all(CONFIG_SOURCES.map((p) => readFile(at(p), 'utf8')))).join('\n');
  return [...names].filter((n) => /^(VOXFLEET|OTEL)_/.test(n) && !new RegExp(`\\b${n}\\b`).test(sources));
}
