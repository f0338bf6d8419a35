import { describe, expect, it } from 'vitest';
import { chunkAudio, stitch } from '../src/chunk.js';

describe('chunkAudio', () => {
  it('cuts long audio at quiet points into contiguous pieces no longer than the maximum', () => {
    const sr = 16000;
    const audio = new Float32Array(sr * 65);
    for (let i = 0; i < audio.length; i++) audio[i] = Math.sin(i / 7) * 0.3;
    // silences at 12 s and 31 s
    audio.fill(0, sr * 12, sr * 12.3);
    audio.fill(0, sr * 31, sr * 31.3);
    const pieces = chunkAudio(audio, { maxSec: 20, minSec: 8 });
    let pos = 0;
    for (const p of pieces) {
      expect(p.start).toBe(pos);
      expect(p.samples.length).toBeLessThanOrEqual(20 * sr);
      pos += p.samples.length;
    }
    expect(pos).toBe(audio.length);
    expect(pieces[0]!.samples.length / sr).toBeGreaterThan(12);
    expect(pieces[0]!.samples.length / sr).toBeLessThan(12.3);
    expect(pieces[1]!.start / sr).toBeGreaterThan(31 - 20); // second cut found in its own window
  });

  it('leaves short audio whole', () => {
    expect(chunkAudio(new Float32Array(16000 * 5))).toHaveLength(1);
  });

  it('stitches transcripts with absolute times', () => {
    const t = stitch(
      [
        { offsetSec: 0, transcript: { text: 'a', segments: [{ start: 0.1, end: 0.5, text: 'a' }], tokens: [], durationSec: 20 } },
        { offsetSec: 20, transcript: { text: 'b', segments: [{ start: 0.2, end: 0.4, text: 'b' }], tokens: [], durationSec: 5 } },
      ],
      25,
    );
    expect(t.text).toBe('a b');
    expect(t.segments[1]).toEqual({ start: 20.2, end: 20.4, text: 'b' });
    expect(t.durationSec).toBe(25);
  });
});
