/**
 * The longest piece the worker hands each model kind (worker.ts pieceLimitSec): the
 * operator's VOXFLEET_SEGMENT_MAX_SEC, capped by what Whisper's and Fun-ASR-Nano's exports take.
 * The model benchmark keeps its clips within this limit, so it is tested on its own.
 */
import { describe, expect, it } from 'vitest';
import { pieceLimitSec } from '../src/worker.js';

describe('pieceLimitSec', () => {
  it('caps Whisper at 29.5 s (the 2950 frames sherpa-onnx keeps) and Fun-ASR-Nano at 15 s (room to generate in 512 positions)', () => {
    expect(pieceLimitSec('whisper', 30)).toBe(29.5);
    expect(pieceLimitSec('funasr-nano', 30)).toBe(15);
  });
  it('keeps a lower operator setting for every kind, and the setting itself for kinds without a cap', () => {
    expect(pieceLimitSec('whisper', 10)).toBe(10);
    expect(pieceLimitSec('funasr-nano', 8)).toBe(8);
    expect(pieceLimitSec('sense-voice', 60)).toBe(60);
    expect(pieceLimitSec('ctc', 30)).toBe(30);
  });
});
