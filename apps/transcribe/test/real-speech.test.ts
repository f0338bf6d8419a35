/**
 * The held-out real-speech split of `npm run eval -- --real`: what a clone
 * without ../shared reads (the committed subset), that no clip a training run
 * may use is scored, and the WAV pocketsphinx is given.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeFile } from '@voxfleet/audio';
import { realSource, wav16, type RealRow } from '../src/real-speech.js';

const ROOT = new URL('../../../', import.meta.url).pathname;

describe('real speech held out from training', () => {
  it('falls back to the committed subset, every clip on disk, sets as documented', async () => {
    const src = await realSource(ROOT, join(ROOT, 'no-such-shared-dir'));
    expect(src.full).toBe(false);
    const count = (set: string): number => src.rows.filter((r) => r.set === set).length;
    expect([count('bar'), count('seen-speaker'), count('digits')]).toEqual([10, 6, 20]);
    for (const r of src.rows) expect(existsSync(r.file), r.file).toBe(true);
    const audio = await decodeFile(src.rows[0]!.file);
    expect(audio.length / 16000).toBeGreaterThan(1);
  });

  it('the split holds LJSpeech whole, never a sentence of it in the dctts clips training may use', async () => {
    const split = (await readFile(join(ROOT, 'fixtures/real/split.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as RealRow);
    const lj = split.filter((r) => r.file.startsWith('ljspeech/'));
    expect(lj).toHaveLength(32);
    expect(lj.every((r) => r.set === 'bar')).toBe(true);
    const scoredDctts = new Set(split.filter((r) => r.file.startsWith('dctts-rerecorded/')).map((r) => r.file));
    for (const r of lj) {
      const same = `dctts-rerecorded/${r.file.slice('ljspeech/'.length)}`;
      // a dctts clip reading an LJSpeech held-out prompt (named by the prompt's id) is scored, never trained on
      if (existsSync(join(ROOT, '../shared/audio', same))) expect(scoredDctts.has(same), same).toBe(true);
    }
    expect(new Set(split.filter((r) => r.set === 'digits').map((r) => r.speaker))).toEqual(new Set(['fsdd-theo', 'fsdd-yweweler']));
  });

  it('writes 16 kHz 16-bit mono WAV', () => {
    const w = wav16(new Float32Array([0, 0.5, -1, 1]));
    expect(w.subarray(0, 4).toString()).toBe('RIFF');
    expect(w.readUInt32LE(24)).toBe(16000);
    expect(w.readUInt16LE(34)).toBe(16);
    expect(w.length).toBe(44 + 8);
    expect([w.readInt16LE(44), w.readInt16LE(46), w.readInt16LE(48), w.readInt16LE(50)]).toEqual([0, 16384, -32767, 32767]);
  });
});
