import { describe, expect, it } from 'vitest';
import { AudioError, InvalidWavError, checkWavComplete, parseWav, parseWavHeader, probe } from '../src/index.js';
import { makeWav, type TestSampleFormat } from './helpers.js';

const ramp = (n: number, scale = 0.9): number[] => Array.from({ length: n }, (_, i) => scale * Math.sin(i / 7));

function expectClose(actual: Float32Array, expected: number[], tol: number): void {
  expect(actual.length).toBe(expected.length);
  let max = 0;
  expected.forEach((v, i) => (max = Math.max(max, Math.abs((actual[i] ?? NaN) - v))));
  expect(max).toBeLessThanOrEqual(tol);
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof AudioError) return err.code;
    throw err; // anything else is a bug (e.g. a RangeError from reading past the buffer)
  }
}

describe('parseWav: sample formats', () => {
  // Output is float32, so ~6e-8 relative precision is the floor.
  const cases: Array<[TestSampleFormat, string, number]> = [
    ['u8', 'pcm_u8', 1 / 64],
    ['s16', 'pcm_s16le', 1 / 16384],
    ['s24', 'pcm_s24le', 1e-6],
    ['s32', 'pcm_s32le', 1e-7],
    ['f32', 'pcm_f32le', 1e-7],
    ['f64', 'pcm_f64le', 1e-7],
  ];
  for (const [format, codec, tol] of cases) {
    it(`${format} mono`, () => {
      const samples = ramp(1000);
      const wav = parseWav(makeWav({ sampleRate: 16000, channels: 1, format, samples }));
      expect(wav).toMatchObject({ sampleRate: 16000, channels: 1, sampleFormat: format, codec, frames: 1000 });
      expect(wav.durationSec).toBeCloseTo(1000 / 16000, 9);
      expectClose(wav.samples, samples, tol);
    });
  }

  it('averages any number of channels', () => {
    const frames = 200;
    const interleaved: number[] = [];
    const expected: number[] = [];
    for (let i = 0; i < frames; i++) {
      const ch = [0.5 * Math.sin(i / 5), -0.25, 0.75 * Math.cos(i / 3)];
      interleaved.push(...ch);
      expected.push((ch[0]! + ch[1]! + ch[2]!) / 3);
    }
    const wav = parseWav(makeWav({ sampleRate: 8000, channels: 3, format: 's16', samples: interleaved }));
    expect(wav.channels).toBe(3);
    expect(wav.frames).toBe(frames);
    expectClose(wav.samples, expected, 2 / 32768);
  });

  it('clamps float samples to [-1, 1] and maps NaN to 0', () => {
    const wav = parseWav(makeWav({ sampleRate: 16000, channels: 1, format: 'f32', samples: [1.5, -3, NaN, 0.25] }));
    expect(Array.from(wav.samples)).toEqual([1, -1, 0, 0.25]);
  });

  it('reads -32768 as exactly -1', () => {
    const bytes = makeWav({ sampleRate: 16000, channels: 1, format: 's16', samples: [0, 0] });
    const view = new DataView(bytes.buffer);
    view.setInt16(bytes.length - 4, -32768, true);
    expect(parseWav(bytes).samples[0]).toBe(-1);
  });
});

