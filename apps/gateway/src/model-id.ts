/**
 * The model id that goes into result-cache keys. Without VOXFLEET_MODEL_ID it
 * is what the worker's engine reports for the same environment: the served
 * model's ONNX `model_id` (which names the training step) plus a tag for the
 * decoder and its language model, so a retrained model or a different decoder
 * never answers from the old cache. Reads only files, loads no onnxruntime.
 */
import { asrConfigFromEnv } from '@voxfleet/asr/config';
import { servedModelId as engineModelId } from '@voxfleet/asr/decoder';

/** `fallback` (the configured id) when the model or its metadata cannot be read. */
export async function servedModelId(env: NodeJS.ProcessEnv, fallback: string): Promise<string> {
  if (env.VOXFLEET_MODEL_ID) return fallback;
  const id = await engineModelId(asrConfigFromEnv(env)).catch(() => undefined);
  return id ?? fallback;
}
