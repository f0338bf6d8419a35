/**
 * Parakeet TDT (NeMo transducer, sherpa-onnx's export layout) against sherpa-onnx, its
 * reference runtime: on the tiny graphs with the export's exact signatures and metadata
 * (scripts/models/testgraph parakeet-tdt) and real speech from fixtures/audio, VoxFleet's
 * text, tokens, timestamps and durations equal sherpa-onnx-node's, one at a time and
 * batched (encoder batched across the utterances, joiner and decoder steps of many
 * utterances in one call each), on fp32 and int8; the batched decode equals one at a time,
 * with short and long utterances mixed; fp16 and int8 files made by the converters serve.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyDir, ensureTestGraph, fixtureSamples, onnxTools, sherpaTranscribe, type SherpaResult } from '@voxfleet/testkit';
import { AsrEngine, TransducerModel, loadModelSpec } from '../src/index.js';
import { asrConfigSchema } from '../src/config.js';
import { sherpaFixed2, sherpaJsonView, type TdtTranscript } from '../src/families/index.js';

const CLIPS = ['en-funasr-example.wav', 'zh-funasr-example.wav', 'yue-funasr-example.wav', 'zh-aishell-BAC009S0724W0121.wav', 'en-librispeech-1995-1837-0001.wav'];

/** sherpa-onnx's fields as its JSON carries them (timestamps and durations printed with %.2f). */
function view(t: TdtTranscript) {
  const v = sherpaJsonView(t.sherpa);
  return { text: v.text, tokens: v.tokens, timestamps: v.timestamps, durations: t.durations.map(sherpaFixed2) };
}

function ref(r: SherpaResult) {
  return { text: r.text, tokens: r.tokens, timestamps: r.timestamps, durations: r.durations ?? [] };
}