describe('parseWav: header layouts', () => {
  it('WAVE_FORMAT_EXTENSIBLE with 24 valid bits in 32-bit containers', () => {
    const samples = ramp(300);
    const wav = parseWav(
      makeWav({ sampleRate: 16000, channels: 1, format: 's32', samples, extensible: true, validBits: 24 }),
    );
    expect(wav.extensible).toBe(true);
    expect(wav.bitsPerSample).toBe(32);
    expectClose(wav.samples, samples, 1e-6);
  });

  it('WAVE_FORMAT_EXTENSIBLE float, stereo', () => {
    const wav = parseWav(
      makeWav({ sampleRate: 48000, channels: 2, format: 'f32', samples: [0.5, 0.25, -1, 1], extensible: true }),
    );
    expect(wav).toMatchObject({ extensible: true, sampleFormat: 'f32', channels: 2, frames: 2 });
    expectClose(wav.samples, [0.375, 0], 1e-7);
  });

  it('skips LIST and other chunks, honouring odd-size padding', () => {
    const samples = ramp(101);
    const odd = new Uint8Array([1, 2, 3]); // 3 bytes + 1 pad byte
    const bytes = makeWav({
      sampleRate: 16000,
      channels: 1,
      format: 's16',
      samples,
      before: [{ id: 'JUNK', body: odd }],
      between: [
        { id: 'LIST', body: new Uint8Array(Buffer.from('INFOISFT\x05\x00\x00\x00abcde', 'latin1')) },
        { id: 'fact', body: new Uint8Array(4) },
      ],
      after: [{ id: 'LIST', body: new Uint8Array(9) }],
    });
    const wav = parseWav(bytes);
    expect(wav.frames).toBe(101);
    expectClose(wav.samples, samples, 1 / 16384);
  });

  it('clamps a data chunk that claims more bytes than exist (truncated file)', () => {
    const bytes = makeWav({ sampleRate: 16000, channels: 2, format: 's16', samples: ramp(200) });
    const cut = bytes.subarray(0, bytes.length - 7); // 1.75 frames missing
    const wav = parseWav(cut);
    expect(wav.frames).toBe(98);
  });

  it('treats data sizes 0xFFFFFFFF and 0 (streaming writers) as "until end of file"', () => {
    for (const dataSize of [0xffffffff, 0]) {
      const wav = parseWav(makeWav({ sampleRate: 16000, channels: 1, format: 's16', samples: ramp(50), dataSize }));
      expect(wav.frames).toBe(50);
    }
  });

  it('parses a header from a prefix of the file given the total size', () => {
    const bytes = makeWav({ sampleRate: 22050, channels: 1, format: 's16', samples: ramp(5000) });
    const header = parseWavHeader(bytes.subarray(0, 64), bytes.length);
    expect(header).toMatchObject({ sampleRate: 22050, frames: 5000, dataOffset: 44 });
  });
});

describe('parseWav: bad input raises typed errors, never crashes', () => {
  const good = makeWav({ sampleRate: 16000, channels: 1, format: 's16', samples: ramp(20) });

  it('rejects non-RIFF data as undecodable', () => {
    expect(codeOf(() => parseWav(new TextEncoder().encode('hello, this is not audio at all')))).toBe('undecodable');
  });

  it('every truncation of the header is a typed error', () => {
    for (let len = 0; len < 44; len++) {
      expect(['undecodable', 'empty']).toContain(codeOf(() => parseWav(good.subarray(0, len))));
    }
  });

  it('header-only file is empty; parseWavHeader reports 0 frames', () => {
    const headerOnly = makeWav({ sampleRate: 16000, channels: 1, format: 's16', samples: [] });
    expect(codeOf(() => parseWav(headerOnly))).toBe('empty');
    expect(parseWavHeader(headerOnly).frames).toBe(0);
  });

  it('other codecs, RF64 and RIFX are unsupported', () => {
    const adpcm = makeWav({ sampleRate: 16000, channels: 1, format: 's16', samples: ramp(10), formatTag: 2 });
    expect(codeOf(() => parseWav(adpcm))).toBe('unsupported');
    for (const magic of ['RF64', 'RIFX']) {
      const variant = good.slice();
      variant.set(Buffer.from(magic, 'latin1'), 0);
      expect(codeOf(() => parseWav(variant))).toBe('unsupported');
    }
  });

  it('zero channels / zero rate are undecodable', () => {
    const noChannels = good.slice();
    new DataView(noChannels.buffer).setUint16(22, 0, true);
    expect(codeOf(() => parseWav(noChannels))).toBe('undecodable');
    const noRate = good.slice();
    new DataView(noRate.buffer).setUint32(24, 0, true);
    expect(codeOf(() => parseWav(noRate))).toBe('undecodable');
  });

  it('random header corruption only ever yields a result or an AudioError', () => {
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const extensible = makeWav({ sampleRate: 16000, channels: 2, format: 's24', samples: ramp(40), extensible: true });
    for (let n = 0; n < 3000; n++) {
      const base = n % 2 === 0 ? good : extensible;
      const bytes = base.slice(0, Math.floor(rand() * base.length) + 1);
      const flips = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < flips; k++) bytes[Math.floor(rand() * Math.min(bytes.length, 80))] = Math.floor(rand() * 256);
      codeOf(() => parseWav(bytes));
    }
  });
});

