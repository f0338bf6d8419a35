/** Synthetic test signals with known speech boundaries (16 kHz). */

import { rng } from '@voxfleet/testkit';
export const SR = 16000;

export { rng };

export const dbToAmp = (db: number): number => Math.pow(10, db / 20);

export type Part =
  | { kind: 'silence'; sec: number }
  | { kind: 'tone'; sec: number; hz?: number; db?: number }
  /** noise amplitude-modulated at a syllable rate (4 Hz), never fully silent inside */
  | { kind: 'speechlike'; sec: number; db?: number }
  | { kind: 'noise'; sec: number; db?: number };

export interface Built {
  samples: Float32Array;
  /** [start, end) sample ranges of the non-silence parts */
  active: [number, number][];
}

/** Concatenates parts, optionally over a white-noise bed at `bedDb` dBFS (rms). */
export function build(parts: Part[], opts: { bedDb?: number; seed?: number } = {}): Built {
  const r = rng(opts.seed ?? 1);
  const total = parts.reduce((n, p) => n + Math.round(p.sec * SR), 0);
  const out = new Float32Array(total);
  const active: [number, number][] = [];
  let pos = 0;
  for (const p of parts) {
    const n = Math.round(p.sec * SR);
    fillPart(out.subarray(pos, pos + n), p, r, pos);
    if (p.kind !== 'silence') active.push([pos, pos + n]);
    pos += n;
  }
  if (opts.bedDb !== undefined) {
    const a = dbToAmp(opts.bedDb) * Math.sqrt(3); // uniform noise: rms = a/√3
    for (let i = 0; i < total; i++) out[i]! += a * (r() * 2 - 1);
  }
  return { samples: out, active };
}

/** Writes one part into `dst` (overwriting it); `offset` is its absolute position (for the tone's phase). */
export function fillPart(dst: Float32Array, p: Part, r: () => number, offset = 0): void {
  const n = dst.length;
  if (p.kind === 'silence') {
    dst.fill(0);
    return;
  }
  const amp = dbToAmp(p.kind === 'tone' ? (p.db ?? -20) : (p.db ?? -20));
  for (let i = 0; i < n; i++) {
    const t = (offset + i) / SR;
    if (p.kind === 'tone') dst[i] = amp * Math.SQRT2 * Math.sin(2 * Math.PI * (p.hz ?? 440) * t);
    else if (p.kind === 'noise') dst[i] = amp * Math.sqrt(3) * (r() * 2 - 1);
    else {
      // 4 Hz syllable envelope between 0.15 and 1 (−16 dB dips, no pauses)
      const env = 0.15 + 0.85 * Math.pow(Math.sin(Math.PI * 4 * (i / SR)), 2);
      dst[i] = amp * Math.sqrt(3) * 1.6 * env * (r() * 2 - 1);
    }
  }
}

/** Splits `x` into chunks of the given sizes (cycled), as fresh arrays. */
export function* chunked(x: Float32Array, sizes: number[]): Generator<Float32Array> {
  let i = 0;
  let k = 0;
  while (i < x.length) {
    const n = sizes[k++ % sizes.length]!;
    yield x.slice(i, i + n);
    i += n;
  }
}
