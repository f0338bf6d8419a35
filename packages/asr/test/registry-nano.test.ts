/**
 * The registry's funasr-nano kind on the exact-signature test graphs (files, signatures,
 * metadata, tokenizer), broken directories refused naming the file; and the pure parts of
 * the Nano decoding (families/funasr-nano.ts): audio rows, sherpa-onnx's prompt trimming,
 * the repetition guard, byte-level text and tokens, timestamps.
 */
import { cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestGraph } from '@voxfleet/testkit';
import { ModelSpecError, loadModelSpec } from '../src/registry.js';
import { fitPrompt, nanoAudioRows, nanoText, nanoTimestamps, pieceBytes, repetitionCut } from '../src/families/funasr-nano.js';

describe('registry: funasr-nano', () => {
  let dir: string;
  let work: string;
  beforeAll(async () => {
    dir = await ensureTestGraph('funasr-nano');
    work = await mkdtemp(join(tmpdir(), 'voxfleet-nano-reg-'));
  }, 300_000);
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('recognises the export by its files and metadata, every precision with its graphs', async () => {
    const spec = await loadModelSpec({ modelPath: dir });
    expect(spec.kind).toBe('funasr-nano');
    expect(spec.variants.map((v) => [v.precision, v.nano && Object.values(v.nano).map((f) => f.slice(dir.length + 1))])).toEqual([
      ['fp32', ['encoder_adaptor.onnx', 'embedding.onnx', 'llm.fp32.onnx']],
      ['int8', ['encoder_adaptor.int8.onnx', 'embedding.int8.onnx', 'llm.int8.onnx']],
      ['fp16', ['encoder_adaptor.int8.onnx', 'embedding.int8.onnx', 'llm.fp16.onnx']],
    ]);
    expect(spec.nano!.info).toMatchObject({ lfrWindowSize: 7, lfrWindowShift: 6, hiddenSize: 16, vocabSize: 151936, numLayers: 2, maxTotalLen: 512, numKvHeads: 2, headDim: 4, cacheType: 'float32' });
    expect(spec.nano!.byPrecision.fp16!.cacheType).toBe('float16');
    expect(spec.nano!.audioRows).toBe('all');
    expect(spec.languages).toEqual(['auto', 'zh', 'en', 'ja']);
    expect(spec.frontEnd).toMatchObject({ kind: 'funasr', fbank: { snipEdges: false, highFreq: -400, window: 'hamming', scale: 32768, lowFreq: 20 }, lfr: { m: 7, n: 6, padding: 'none' }, cmvn: null });
  });

  it('takes FunASR\'s low-frame-rate audio rows from VOXFLEET_NANO_AUDIO_ROWS, and refuses another value', async () => {
    process.env.VOXFLEET_NANO_AUDIO_ROWS = 'low-frame-rate';
    try {
      expect((await loadModelSpec({ modelPath: dir })).nano!.audioRows).toBe('low-frame-rate');
      process.env.VOXFLEET_NANO_AUDIO_ROWS = 'half';
      await expect(loadModelSpec({ modelPath: dir })).rejects.toThrow(/VOXFLEET_NANO_AUDIO_ROWS must be all or low-frame-rate/);
    } finally {
      delete process.env.VOXFLEET_NANO_AUDIO_ROWS;
    }
  });

  async function broken(name: string, change: (d: string) => Promise<void>): Promise<unknown> {
    const d = join(work, name);
    await cp(dir, d, { recursive: true });
    await change(d);
    return loadModelSpec({ modelPath: d }).catch((e: unknown) => e);
  }

  it('refuses a broken directory naming the file', async () => {
    const cases: [string, (d: string) => Promise<void>, RegExp][] = [
      ['no-embedding', (d) => unlink(join(d, 'embedding.onnx')), /embedding\.onnx: missing: a funasr-nano model needs its embedding/],
      ['no-tokenizer', (d) => unlink(join(d, 'Qwen3-0.6B', 'tokenizer.json')), /Qwen3-0\.6B: the Qwen3 tokenizer cannot be loaded/],
      ['bad-llm', (d) => writeFile(join(d, 'llm.int8.onnx'), 'not onnx'), /llm\.int8\.onnx: not a readable ONNX file/],
      ['wrong-llm', async (d) => writeFile(join(d, 'llm.int8.onnx'), await readFile(join(d, 'embedding.onnx'))), /llm\.int8\.onnx: not a Fun-ASR-Nano llm: input 1 should be inputs_embeds/],
      ['no-llm', async (d) => {
        for (const f of ['llm.fp32.onnx', 'llm.int8.onnx', 'llm.fp16.onnx']) await unlink(join(d, f));
      }, /missing: a funasr-nano model needs an llm/],
    ];
    for (const [name, change, want] of cases) {
      const err = await broken(name, change);
      expect(err, name).toBeInstanceOf(ModelSpecError);
      expect(String((err as Error).message), name).toMatch(want);
    }
  }, 120_000);
});

