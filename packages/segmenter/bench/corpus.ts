/**
 * Builds long test streams from real clips with known positions: held-out
 * synthetic clips (fixtures/heldout) and the real recordings in fixtures/audio,
 * separated by pauses, over a chosen background. Shared by the detector bench.
 */
import { readFileSync } from 'node:fs';
import { decodeFile } from '@voxfleet/audio';
import { rng } from '@voxfleet/testkit';

export const FIXTURES = new URL('../../../fixtures/', import.meta.url).pathname;

export interface Clip {
  name: string;
  text: string;
  samples: Float32Array;
  /** first/last sample of the clip's own active region (frames within 30 dB of its loudest) */
  activeStart: number;
  activeEnd: number;
}

export interface Placed {
  clip: Clip;
  start: number;
  end: number;
  activeStart: number;
  activeEnd: number;
}

export async function loadClips(opts: { heldout?: number; real?: boolean } = {}): Promise<Clip[]> {
  const out: Clip[] = [];
  const manifest = readFileSync(FIXTURES + 'heldout/manifest.jsonl', 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { file: string; text: string });
  for (const m of manifest.slice(0, opts.heldout ?? manifest.length)) {
    out.push(withActive(m.file, m.text, await decodeFile(FIXTURES + 'heldout/' + m.file)));
  }
  if (opts.real ?? true) {
    const real = readFileSync(FIXTURES + 'audio/manifest.jsonl', 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { file: string; text: string });
    for (const m of real) out.push(withActive(m.file, m.text, await decodeFile(FIXTURES + 'audio/' + m.file)));
  }
  return out;
}

export function withActive(name: string, text: string, samples: Float32Array): Clip {
  const f = 160;
  const db: number[] = [];
  for (let i = 0; i + f <= samples.length; i += f) {
    let e = 0;
    for (let j = i; j < i + f; j++) e += samples[j]! * samples[j]!;
    db.push(10 * Math.log10(e / f + 1e-12));
  }
  const peak = Math.max(...db);
  const first = db.findIndex((d) => d > peak - 30);
  let last = db.length - 1;
  while (last > 0 && db[last]! <= peak - 30) last--;
  return { name, text, samples, activeStart: Math.max(0, first) * f, activeEnd: (last + 1) * f };
}

export { rng };

export type Background = 'silence' | 'roomtone' | 'noisy' | 'bursts' | 'switching' | 'hum';

export interface BuildOptions {
  seed?: number;
  /** pause between clips, seconds */
  minGapSec?: number;
  maxGapSec?: number;
  background: Background;
}

/**
 * silence: exact zeros between clips; roomtone: a steady pink-ish bed at −55 dBFS rms
 * under everything; noisy: a bed whose level steps between −58 and −40 dBFS rms
 * every ~12 s; bursts: roomtone plus 80–400 ms broadband bursts (clicks, knocks) in the pauses;
 * switching: pauses alternate between exact zeros and white noise at −50 dBFS that starts right
 * at the end of a clip (edited audio); hum: roomtone plus 50 Hz mains hum with harmonics at −35 dBFS.
 */
export function buildStream(clips: Clip[], opts: BuildOptions): { samples: Float32Array; placed: Placed[] } {
  const r = rng(opts.seed ?? 1);
  const sr = 16000;
  const gapMin = opts.minGapSec ?? 1;
  const gapMax = opts.maxGapSec ?? 3;
  const gaps = clips.map(() => Math.round((gapMin + (gapMax - gapMin) * r()) * sr));
  const total = clips.reduce((n, c, i) => n + c.samples.length + gaps[i]!, 0) + Math.round(gapMin * sr);
  const out = new Float32Array(total);
  const placed: Placed[] = [];
  let pos = Math.round(gapMin * sr);
  const burstsAt: [number, number][] = [];
  clips.forEach((c, i) => {
    out.set(c.samples, pos);
    placed.push({ clip: c, start: pos, end: pos + c.samples.length, activeStart: pos + c.activeStart, activeEnd: pos + c.activeEnd });
    const gapStart = pos + c.samples.length;
    pos = gapStart + gaps[i]!;
    if (opts.background === 'bursts' && i % 2 === 0) {
      const len = Math.round((0.08 + 0.32 * r()) * sr);
      const at = gapStart + Math.round(0.3 * sr + r() * Math.max(0, gaps[i]! - len - 0.6 * sr));
      burstsAt.push([at, at + len]);
    }
  });
  if (opts.background === 'switching') {
    placed.forEach((p, i) => {
      if (i % 2 === 1) return;
      const to = placed[i + 1]?.start ?? total;
      const a = Math.pow(10, -50 / 20) * Math.sqrt(3);
      for (let j = p.end; j < to; j++) out[j]! += a * (r() * 2 - 1);
    });
  }
  if (opts.background === 'hum') {
    const a = Math.pow(10, -35 / 20) * Math.SQRT2;
    for (let i = 0; i < total; i++) {
      const t = i / sr;
      out[i]! += a * (0.7 * Math.sin(2 * Math.PI * 50 * t) + 0.5 * Math.sin(2 * Math.PI * 150 * t) + 0.35 * Math.sin(2 * Math.PI * 250 * t));
    }
  }
  if (opts.background !== 'silence' && opts.background !== 'switching') {
    // pink-ish noise (three one-pole low-passed white noises + white), scaled to an exact rms level
    const noise = new Float32Array(total);
    let b0 = 0;
    let b1 = 0;
    let b2 = 0;
    let sum = 0;
    for (let i = 0; i < total; i++) {
      const w = r() * 2 - 1;
      b0 = 0.997 * b0 + 0.029 * w;
      b1 = 0.985 * b1 + 0.032 * w;
      b2 = 0.95 * b2 + 0.048 * w;
      noise[i] = b0 + b1 + b2 + 0.18 * w;
      sum += noise[i]! * noise[i]!;
    }
    const unit = 1 / Math.sqrt(sum / total);
    let gain = 0;
    for (let i = 0; i < total; i++) {
      if (i % (12 * sr) === 0) gain = unit * Math.pow(10, (opts.background === 'noisy' ? -58 + 18 * r() : -55) / 20);
      out[i]! += noise[i]! * gain;
    }
  }
  for (const [a, b] of burstsAt) {
    const amp = 0.05 + 0.2 * r();
    for (let i = a; i < b; i++) out[i]! += amp * (r() * 2 - 1) * Math.exp((-(i - a) / (b - a)) * 3);
  }
  return { samples: out, placed };
}
