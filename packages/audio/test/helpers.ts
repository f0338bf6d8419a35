import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { bundledFfmpegPath } from '../src/index.js';

export const ORIGINAL_WAV = fileURLToPath(new URL('../../../fixtures/audio/en-funasr-example.wav', import.meta.url));

const run = promisify(execFile);

/** Runs the bundled ffmpeg (test fixture generation only). */
export async function ffmpegCli(args: string[]): Promise<void> {
  await run(bundledFfmpegPath(), ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args]);
}

export async function makeTempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'voxfleet-audio-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function rms(x: Float32Array): number {
  let sum = 0;
  for (const v of x) sum += v * v;
  return Math.sqrt(sum / Math.max(1, x.length));
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return max;
}

/**
 * Best normalised cross-correlation between a 1 s window of `ref` and `x` over lags of
 * ±maxLag samples (lossy codecs may shift the signal by their delay).
 */
export function bestCorrelation(ref: Float32Array, x: Float32Array, maxLag = 1024): { corr: number; lag: number } {
  const start = 16000;
  const win = ref.subarray(start, start + 16000);
  let best = { corr: -1, lag: 0 };
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    let s = 0;
    let ea = 0;
    let eb = 0;
    for (let i = 0; i < win.length; i++) {
      const a = win[i] ?? 0;
      const b = x[start + i + lag] ?? 0;
      s += a * b;
      ea += a * a;
      eb += b * b;
    }
    const c = s / Math.sqrt(ea * eb || 1);
    if (c > best.corr) best = { corr: c, lag };
  }
  return best;
}

export async function concatChunks(chunks: AsyncIterable<Float32Array>): Promise<{ samples: Float32Array; sizes: number[] }> {
  const parts: Float32Array[] = [];
  for await (const c of chunks) parts.push(c);
  const samples = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    samples.set(p, o);
    o += p.length;
  }
  return { samples, sizes: parts.map((p) => p.length) };
}

/** PIDs of live processes whose command line contains `needle` (Linux /proc). */
export async function processesWith(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      if (cmdline.includes(needle) && !/\) Z /.test(stat)) pids.push(Number(entry));
    } catch {
      // process exited while scanning
    }
  }
  return pids;
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs = 3000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

export type TestSampleFormat = 'u8' | 's16' | 's24' | 's32' | 'f32' | 'f64';

export interface WavSpec {
  sampleRate: number;
  channels: number;
  format: TestSampleFormat;
  /** Interleaved sample values in [-1, 1]. */
  samples: number[];
  extensible?: boolean;
  /** Container bytes per sample (for e.g. 24-bit valid bits in 32-bit containers). */
  containerBytes?: number;
  validBits?: number;
  /** Chunks placed before fmt / between fmt and data / after data. */
  before?: Array<{ id: string; body: Uint8Array }>;
  between?: Array<{ id: string; body: Uint8Array }>;
  after?: Array<{ id: string; body: Uint8Array }>;
  /** Overrides the data chunk's declared size. */
  dataSize?: number;
  formatTag?: number;
}

const WIDTH: Record<TestSampleFormat, number> = { u8: 1, s16: 2, s24: 3, s32: 4, f32: 4, f64: 8 };

function chunk(id: string, body: Uint8Array, declared = body.length): Uint8Array {
  const out = new Uint8Array(8 + body.length + (body.length & 1));
  out.set(Buffer.from(id, 'latin1'), 0);
  new DataView(out.buffer).setUint32(4, declared, true);
  out.set(body, 8);
  return out;
}

/** Writes a WAV file from scratch (independent of the code under test). */
export function makeWav(spec: WavSpec): Uint8Array {
  const isFloat = spec.format === 'f32' || spec.format === 'f64';
  const width = spec.containerBytes ?? WIDTH[spec.format];
  const bits = spec.validBits ?? WIDTH[spec.format] * 8;
  const ext = spec.extensible ?? false;

  const fmt = new DataView(new ArrayBuffer(ext ? 40 : 16));
  fmt.setUint16(0, spec.formatTag ?? (ext ? 0xfffe : isFloat ? 3 : 1), true);
  fmt.setUint16(2, spec.channels, true);
  fmt.setUint32(4, spec.sampleRate, true);
  fmt.setUint32(8, spec.sampleRate * width * spec.channels, true);
  fmt.setUint16(12, width * spec.channels, true);
  fmt.setUint16(14, ext ? width * 8 : bits, true);
  if (ext) {
    fmt.setUint16(16, 22, true);
    fmt.setUint16(18, bits, true);
    fmt.setUint32(20, 0, true);
    const guid = [isFloat ? 3 : 1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71];
    guid.forEach((b, i) => fmt.setUint8(24 + i, b));
  }

  const data = new DataView(new ArrayBuffer(spec.samples.length * width));
  spec.samples.forEach((v, i) => {
    const o = i * width;
    switch (spec.format) {
      case 'u8':
        data.setUint8(o, Math.round(v * 127) + 128);
        break;
      case 's16':
        data.setInt16(o, Math.round(v * 32767), true);
        break;
      case 's24': {
        const s = Math.round(v * 8388607);
        data.setUint8(o, s & 0xff);
        data.setUint8(o + 1, (s >> 8) & 0xff);
        data.setInt8(o + 2, s >> 16);
        break;
      }
      case 's32':
        if (width === 4 && bits === 24) data.setInt32(o, Math.round(v * 8388607) * 256, true);
        else data.setInt32(o, Math.round(v * 2147483647), true);
        break;
      case 'f32':
        data.setFloat32(o, v, true);
        break;
      case 'f64':
        data.setFloat64(o, v, true);
        break;
    }
  });

  const parts = [
    ...(spec.before ?? []).map((c) => chunk(c.id, c.body)),
    chunk('fmt ', new Uint8Array(fmt.buffer)),
    ...(spec.between ?? []).map((c) => chunk(c.id, c.body)),
    chunk('data', new Uint8Array(data.buffer), spec.dataSize),
    ...(spec.after ?? []).map((c) => chunk(c.id, c.body)),
  ];
  const total = 12 + parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  out.set(Buffer.from('RIFF', 'latin1'), 0);
  new DataView(out.buffer).setUint32(4, total - 8, true);
  out.set(Buffer.from('WAVE', 'latin1'), 8);
  let o = 12;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
