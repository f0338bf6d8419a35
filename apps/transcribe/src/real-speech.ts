/**
 * Real human speech for `npm run eval -- --real`: the clips of the shared
 * material that the default model is never trained on (fixtures/real/split.jsonl,
 * written by training/real_split.py), and pocketsphinx run on the same clips
 * as the reference recogniser.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface RealRow {
  /** relative to the audio folder it is read from */
  file: string;
  text: string;
  speaker: string;
  /** bar: read English, speakers never trained on; seen-speaker: held-out sentences of a speaker training may use; digits: FSDD speakers never trained on */
  set: string;
}

export interface RealSource {
  dir: string;
  rows: RealRow[];
  /** the full held-out split from the shared material, or the committed subset */
  full: boolean;
}

async function jsonl<T>(path: string): Promise<T[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

/**
 * The held-out split read from `sharedDir` (the shared audio folder) when it
 * exists, else the committed subset in fixtures/real. The English clips of
 * fixtures/audio are part of the bar set in either case (read from there).
 */
export async function realSource(root: string, sharedDir: string | undefined): Promise<RealSource> {
  const fixtures = join(root, 'fixtures/real');
  const split = await jsonl<RealRow>(join(fixtures, 'split.jsonl'));
  if (sharedDir && existsSync(join(sharedDir, 'manifest.jsonl'))) {
    const rows = split.map((r) => (r.file.startsWith('en-') ? { ...r, file: join(root, 'fixtures/audio', r.file) } : { ...r, file: join(sharedDir, r.file) }));
    return { dir: sharedDir, rows, full: true };
  }
  const committed = await jsonl<RealRow>(join(fixtures, 'manifest.jsonl'));
  const audio = split.filter((r) => r.file.startsWith('en-')).map((r) => ({ ...r, file: join('..', 'audio', r.file) }));
  return { dir: fixtures, rows: [...committed, ...audio].map((r) => ({ ...r, file: join(fixtures, r.file) })), full: false };
}

/** 16-bit PCM mono WAV of 16 kHz float samples. */
export function wav16(samples: Float32Array): Buffer {
  const data = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) data.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[i]! * 32767))), i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(16000, 24);
  h.writeUInt32LE(32000, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

export const POCKETSPHINX = 'pocketsphinx_continuous';
const PS_MODEL = '/usr/share/pocketsphinx/model/en-us';

/** Debian's pocketsphinx version, or null when the program or its en-us model is missing. */
export function pocketsphinxVersion(): string | null {
  const which = spawnSync('sh', ['-c', `command -v ${POCKETSPHINX}`], { encoding: 'utf8' });
  if (which.status !== 0 || !existsSync(PS_MODEL)) return null;
  const q = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'pocketsphinx'], { encoding: 'utf8' });
  return q.status === 0 && q.stdout ? q.stdout.trim() : 'unknown version';
}

function runOnce(wavPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Debian's 0.8+5prealpha CLI: -infile reads a 16 kHz 16-bit mono WAV; one line per utterance it finds
    const child = spawn(POCKETSPHINX, ['-infile', wavPath, '-logfn', '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out.split('\n').map((l) => l.trim()).filter(Boolean).join(' ')) : reject(new Error(`${POCKETSPHINX} exited ${code}: ${err.slice(-300)}`))));
  });
}

/**
 * pocketsphinx's transcript of each clip (16 kHz samples, as the engine got
 * them), `parallel` at a time. Answers are cached by the WAV's SHA-256 and the
 * pocketsphinx version in `cacheFile`, so a rerun costs nothing for clips
 * already seen (each run loads the model: ~2 s of CPU a clip).
 */
export async function pocketsphinx(audio: Float32Array[], version: string, cacheFile: string, parallel = 2): Promise<string[]> {
  let cache: Record<string, string> = {};
  if (existsSync(cacheFile)) cache = JSON.parse(await readFile(cacheFile, 'utf8')) as Record<string, string>;
  const tmp = join(tmpdir(), `voxfleet-ps-${process.pid}`);
  await mkdir(tmp, { recursive: true });
  const out: string[] = new Array<string>(audio.length);
  let next = 0;
  let dirty = false;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < audio.length; i = next++) {
      const bytes = wav16(audio[i]!);
      const key = `${version}:${createHash('sha256').update(bytes).digest('hex')}`;
      if (cache[key] === undefined) {
        const path = join(tmp, `${i}.wav`);
        await writeFile(path, bytes);
        cache[key] = await runOnce(path);
        await rm(path, { force: true });
        dirty = true;
      }
      out[i] = cache[key];
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, parallel) }, worker));
  } finally {
    await rm(tmp, { recursive: true, force: true });
    if (dirty) {
      await mkdir(dirname(cacheFile), { recursive: true });
      await writeFile(cacheFile, JSON.stringify(cache));
    }
  }
  return out;
}
