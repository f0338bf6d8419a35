/** Test audio: the fixture clips, PCM WAV bytes built in memory. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseWav } from '@voxfleet/audio';
import { REPO_ROOT } from '@voxfleet/config';

export const FIXTURES = join(REPO_ROOT, 'fixtures/audio');
export const CLIP = join(FIXTURES, 'en-funasr-example.wav');

/** 16-bit PCM mono WAV bytes. */
export function wavBytes(samples: Float32Array, sampleRate = 16000): Uint8Array {
  const buf = Buffer.alloc(44 + samples.length * 2);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(36 + samples.length * 2, 4);
  buf.write('WAVE', 8);
  buf.write('fmt ', 12);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(sampleRate, 24);
  buf.writeUInt32LE(sampleRate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(samples.length * 2, 40);
  for (let i = 0; i < samples.length; i++) buf.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[i]! * 32767))), 44 + i * 2);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Samples of a 16 kHz fixture. */
export async function fixtureSamples(name = 'en-funasr-example.wav'): Promise<Float32Array> {
  const wav = parseWav(new Uint8Array(await readFile(join(FIXTURES, name))));
  if (wav.sampleRate !== 16000) throw new Error(`${name} is not 16 kHz`);
  return wav.samples;
}

/** `n` distinct short clips (different lengths of the same speech), so none dedupes against another. */
export function distinctClips(samples: Float32Array, n: number, baseSec = 1.5): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => wavBytes(samples.subarray(0, Math.round((baseSec + i * 0.04) * 16000))));
}
