import { describe, expect, it } from 'vitest';
import { float32ToHalf, halfBitsToFloat, halfToFloat32, toHalfBits } from '../src/fp16.js';

describe('fp16 conversion', () => {
  it('encodes known values exactly', () => {
    expect(toHalfBits(0)).toBe(0x0000);
    expect(toHalfBits(-0)).toBe(0x8000);
    expect(toHalfBits(1)).toBe(0x3c00);
    expect(toHalfBits(-2)).toBe(0xc000);
    expect(toHalfBits(65504)).toBe(0x7bff);
    expect(toHalfBits(1e6)).toBe(0x7c00); // overflow → +inf
    expect(toHalfBits(Infinity)).toBe(0x7c00);
    expect(toHalfBits(NaN) & 0x7c00).toBe(0x7c00);
    expect(toHalfBits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(toHalfBits(1e-9)).toBe(0x0000); // underflow
  });

  it('rounds to nearest even', () => {
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1.0)
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00);
    // 1 + 3·2^-11 is halfway between 1+2^-10 and 1+2^-9: ties to even (1+2^-9)
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });

  it('round-trips every finite half value', () => {
    for (let h = 0; h < 0x10000; h++) {
      const f = halfBitsToFloat(h);
      if (!Number.isFinite(f)) continue;
      if (Object.is(f, -0)) expect(toHalfBits(f)).toBe(0x8000);
      else expect(toHalfBits(f)).toBe(h);
    }
  });

  it('converts arrays within half precision', () => {
    const src = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 100);
    const back = halfToFloat32(float32ToHalf(src));
    for (let i = 0; i < src.length; i++) expect(Math.abs(back[i]! - src[i]!)).toBeLessThanOrEqual(Math.abs(src[i]!) * 2 ** -11 + 1e-7);
  });
});