describe('absurd headers are refused, and final (no fallback to ffmpeg)', () => {
  const good = makeWav({ sampleRate: 16000, channels: 1, format: 's16', samples: ramp(4000) });
  /** `good` with fmt fields overwritten: channels (22), rate (24), block align (32), bits (34). */
  function patched(f: { channels?: number; rate?: number; align?: number; bits?: number }): Uint8Array {
    const b = good.slice();
    const dv = new DataView(b.buffer);
    if (f.channels !== undefined) dv.setUint16(22, f.channels, true);
    if (f.rate !== undefined) dv.setUint32(24, f.rate, true);
    if (f.align !== undefined) dv.setUint16(32, f.align, true);
    if (f.bits !== undefined) dv.setUint16(34, f.bits, true);
    return b;
  }
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['65 535 channels', patched({ channels: 65535, align: 2 }), /65535 channels/],
    ['65 535 channels, consistent block align', patched({ channels: 65535, align: (65535 * 2) & 0xffff }), /65535 channels/],
    ['sample rate 0', patched({ rate: 0 }), /zero sample rate/],
    ['sample rate 1 Hz', patched({ rate: 1 }), /sample rate 1 Hz/],
    ['sample rate 4 GHz', patched({ rate: 4_000_000_000 }), /sample rate 4000000000 Hz/],
    ['block align 3 for 16-bit mono', patched({ align: 3 }), /block align 3/],
    ['block align 0', patched({ align: 0 }), /block align 0/],
    ['0 bits per sample', patched({ bits: 0 }), /zero bits/],
    ['65 bits per sample', patched({ bits: 65, align: 9 }), /65 bits/],
  ];
  for (const [what, bytes, message] of cases) {
    it(`${what}: InvalidWavError from the parser and from probe`, async () => {
      expect(() => parseWavHeader(bytes)).toThrow(InvalidWavError);
      const err = await probe(bytes).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InvalidWavError);
      expect((err as AudioError).code).toBe('undecodable');
      expect((err as Error).message).toMatch(message);
    });
  }

  it('24 bits in 32-bit containers without WAVE_FORMAT_EXTENSIBLE is still read', () => {
    const b = makeWav({ sampleRate: 16000, channels: 2, format: 's32', samples: ramp(20) });
    new DataView(b.buffer).setUint16(34, 24, true);
    expect(parseWav(b)).toMatchObject({ sampleFormat: 's32', frames: 10 });
  });

  it('a data chunk shorter than declared is refused by checkWavComplete and probe, read up to its end by the decoder', async () => {
    const cut = good.subarray(0, good.length - 100);
    const header = parseWavHeader(cut);
    expect(header).toMatchObject({ declaredDataBytes: 8000, dataBytes: 7900 });
    expect(() => checkWavComplete(header)).toThrow(/declares 8000 bytes but the file holds 7900/);
    await expect(probe(cut)).rejects.toBeInstanceOf(InvalidWavError);
    expect(parseWav(cut).frames).toBe(3950);
    // Less than a frame missing (a writer's off-by-one) and the unknown-length sizes pass.
    expect(() => checkWavComplete(parseWavHeader(good.subarray(0, good.length - 1)))).not.toThrow();
    const streamed = makeWav({ sampleRate: 16000, channels: 1, format: 's16', samples: ramp(50), dataSize: 0xffffffff });
    expect(parseWavHeader(streamed).declaredDataBytes).toBeNull();
    expect(() => checkWavComplete(parseWavHeader(streamed))).not.toThrow();
  });
});