describe('Fun-ASR-Nano decoding rules', () => {
  it('splices all rows by default, FunASR low-frame-rate rows when asked', () => {
    expect(nanoAudioRows(100, 'all')).toBe(100);
    // o1 = 1 + 99/2 = 50, o2 = 1 + 49/2 = 25, n = 24/2 + 1 = 13
    expect(nanoAudioRows(100, 'low-frame-rate')).toBe(13);
    expect(nanoAudioRows(1, 'low-frame-rate')).toBe(1);
    expect(nanoAudioRows(0, 'low-frame-rate')).toBe(0);
  });

  it('trims the prompt as sherpa-onnx does', () => {
    const before = [1, 2, 3];
    const after = [4, 5];
    expect(fitPrompt(before, 10, after, 0, 512)).toMatchObject({ audioStart: 3, audioRows: 10, maxNewTokens: 512 - 15, trimmedRows: 0 });
    expect(fitPrompt(before, 10, after, 0, 20).maxNewTokens).toBe(5);
    const t = fitPrompt(before, 10, after, 0, 12);
    expect(t).toMatchObject({ ids: [1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 4, 5], audioRows: 7, trimmedRows: 3, maxNewTokens: 0 });
    const over = fitPrompt(before, 10, after, 0, 4);
    expect(over).toMatchObject({ ids: [0, 0, 4, 5], audioStart: -1, audioRows: 0, maxNewTokens: 0 });
    expect(fitPrompt(before, 10, after, 0, 512, 7).maxNewTokens).toBe(7);
  });

  it('the repetition guard cuts a looping tail to one copy, and leaves normal text alone', () => {
    const loop = Array.from({ length: 24 }, (_, i) => [7, 8, 9][i % 3]!);
    expect(repetitionCut([1, 2, ...loop])).toBe(5);
    expect(repetitionCut(loop.slice(0, 21))).toBe(-1); // 7 repeats of 3 = 21 tokens < 24
    expect(repetitionCut(new Array(24).fill(5))).toBe(1);
    expect(repetitionCut(Array.from({ length: 200 }, (_, i) => (i * i + 3 * i) % 97))).toBe(-1);
  });

  it('builds text and tokens from byte-level pieces as sherpa-onnx does, a character split across tokens included', () => {
    // 你 = E4 BD A0: split over two pieces as byte-level BPE spells bytes (ä ½ ł for E4 BD A0)
    const pieces: Record<number, string> = { 1: 'Ġhello', 2: 'ä½', 3: 'ł', 4: '<|im_end|>', 5: 'Ġworld' };
    expect(pieceBytes('ä½ł')).toEqual([0xe4, 0xbd, 0xa0]);
    const r = nanoText([1, 2, 3, 5], (id) => pieces[id], (id) => id === 4);
    expect(r).toEqual({ text: 'hello你 world', tokens: [' hello', '', '你', ' world'] });
    expect(nanoText([1, 4, 2], (id) => pieces[id], (id) => id === 4)).toEqual({ text: 'hello\uFFFD', tokens: [' hello', '', '\uFFFD\uFFFD'] });
    expect(nanoText([1, 4, 2], (id) => pieces[id], (id) => id === 4).text.length).toBeGreaterThan(0);
  });

  it('spreads timestamps evenly over the injected rows × 60 ms', () => {
    expect(nanoTimestamps(0, 10, 6)).toEqual([]);
    expect(nanoTimestamps(1, 10, 6).map((x) => Math.round(x * 1000))).toEqual([300]);
    const t = nanoTimestamps(3, 10, 6);
    expect(t.map((x) => Math.round(x * 1000))).toEqual([0, 300, 600]);
  });
});
