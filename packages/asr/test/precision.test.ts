/**
 * Automatic precision choice for a production backend: a SenseVoice export
 * with fp32, int8 and (converted, fp32 I/O kept) fp16 files; with `auto`
 * every runnable provider × precision pair is timed and the fastest kept,
 * and the fp16 build decodes like fp32 on real speech.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyDir, ensureTestGraph, fixtureSamples, onnxTools } from '@voxfleet/testkit';
import { AsrEngine } from '../src/index.js';
import type { FamilyTranscript } from '../src/families/index.js';

describe('precision choice for every backend', () => {
  let dir: string;

  beforeAll(async () => {
    const src = await ensureTestGraph('sense-voice');
    dir = await copyDir(src, join(await mkdtemp(join(tmpdir(), 'voxfleet-prec-')), 'sense-voice'));
    await onnxTools(['fp16', join(dir, 'model.onnx'), join(dir, 'model.fp16.onnx')]);
  }, 600_000);
  afterAll(() => rm(join(dir, '..'), { recursive: true, force: true }));

  it('times each runnable pair and keeps the fastest; fp16 decodes like fp32', async () => {
    const auto = await AsrEngine.start({ modelPath: dir, provider: 'auto', precision: 'auto', threads: 1 });
    const clip = await fixtureSamples('en-funasr-example.wav');
    try {
      const cal = auto.report.calibration;
      const timed = cal.filter((c) => c.ms !== undefined);
      expect(timed.map((c) => `${c.provider}/${c.precision}`).sort()).toEqual(['cpu/fp16', 'cpu/fp32', 'cpu/int8']);
      const fastest = timed.reduce((a, b) => (b.ms! < a.ms! ? b : a));
      expect(auto.report).toMatchObject({ provider: fastest.provider, precision: fastest.precision });
      // providers this machine lacks are listed with why
      expect(cal.some((c) => c.provider !== 'cpu' && c.error)).toBe(true);
    } finally {
      await auto.close();
    }
    const fp32 = await AsrEngine.start({ modelPath: dir, provider: 'cpu', precision: 'fp32', threads: 1 });
    const fp16 = await AsrEngine.start({ modelPath: dir, provider: 'cpu', precision: 'fp16', threads: 1 });
    try {
      expect(fp16.report.modelId).toMatch(/\/fp16$/);
      const a = (await fp32.transcribe([clip.slice()])).transcripts[0] as FamilyTranscript;
      const b = (await fp16.transcribe([clip.slice()])).transcripts[0] as FamilyTranscript;
      expect(b.sherpa.tokens).toEqual(a.sherpa.tokens);
      expect(b.sherpa.lang).toBe(a.sherpa.lang);
    } finally {
      await fp32.close();
      await fp16.close();
    }
  }, 300_000);
});
