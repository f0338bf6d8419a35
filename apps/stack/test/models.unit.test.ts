/**
 * npm start derives VOXFLEET_MODELS from the worker's model directories: the name each is served under
 * (VOXFLEET_MODEL_NAME, its manifest, else its directory's name), duplicates once; a bad manifest is refused.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManifestError } from '@voxfleet/asr/manifest';
import { servedModelNames } from '../src/models.js';

const root = await mkdtemp(join(tmpdir(), 'voxfleet-stack-models-'));
afterAll(() => rm(root, { recursive: true, force: true }));

async function modelDir(name: string, manifest?: unknown): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), '');
  if (manifest !== undefined) await writeFile(join(dir, 'voxfleet-model.json'), JSON.stringify(manifest));
  return dir;
}

describe('servedModelNames', () => {
  it('names each directory by its manifest or its own name, in order, once', async () => {
    const a = await modelDir('sense-voice-int8');
    const b = await modelDir('pf', { name: 'paraformer-zh' });
    const fileInA = join(a, 'model.onnx');
    expect(await servedModelNames({ VOXFLEET_MODEL: `${a}, ${b},${fileInA}` })).toEqual(['sense-voice-int8', 'paraformer-zh']);
  });

  it('takes VOXFLEET_MODEL_NAME for a single model', async () => {
    const a = await modelDir('whatever');
    expect(await servedModelNames({ VOXFLEET_MODEL: a, VOXFLEET_MODEL_NAME: 'mine' })).toEqual(['mine']);
  });

  it('refuses a manifest that is not valid', async () => {
    const bad = await modelDir('bad', { name: 'no spaces allowed' });
    await expect(servedModelNames({ VOXFLEET_MODEL: bad })).rejects.toBeInstanceOf(ManifestError);
  });
});
