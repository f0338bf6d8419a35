import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { asrConfigSchema, type AsrConfigInput } from '../src/config.js';
import { DecoderConfigError, decoderTag, resolveDecoder } from '../src/decoder.js';
import { TINY_ARPA } from './lm.test.js';

async function modelDir(decoderJson?: object): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vf-dec-'));
  await writeFile(join(dir, 'lm.arpa'), TINY_ARPA);
  if (decoderJson) await writeFile(join(dir, 'decoder.json'), JSON.stringify(decoderJson));
  return dir;
}

const cfg = (c: AsrConfigInput) => asrConfigSchema.parse(c);

describe('decoder selection', () => {
  it('auto: beam search with the LM named in decoder.json, greedy without one', async () => {
    const withLm = await modelDir({ lm: 'lm.arpa', alpha: 0.7, beta: 1.5 });
    const spec = await resolveDecoder(cfg({ modelPath: withLm }));
    expect(spec).toMatchObject({ kind: 'beam', lmPath: join(withLm, 'lm.arpa'), options: { alpha: 0.7, beta: 1.5, beamWidth: 16 } });
    expect(await resolveDecoder(cfg({ modelPath: join(withLm, 'model.onnx') }))).toMatchObject({ kind: 'beam' });
    expect(await resolveDecoder(cfg({ modelPath: await modelDir() }))).toEqual({ kind: 'greedy' });
  });

  it('lets the config override the model directory: greedy, another LM, no LM, weights', async () => {
    const dir = await modelDir({ lm: 'lm.arpa' });
    expect(await resolveDecoder(cfg({ modelPath: dir, decoder: 'greedy' }))).toEqual({ kind: 'greedy' });
    expect(await resolveDecoder(cfg({ modelPath: dir, lmPath: 'none' }))).toEqual({ kind: 'greedy' });
    expect(await resolveDecoder(cfg({ modelPath: dir, lmPath: 'none', decoder: 'beam' }))).toEqual({ kind: 'beam', options: expect.any(Object) });
    const spec = await resolveDecoder(cfg({ modelPath: dir, lmAlpha: 0.2, lmBeta: 4, beamWidth: 4 }));
    expect(spec).toMatchObject({ options: { alpha: 0.2, beta: 4, beamWidth: 4 } });
  });

  it('fails clearly for a missing LM or a malformed decoder.json', async () => {
    await expect(resolveDecoder(cfg({ modelPath: await modelDir({ lm: 'absent.arpa' }) }))).rejects.toThrow(DecoderConfigError);
    await expect(resolveDecoder(cfg({ modelPath: await modelDir({ lm: 'lm.arpa', alpha: -1 }) }))).rejects.toThrow(/decoder.json/);
    await expect(resolveDecoder(cfg({ modelPath: await modelDir({ lm: 'lm.arpa', typo: 1 }) }))).rejects.toThrow(DecoderConfigError);
  });

  it('names every output-changing setting in the model id tag', async () => {
    const dir = await modelDir({ lm: 'lm.arpa' });
    const base = decoderTag(await resolveDecoder(cfg({ modelPath: dir })));
    expect(base).toMatch(/^\+beam-[0-9a-f]{8}$/);
    expect(decoderTag(await resolveDecoder(cfg({ modelPath: dir, lmAlpha: 0.9 })))).not.toBe(base);
    expect(decoderTag(await resolveDecoder(cfg({ modelPath: dir, beamWidth: 3 })))).not.toBe(base);
    expect(decoderTag({ kind: 'greedy' })).toBe('');
    await writeFile(join(dir, 'lm.arpa'), TINY_ARPA.replace('-1.5\tcat', '-1.6\tcat'));
    expect(decoderTag(await resolveDecoder(cfg({ modelPath: dir })))).not.toBe(base);
  });
});
