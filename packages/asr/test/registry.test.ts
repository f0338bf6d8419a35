/**
 * The model registry: each kind recognised from its files, signature and
 * metadata (on the exact-signature test graphs and the default model), and
 * broken model directories refused at start-up with the file and what is
 * wrong with it.
 */
import { copyFile, mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyDir, ensureTestGraph, identityOnnx, type TestGraphKind } from '@voxfleet/testkit';
import { AsrEngine, DEFAULT_MODEL_DIR, ModelSpecError, describeSpec, loadModelSpec } from '../src/index.js';

async function specError(p: Promise<unknown>): Promise<ModelSpecError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelSpecError);
  return err as ModelSpecError;
}

describe('model registry', () => {
  let work: string;
  const graphs = new Map<TestGraphKind, string>();

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'voxfleet-registry-'));
    for (const k of ['sense-voice', 'funasr-nano-ctc', 'paraformer', 'paraformer-ts', 'nemo-ctc'] as const) graphs.set(k, await ensureTestGraph(k));
  }, 600_000);
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('recognises every kind from its files and metadata', async () => {
    const expect_ = {
      'sense-voice': { kind: 'sense-voice', languages: ['auto', 'zh', 'en', 'ja', 'ko', 'yue'], options: { language: true, itn: true }, timestamps: 'frames' },
      'funasr-nano-ctc': { kind: 'funasr-nano-ctc', maxBatch: 1, options: { language: false, itn: false } },
      paraformer: { kind: 'paraformer', decoder: 'paraformer', timestamps: 'none' },
      'paraformer-ts': { kind: 'paraformer', decoder: 'paraformer', timestamps: 'cif-peaks' },
      'nemo-ctc': { kind: 'nemo-ctc', decoder: 'ctc-greedy' },
    } as const;
    for (const [k, want] of Object.entries(expect_)) {
      const spec = await loadModelSpec({ modelPath: graphs.get(k as TestGraphKind)! });
      expect(spec).toMatchObject(want);
      expect(spec.variants.map((v) => v.precision).sort()).toEqual(['fp32', 'int8']);
      expect(spec.tokensFile).toMatch(/tokens\.txt$/);
      expect(spec.frontEnd?.kind).toBe(k === 'nemo-ctc' ? 'nemo' : 'funasr');
      expect(describeSpec(spec)).toContain(spec.kind);
    }
    const own = await loadModelSpec({ modelPath: DEFAULT_MODEL_DIR });
    expect(own).toMatchObject({ name: 'voxfleet-en-char-ctc', kind: 'voxfleet-ctc', languages: ['en'], tokensFile: null, frontEnd: null });
    expect(own.variants.map((v) => v.precision).sort()).toEqual(['fp16', 'fp32', 'int8']);
  });

  it('takes name, aliases and languages from a manifest', async () => {
    const dir = await copyDir(graphs.get('paraformer')!, join(work, 'para-named'));
    await writeFile(join(dir, 'voxfleet-model.json'), JSON.stringify({ name: 'paraformer-zh', aliases: ['para'], languages: ['zh', 'en'] }));
    expect(await loadModelSpec({ modelPath: dir })).toMatchObject({ name: 'paraformer-zh', aliases: ['para'], languages: ['zh', 'en'] });
    await writeFile(join(dir, 'voxfleet-model.json'), '{"name": "bad name!"}');
    await expect(loadModelSpec({ modelPath: dir })).rejects.toThrow(/voxfleet-model\.json: name: model names use letters/);
  });

  it('refuses a directory without its tokens, naming the file', async () => {
    const dir = await copyDir(graphs.get('sense-voice')!, join(work, 'no-tokens'));
    await unlink(join(dir, 'tokens.txt'));
    const err = await specError(loadModelSpec({ modelPath: dir }));
    expect(err.file).toBe(join(dir, 'tokens.txt'));
    expect(err.message).toMatch(/missing: a sense-voice model needs its tokens\.txt/);
    // the engine refuses to start on it, with the same message
    await expect(AsrEngine.start({ modelPath: dir, provider: 'cpu', precision: 'fp32' })).rejects.toThrow(/tokens\.txt: missing/);
  });

  it('refuses a wrong signature or files of different models, naming the file', async () => {
    const mixed = await copyDir(graphs.get('sense-voice')!, join(work, 'mixed'));
    await copyFile(join(graphs.get('paraformer')!, 'model.int8.onnx'), join(mixed, 'model.int8.onnx'));
    const e1 = await specError(loadModelSpec({ modelPath: mixed }));
    expect(e1.file).toBe(join(mixed, 'model.int8.onnx'));
    expect(e1.message).toMatch(/is not that of the sense-voice file model\.onnx/);

    const wrong = join(work, 'wrong-types');
    await mkdir(wrong);
    await writeFile(
      join(wrong, 'model.onnx'),
      identityOnnx(
        [
          { name: 'x', type: 'float32', dims: ['N', 'T', 560] },
          { name: 'x_length', type: 'int64', dims: ['N'] },
          { name: 'language', type: 'int32', dims: ['N'] },
          { name: 'text_norm', type: 'int32', dims: ['N'] },
        ],
        [{ name: 'logits', type: 'float32', dims: ['N', 'T', 560] }],
        { model_type: 'sense_voice_ctc' },
      ),
    );
    const e2 = await specError(loadModelSpec({ modelPath: wrong }));
    expect(e2.file).toBe(join(wrong, 'model.onnx'));
    expect(e2.message).toMatch(/not a sense-voice export: input x_length should be int32 of rank 1/);
  });

  it('refuses a graph of no known kind, and one whose metadata lacks what its kind needs', async () => {
    const unknown = join(work, 'unknown');
    await mkdir(unknown);
    await writeFile(join(unknown, 'model.onnx'), identityOnnx([{ name: 'foo', type: 'float32', dims: ['N', 3] }], [{ name: 'bar', type: 'float32', dims: ['N', 3] }]));
    const e1 = await specError(loadModelSpec({ modelPath: unknown }));
    expect(e1.message).toMatch(/unknown kind of model: its inputs are foo float32\[N,3\]/);

    const noMeta = join(work, 'no-meta');
    await mkdir(noMeta);
    await writeFile(
      join(noMeta, 'model.onnx'),
      identityOnnx(
        [
          { name: 'speech', type: 'float32', dims: ['N', 'T', 560] },
          { name: 'speech_lengths', type: 'int32', dims: ['N'] },
        ],
        [
          { name: 'logits', type: 'float32', dims: ['N', 'T', 560] },
          { name: 'token_num', type: 'int32', dims: ['N'] },
        ],
      ),
    );
    await copyFile(join(graphs.get('paraformer')!, 'tokens.txt'), join(noMeta, 'tokens.txt'));
    const e2 = await specError(loadModelSpec({ modelPath: noMeta }));
    expect(e2.message).toMatch(/model\.onnx: metadata: .*lfr_window_size/);

    const empty = join(work, 'empty');
    await mkdir(empty);
    await expect(loadModelSpec({ modelPath: empty })).rejects.toThrow(/no \.onnx file/);
    await expect(loadModelSpec({ modelPath: join(work, 'absent') })).rejects.toThrow(/does not exist/);
  });
});
