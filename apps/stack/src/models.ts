/**
 * The names the gateway should accept when `npm start` runs a worker on given
 * model directories and VOXFLEET_MODELS is unset: the names the worker will
 * serve them under (VOXFLEET_MODEL_NAME, a voxfleet-model.json, or the
 * directory's name). Without this, `VOXFLEET_MODEL=models/x npm start` would
 * route every job to the default model, which no worker holds.
 */
import { asrConfigsFromEnv } from '@voxfleet/asr/config';
import { modelDirectory, readManifest, servedName } from '@voxfleet/asr/manifest';

export async function servedModelNames(env: NodeJS.ProcessEnv): Promise<string[]> {
  const names: string[] = [];
  for (const cfg of asrConfigsFromEnv(env)) {
    const dir = await modelDirectory(cfg.modelPath);
    const name = servedName(cfg.modelName, await readManifest(dir), dir);
    if (!names.includes(name)) names.push(name);
  }
  return names;
}
