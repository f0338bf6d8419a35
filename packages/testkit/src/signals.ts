/** Deterministic PRNG (mulberry32): the same seed gives the same sequence in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Where a clip sits in a concatenation (seconds). */
export interface Placed {
  text: string;
  start: number;
  end: number;
}

/**
 * Joins clips (16 kHz mono) with 1–3 s gaps between them and at both ends:
 * silence, −57 dBFS or −51 dBFS noise in turn, from a seeded PRNG, so long-audio
 * tests know where every reference sentence lies.
 */
export function concatWithGaps(clips: { text: string; samples: Float32Array }[], seed: number, sampleRate = 16000): { samples: Float32Array; placed: Placed[] } {
  const r = rng(seed);
  const gap = (k: number): Float32Array => {
    const g = new Float32Array(Math.round((1 + 2 * r()) * sampleRate));
    const level = k % 3 === 0 ? 0 : k % 3 === 1 ? 0.002 : 0.004;
    for (let i = 0; i < g.length; i++) g[i] = level * Math.sqrt(3) * (r() * 2 - 1);
    return g;
  };
  const pieces: Float32Array[] = [];
  const placed: Placed[] = [];
  let pos = 0;
  clips.forEach((c, k) => {
    const g = gap(k);
    pieces.push(g, c.samples);
    pos += g.length;
    placed.push({ text: c.text, start: pos / sampleRate, end: (pos + c.samples.length) / sampleRate });
    pos += c.samples.length;
  });
  pieces.push(gap(clips.length));
  const samples = new Float32Array(pieces.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of pieces) {
    samples.set(p, o);
    o += p.length;
  }
  return { samples, placed };
}
