/**
 * The registry on NeMo transducer directories (Parakeet TDT, sherpa-onnx's export layout):
 * recognised from its three graphs per precision and the encoder's metadata; broken
 * directories (a missing joiner, a wrong signature, tokens that do not fit, a plain RNN-T)
 * refused at start-up naming the file.
 */
import { copyFile, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyDir, ensureTestGraph, identityOnnx } from '@voxfleet/testkit';
import { AsrEngine, ModelSpecError, describeSpec, loadModelSpec } from '../src/index.js';
import { readOnnxMetadata } from '../src/onnx-metadata.js';

async function specError(p: Promise<unknown>): Promise<ModelSpecError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelSpecError);
  return err as ModelSpecError;
}

describe('model registry: NeMo transducers (Parakeet TDT)', () => {
  let work: string;
  let graph: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'voxfleet-registry-tdt-'));
    graph = await ensureTestGraph('parakeet-tdt');
  }, 300_000);
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('recognises the export from its files and the encoder metadata', async () => {
    const spec = await loadModelSpec({ modelPath: graph });
    expect(spec).toMatchObject({ kind: 'nemo-transducer', decoder: 'tdt-greedy', timestamps: 'frames', languages: ['auto'], options: { language: false, itn: false } });
    expect(spec.variants.map((v) => [v.precision, v.parts])).toEqual([
      ['int8', { encoder: join(graph, 'encoder.int8.onnx'), decoder: join(graph, 'decoder.int8.onnx'), joiner: join(graph, 'joiner.int8.onnx') }],
      ['fp32', { encoder: join(graph, 'encoder.onnx'), decoder: join(graph, 'decoder.onnx'), joiner: join(graph, 'joiner.onnx') }],
    ]);
    expect(spec.transducer?.info).toEqual({ vocabSize: 1025, subsamplingFactor: 8, normalize: 'per_feature', predRnnLayers: 2, predHidden: 640, featDim: 128, tdt: true });
    expect(spec.transducer?.numDurations).toBe(5);
    // the transducer path's front-end, not the NeMo CTC one: povey window, 7600 Hz top, 128 bins
    expect(spec.frontEnd).toMatchObject({ kind: 'nemo', normalize: 'per_feature', fbank: { melBins: 128, window: 'povey', highFreq: -400, lowFreq: 0, mel: 'slaney', removeDcOffset: false, preemphasis: 0.97, scale: 1 } });
    expect(describeSpec(spec)).toContain('nemo-transducer');
    // the fp32 encoder keeps its weights in encoder.weights, as the export does
    expect(spec.variants.find((v) => v.precision === 'fp32')?.file).toBe(join(graph, 'encoder.onnx'));
    expect((await readOnnxMetadata(join(graph, 'encoder.int8.onnx'))).url).toContain('tdt');
  });

  it('refuses a directory without its joiner (or decoder), naming the file; the engine refuses to start', async () => {
    const dir = await copyDir(graph, join(work, 'no-joiner'));
    await unlink(join(dir, 'joiner.int8.onnx'));
    const err = await specError(loadModelSpec({ modelPath: dir }));
    expect(err.file).toBe(join(dir, 'joiner.int8.onnx'));
    expect(err.message).toMatch(/joiner\.int8\.onnx: missing: a NeMo transducer needs its joiner/);
    await expect(AsrEngine.start({ modelPath: dir, provider: 'cpu', precision: 'fp32' })).rejects.toThrow(/joiner\.int8\.onnx: missing/);

    const noDec = await copyDir(graph, join(work, 'no-decoder'));
    await unlink(join(noDec, 'decoder.onnx'));
    expect((await specError(loadModelSpec({ modelPath: noDec }))).file).toBe(join(noDec, 'decoder.onnx'));
  });

  it('refuses a wrong signature, naming the file and what is wrong', async () => {
    const swapped = await copyDir(graph, join(work, 'swapped'));
    await copyFile(join(graph, 'joiner.onnx'), join(swapped, 'decoder.onnx'));
    const e1 = await specError(loadModelSpec({ modelPath: swapped }));
    expect(e1.file).toBe(join(swapped, 'decoder.onnx'));
    expect(e1.message).toMatch(/not a NeMo transducer decoder: it has 2 inputs/);

    const badTypes = await copyDir(graph, join(work, 'bad-types'));
    await writeFile(
      join(badTypes, 'joiner.int8.onnx'),
      identityOnnx(
        [
          { name: 'encoder_outputs', type: 'float32', dims: ['N', 1024, 'T'] },
          { name: 'decoder_outputs', type: 'float32', dims: ['N', 640, 'U'] },
        ],
        [{ name: 'outputs', type: 'float32', dims: ['N', 1024, 'T'] }],
      ),
    );
    const e2 = await specError(loadModelSpec({ modelPath: badTypes }));
    expect(e2.file).toBe(join(badTypes, 'joiner.int8.onnx'));
    expect(e2.message).toMatch(/output 1 \(outputs float32\[N,1024,T\]\) should be float32 of rank 4/);

    // a lone encoder file is no servable model: its directory is
    const lone = await specError(loadModelSpec({ modelPath: join(graph, 'encoder.onnx') }));
    expect(lone.message).toMatch(/a NeMo transducer encoder: serve its directory/);
  });

  it('refuses tokens that do not fit the model, and an RNN-T without TDT durations', async () => {
    const tokens = await copyDir(graph, join(work, 'short-tokens'));
    const lines = (await readFile(join(graph, 'tokens.txt'), 'utf8')).split('\n');
    await writeFile(join(tokens, 'tokens.txt'), lines.slice(0, 1000).join('\n') + '\n');
    const e1 = await specError(loadModelSpec({ modelPath: tokens }));
    expect(e1.file).toBe(join(tokens, 'tokens.txt'));
    expect(e1.message).toMatch(/tokens\.txt does not include the blank token <blk>/);

    const rnnt = await copyDir(graph, join(work, 'rnnt'));
    const enc = identityOnnx(
      [
        { name: 'audio_signal', type: 'float32', dims: ['N', 128, 'T'] },
        { name: 'length', type: 'int64', dims: ['N'] },
      ],
      [
        { name: 'outputs', type: 'float32', dims: ['N', 128, 'T'] },
        { name: 'encoded_lengths', type: 'int64', dims: ['N'] },
      ],
      { vocab_size: '1024', normalize_type: 'per_feature', pred_rnn_layers: '2', pred_hidden: '640', subsampling_factor: '8', feat_dim: '128', url: 'https://huggingface.co/nvidia/parakeet-rnnt-0.6b' },
    );
    for (const f of ['encoder.onnx', 'encoder.int8.onnx']) await writeFile(join(rnnt, f), enc);
    await unlink(join(rnnt, 'encoder.weights'));
    const e2 = await specError(loadModelSpec({ modelPath: rnnt }));
    expect(e2.file).toBe(join(rnnt, 'encoder.onnx'));
    expect(e2.message).toMatch(/RNN-T transducer without TDT durations .* only TDT transducers are served/);
  });
});