describe('Parakeet TDT: parity with sherpa-onnx on the exact-signature graphs and real speech', () => {
  let dir: string;
  let clips: Float32Array[];
  let fp32: AsrEngine;
  let int8: AsrEngine;
  let work: string;

  beforeAll(async () => {
    dir = await ensureTestGraph('parakeet-tdt');
    work = await mkdtemp(join(tmpdir(), 'voxfleet-tdt-'));
    clips = await Promise.all(CLIPS.map((c) => fixtureSamples(c)));
    // fp32 fixes the batched search (what these tests compare with sherpa-onnx); int8 leaves it to the measurement at load
    fp32 = await AsrEngine.start({ modelPath: dir, provider: 'cpu', precision: 'fp32', threads: 1, tdtSearch: 'batched' });
    int8 = await AsrEngine.start({ modelPath: dir, provider: 'cpu', precision: 'int8', threads: 1 });
  }, 300_000);
  afterAll(async () => {
    await fp32?.close();
    await int8?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('loads the three graphs with the decoder state batch relaxed, so decoder steps batch', () => {
    expect(fp32.report).toMatchObject({ kind: 'nemo-transducer', precision: 'fp32', provider: 'cpu' });
    expect(fp32.report.decoder).toMatch(/TDT greedy .*joiner steps batched across utterances, decoder steps too/);
    expect(fp32.report.weights).toMatch(/decoder state onnx::Slice_3: batch axis declared 1 by the export, relaxed at load/);
    expect(fp32.report.modelId).toMatch(/@[0-9a-f]{12}\/fp32$/);
  });

  it('chooses the batched or the sequential search by timing both at load (VOXFLEET_TDT_SEARCH=auto, the default)', () => {
    expect(int8.report.decoder).toMatch(
      /TDT greedy .*(joiner steps batched across utterances, decoder steps too|each utterance searched on its own) \(measured at load: batched \d+ ms, one at a time \d+ ms on 4 x 6 s\)/,
    );
    expect(fp32.report.decoder).toMatch(/\(VOXFLEET_TDT_SEARCH=batched\)/);
  });

  it('gives sherpa-onnx text, tokens, timestamps and durations token for token (batched and one by one)', async () => {
    const expected = (await sherpaTranscribe('parakeet-tdt', dir, clips.map((c) => c.slice()), { model: 'encoder.onnx' })).map(ref);
    const batched = (await fp32.transcribe(clips.map((c) => c.slice()))).transcripts as TdtTranscript[];
    expect(batched.map(view)).toEqual(expected);
    for (let i = 0; i < clips.length; i++) {
      const one = (await fp32.transcribe([clips[i]!.slice()])).transcripts[0] as TdtTranscript;
      expect(view(one)).toEqual(expected[i]);
    }
    // the graphs exercise every TDT rule on real speech: skips of 0 to 4 frames, two tokens on
    // one frame, the 5-per-frame limit (five equal tokens at one timestamp)
    const all = expected.flatMap((e) => e.durations);
    for (const d of [0, 0.08, 0.16, 0.24]) expect(all).toContain(d);
    expect(expected.some((e) => e.timestamps.some((t, k) => k >= 4 && e.timestamps.slice(k - 4, k + 1).every((x) => x === t)))).toBe(true);
    expect(expected.every((e) => e.tokens.length > 5)).toBe(true);
  }, 120_000);

  // Dynamic int8 quantizes activations with one scale per tensor, so a batch's padding and its other
  // utterances shift a row's scale: int8 parity is checked one at a time, as sherpa-onnx decodes.
  it('and on the int8 graphs too (one utterance at a time)', async () => {
    const expected = (await sherpaTranscribe('parakeet-tdt', dir, clips.map((c) => c.slice()), { model: 'encoder.int8.onnx' })).map(ref);
    for (let i = 0; i < clips.length; i++) {
      const one = (await int8.transcribe([clips[i]!.slice()])).transcripts[0] as TdtTranscript;
      expect(view(one)).toEqual(expected[i]);
    }
  }, 120_000);

  it('decodes a batch mixing short and long utterances as it decodes them one at a time', async () => {
    // pieces of 0.3 s to the whole clip, and the same clip twice: sequences stop at different steps
    const mixed = [clips[4]!, clips[0]!.subarray(0, 4800), clips[1]!, clips[3]!.subarray(8000, 40000), clips[4]!, clips[2]!.subarray(0, 16000)];
    const batched = (await fp32.transcribe(mixed.map((c) => c.slice()))).transcripts as TdtTranscript[];
    for (let i = 0; i < mixed.length; i++) {
      const one = (await fp32.transcribe([mixed[i]!.slice()])).transcripts[0] as TdtTranscript;
      expect(batched[i]).toEqual(one);
    }
    expect(batched[0]).toEqual(batched[4]);
    // and as the search run one utterance at a time within the batch (VOXFLEET_TDT_SEARCH=sequential)
    const seq = await AsrEngine.start({ modelPath: dir, provider: 'cpu', precision: 'fp32', threads: 1, tdtSearch: 'sequential' });
    try {
      expect(seq.report.decoder).toMatch(/each utterance searched on its own/);
      expect((await seq.transcribe(mixed.map((c) => c.slice()))).transcripts).toEqual(batched);
    } finally {
      await seq.close();
    }
    // segments and token timings come with the text
    expect(batched[0]!.segments.length).toBeGreaterThan(0);
    expect(batched[0]!.tokens.length).toBe(batched[0]!.sherpa.tokens.length);
  }, 120_000);

  it('decodes the same with decoder steps one utterance at a time (a decoder whose state batch stays fixed)', async () => {
    const spec = await loadModelSpec({ modelPath: dir });
    const t = spec.transducer!;
    // as if states.1 were declared with batch 1 too: it cannot be relaxed (it is dynamic in the file), so the
    // backend keeps its decoder steps one utterance at a time, the joiner still batched
    const inputs = t.decoder.inputs.map((s, i) => (i === 2 ? { ...s, dims: [s.dims[0]!, 1, s.dims[2]!] } : s));
    const model = await TransducerModel.load(
      { ...spec, variants: spec.variants.filter((v) => v.precision === 'fp32'), transducer: { ...t, decoder: { ...t.decoder, inputs } } },
      asrConfigSchema.parse({ modelPath: dir, provider: 'cpu', precision: 'fp32', threads: 1, tdtSearch: 'batched' }),
    );
    try {
      expect(model.report.decoder).toMatch(/decoder steps one utterance at a time: its state batch is fixed at 1/);
      const got = (await model.transcribe(clips.map((c) => c.slice()))).transcripts;
      expect(got).toEqual((await fp32.transcribe(clips.map((c) => c.slice()))).transcripts);
    } finally {
      await model.release();
    }
  }, 120_000);

  it('serves fp16 and int8 graphs made by npm run models:fp16 / models:int8', async () => {
    const conv = await copyDir(dir, join(work, 'converted'));
    for (const part of ['encoder', 'decoder', 'joiner']) {
      await onnxTools(['fp16', join(dir, `${part}.onnx`), join(conv, `${part}.fp16.onnx`)]);
    }
    const f16 = await AsrEngine.start({ modelPath: conv, provider: 'cpu', precision: 'fp16', threads: 1 });
    try {
      expect(f16.report.precision).toBe('fp16');
      const ref32 = (await fp32.transcribe(clips.map((c) => c.slice()))).transcripts as TdtTranscript[];
      const got = (await f16.transcribe(clips.map((c) => c.slice()))).transcripts as TdtTranscript[];
      // float16 features move a score only where it lies within rounding of a bucket edge
      const same = got.filter((t, i) => t.sherpa.text === ref32[i]!.sherpa.text).length;
      expect(same).toBeGreaterThanOrEqual(clips.length - 1);
    } finally {
      await f16.close();
    }
    // int8 by this project's converter (uint8 weights per tensor for all three) in place of the export's
    const q = await mkdtemp(join(work, 'q-'));
    await copyDir(dir, q);
    for (const part of ['encoder', 'decoder', 'joiner']) await onnxTools(['int8', join(dir, `${part}.onnx`), join(q, `${part}.int8.onnx`)]);
    const q8 = await AsrEngine.start({ modelPath: q, provider: 'cpu', precision: 'int8', threads: 1 });
    try {
      const expected = (await sherpaTranscribe('parakeet-tdt', q, [clips[0]!.slice()], { model: 'encoder.int8.onnx' })).map(ref);
      expect(view((await q8.transcribe([clips[0]!.slice()])).transcripts[0] as TdtTranscript)).toEqual(expected[0]);
    } finally {
      await q8.close();
    }
  }, 300_000);
});
