/**
 * The model id that goes into result-cache keys. Without VOXFLEET_MODEL_ID it
 * is the `model_id` in the served model's ONNX metadata (which names the
 * training step), so a retrained model never answers from the old model's
 * cache. Reads only the metadata, not the graph, and loads no onnxruntime.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_MODEL_DIR } from '@voxfleet/asr/config';
import { readOnnxMetadata } from '@voxfleet/asr/onnx-metadata';

async function modelFile(path: string): Promise<string | undefined> {
  const st = await stat(path).catch(() => undefined);
  if (!st) return undefined;
  if (st.isFile()) return path;
  const names = (await readdir(path)).filter((n) => n.endsWith('.onnx')).sort();
  const pick = names.includes('model.onnx') ? 'model.onnx' : names[0];
  return pick ? join(path, pick) : undefined;
}

/** `fallback` (the configured id) when the model or its metadata cannot be read. */
export async function servedModelId(env: NodeJS.ProcessEnv, fallback: string): Promise<string> {
  if (env.VOXFLEET_MODEL_ID) return fallback;
  const file = await modelFile(env.VOXFLEET_MODEL || DEFAULT_MODEL_DIR);
  if (!file) return fallback;
  const meta = await readOnnxMetadata(file).catch(() => undefined);
  return meta?.model_id || fallback;
}
