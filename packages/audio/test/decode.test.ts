import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AudioError,
  SAMPLE_RATE,
  decodeBuffer,
  decodeFile,
  decodeStream,
  parseWavHeader,
  probe,
  type AudioErrorCode,
} from '../src/index.js';
import { makePlaylistTrap, makeTranscodes, type Transcodes } from './fixtures.js';
import { ORIGINAL_WAV, bestCorrelation, concatChunks, makeTempDir, maxAbsDiff, rms } from './helpers.js';

const ORIGINAL_SEC = 114816 / SAMPLE_RATE; // 7.176 s, 16 kHz mono s16

let dir: string;
let cleanup: () => Promise<void>;
let files: Transcodes;
let original: Float32Array;

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir());
  files = await makeTranscodes(dir);
  original = await decodeFile(ORIGINAL_WAV);
});
afterAll(() => cleanup?.());

async function codeOf(promise: Promise<unknown>): Promise<AudioErrorCode | 'ok'> {
  try {
    await promise;
    return 'ok';
  } catch (err) {
    if (err instanceof AudioError) return err.code;
    throw err;
  }
}

describe('decodeFile: formats', () => {
  it('fast path on the original WAV matches the ffmpeg path', async () => {
    expect(original.length).toBe(114816);
    const viaFfmpeg = await decodeFile(ORIGINAL_WAV, { wavFastPath: false });
    expect(maxAbsDiff(original, viaFfmpeg)).toBeLessThanOrEqual(1 / 32768);
  });

  it('samples are in [-1, 1]', () => {
    expect(Math.max(...original.map(Math.abs))).toBeLessThanOrEqual(1);
    expect(rms(original)).toBeGreaterThan(0.01);
  });

  // [name, file, duration allowance (s), lossless?]
  const cases: Array<[string, () => string, number, boolean]> = [
    ['mp3', () => files.mp3, 0.05, false],
    ['flac', () => files.flac, 0.05, true],
    ['ogg/opus', () => files.ogg, 0.05, false],
    ['m4a/aac', () => files.m4a, 0.1, false], // AAC priming/padding adds ~56 ms
    ['webm/opus', () => files.webm, 0.05, false],
    ['wav 44.1 kHz stereo (resampled by ffmpeg)', () => files.wav44Stereo, 0.05, false],
    ['wav float32 (fast path)', () => files.wavF32, 0, true],
    ['wav s24 WAVE_FORMAT_EXTENSIBLE (fast path)', () => files.wavS24, 0, true],
    ['wav MS-ADPCM (falls back to ffmpeg)', () => files.wavAdpcm, 0.1, false], // last ADPCM block is padded
  ];
  for (const [name, file, allowance, lossless] of cases) {
    it(name, async () => {
      const samples = await decodeFile(file());
      expect(Math.abs(samples.length / SAMPLE_RATE - ORIGINAL_SEC)).toBeLessThanOrEqual(allowance + 1e-9);
      if (lossless) {
        expect(maxAbsDiff(samples, original)).toBeLessThanOrEqual(1e-4);
      } else {
        expect(rms(samples) / rms(original)).toBeGreaterThan(0.9);
        expect(rms(samples) / rms(original)).toBeLessThan(1.1);
        expect(bestCorrelation(original, samples).corr).toBeGreaterThan(0.95);
      }
    });
  }

  it('the s24 fixture really is WAVE_FORMAT_EXTENSIBLE with a LIST chunk', async () => {
    const bytes = await readFile(files.wavS24);
    const header = parseWavHeader(bytes);
    expect(header).toMatchObject({ extensible: true, sampleFormat: 's24', sampleRate: 16000 });
    expect(header.dataOffset).toBeGreaterThan(68); // fmt (40) + LIST before data
  });
});

describe('decodeBuffer', () => {
  it('WAV bytes take the in-memory fast path', async () => {
    const samples = await decodeBuffer(await readFile(ORIGINAL_WAV));
    expect(maxAbsDiff(samples, original)).toBe(0);
  });

  it('compressed bytes are fed to ffmpeg through stdin', async () => {
    const fromBuffer = await decodeBuffer(new Uint8Array(await readFile(files.mp3)));
    const fromFile = await decodeFile(files.mp3);
    // From a pipe ffmpeg cannot use the LAME gapless info to trim the encoder's end padding.
    expect(fromBuffer.length).toBeGreaterThanOrEqual(fromFile.length);
    expect((fromBuffer.length - fromFile.length) / SAMPLE_RATE).toBeLessThan(0.05);
    expect(maxAbsDiff(fromBuffer.subarray(0, fromFile.length), fromFile)).toBe(0);
  });

  it('accepts a Uint8Array view with an offset', async () => {
    const bytes = await readFile(files.flac);
    const padded = new Uint8Array(bytes.length + 10);
    padded.set(bytes, 5);
    const samples = await decodeBuffer(padded.subarray(5, 5 + bytes.length));
    expect(maxAbsDiff(samples, original)).toBeLessThanOrEqual(1e-4);
  });
});

describe('probe', () => {
  it('WAV from the header parser', async () => {
    expect(await probe(ORIGINAL_WAV)).toEqual({
      durationSec: ORIGINAL_SEC,
      format: 'wav',
      codec: 'pcm_s16le',
      sampleRate: 16000,
      channels: 1,
    });
    expect(await probe(files.wav44Stereo)).toMatchObject({ format: 'wav', sampleRate: 44100, channels: 2 });
  });

  it('compressed formats from ffmpeg', async () => {
    const expected: Array<[string, string, string, number]> = [
      [files.mp3, 'mp3', 'mp3', 16000],
      [files.flac, 'flac', 'flac', 16000],
      [files.ogg, 'ogg', 'opus', 48000],
      [files.m4a, 'mov,mp4,m4a,3gp,3g2,mj2', 'aac', 16000],
      [files.webm, 'matroska,webm', 'opus', 48000],
      [files.wavAdpcm, 'wav', 'adpcm_ms', 16000],
    ];
    for (const [file, format, codec, sampleRate] of expected) {
      const info = await probe(file);
      expect(info, file).toMatchObject({ format, codec, sampleRate, channels: 1 });
      expect(Math.abs(info.durationSec - ORIGINAL_SEC), file).toBeLessThan(0.15);
    }
  });

  it('counts samples when the container has no duration (Ogg from memory)', async () => {
    const info = await probe(await readFile(files.ogg));
    expect(info).toMatchObject({ format: 'ogg', codec: 'opus' });
    expect(Math.abs(info.durationSec - ORIGINAL_SEC)).toBeLessThan(0.05);
  });

  it('typed errors', async () => {
    const text = path.join(dir, 'probe-text.wav');
    await writeFile(text, 'not audio\n');
    expect(await codeOf(probe(text))).toBe('undecodable');
    expect(await codeOf(probe(new Uint8Array(0)))).toBe('empty');
    expect(await codeOf(probe(files.videoOnly))).toBe('unsupported');
    expect(await codeOf(probe('http://example.com/a.wav'))).toBe('unsupported');
    expect(await codeOf(probe(files.mp3, { maxDurationSec: 2 }))).toBe('too_long');
  });
});

describe('errors', () => {
  it('empty file and empty buffer → empty', async () => {
    const empty = path.join(dir, 'empty.wav');
    await writeFile(empty, '');
    expect(await codeOf(decodeFile(empty))).toBe('empty');
    expect(await codeOf(decodeBuffer(new Uint8Array(0)))).toBe('empty');
  });

  it('header-only WAV → empty', async () => {
    const full = await readFile(ORIGINAL_WAV);
    const dataAt = full.indexOf('data');
    const bytes = Buffer.from(full.subarray(0, dataAt + 8));
    bytes.writeUInt32LE(2, dataAt + 4); // declared 2 bytes, none present
    expect(await codeOf(decodeBuffer(bytes))).toBe('empty');
  });

  it('a text file named .wav → undecodable (also from memory and as a stream)', async () => {
    const text = path.join(dir, 'text.wav');
    await writeFile(text, 'This is a text file, not audio.\n'.repeat(20));
    expect(await codeOf(decodeFile(text))).toBe('undecodable');
    expect(await codeOf(decodeBuffer(await readFile(text)))).toBe('undecodable');
    expect(await codeOf(concatChunks(decodeStream(createReadStream(text))))).toBe('undecodable');
  });

  it('WAV with a corrupt header: the parser declines, ffmpeg decides, no crash', async () => {
    const bytes = Buffer.from(await readFile(ORIGINAL_WAV));
    bytes.writeUInt16LE(0, 22); // zero channels
    expect(['undecodable', 'unsupported']).toContain(await codeOf(decodeBuffer(bytes)));
  });

  it('truncated mp3 (first 1 KB) decodes to the few frames it contains, without hanging', async () => {
    const truncated = path.join(dir, 'truncated.mp3');
    await writeFile(truncated, (await readFile(files.mp3)).subarray(0, 1024));
    const samples = await decodeFile(truncated, { timeoutMs: 20_000 });
    expect(samples.length).toBeGreaterThan(0);
    expect(samples.length / SAMPLE_RATE).toBeLessThan(0.5);
  });

  it('maxDurationSec: rejected early from WAV header and container duration', async () => {
    expect(await codeOf(decodeFile(ORIGINAL_WAV, { maxDurationSec: 5 }))).toBe('too_long');
    expect(await codeOf(decodeFile(files.wav44Stereo, { maxDurationSec: 5 }))).toBe('too_long');
    expect(await codeOf(decodeFile(files.mp3, { maxDurationSec: 5 }))).toBe('too_long');
    expect(await codeOf(decodeBuffer(await readFile(files.m4a), { maxDurationSec: 5 }))).toBe('too_long');
    expect((await decodeFile(ORIGINAL_WAV, { maxDurationSec: ORIGINAL_SEC })).length).toBe(114816);
  });

  it('maxDurationSec: a container that under-reports its length is still stopped while decoding', async () => {
    const bytes = Buffer.from(await readFile(files.flac));
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('fLaC');
    bytes[21] = (bytes[21] ?? 0) & 0xf0; // STREAMINFO total samples := 16000 (1 s)
    bytes.writeUInt32BE(16000, 22);
    const lying = path.join(dir, 'lying.flac');
    await writeFile(lying, bytes);

    expect((await probe(lying)).durationSec).toBeCloseTo(1, 2);
    const err = await decodeFile(lying, { maxDurationSec: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AudioError);
    expect((err as AudioError).code).toBe('too_long');
    expect((err as AudioError).message).toMatch(/stopped decoding/);
    expect((await decodeFile(lying)).length).toBe(114816);
  });

  it('URL-looking inputs are rejected before ffmpeg sees them', async () => {
    for (const input of [
      'http://example.com/a.mp3',
      'https://example.com/a.wav',
      'concat:/etc/passwd|/etc/hosts',
      'file:/etc/passwd',
      'pipe:0',
      'data:audio/wav;base64,AAAA',
      'subfile,,start,0,end,100,,:/etc/passwd',
      'rtmp://host/live',
    ]) {
      const err = await decodeFile(input).catch((e: unknown) => e);
      expect(err, input).toBeInstanceOf(AudioError);
      expect((err as AudioError).code, input).toBe('unsupported');
      expect(await codeOf(concatChunks(decodeStream(input))), input).toBe('unsupported');
    }
  });

  it('an uploaded HLS playlist cannot make ffmpeg read other local files', async () => {
    const trap = await makePlaylistTrap(dir, files.mp3);
    expect(await codeOf(decodeFile(trap))).toBe('unsupported');
    expect(await codeOf(decodeBuffer(await readFile(trap)))).toBe('unsupported');
  });

  it('no audio stream → unsupported', async () => {
    expect(await codeOf(decodeFile(files.videoOnly))).toBe('unsupported');
  });

  it('missing file → io', async () => {
    expect(await codeOf(decodeFile(path.join(dir, 'missing.mp3')))).toBe('io');
  });

  it('a broken ffmpeg binary → io, and the process survives', async () => {
    expect(await codeOf(decodeFile(files.mp3, { ffmpegPath: path.join(dir, 'no-such-ffmpeg') }))).toBe('io');
    expect(await codeOf(decodeFile(files.mp3, { ffmpegPath: ORIGINAL_WAV }))).toBe('io'); // not executable
  });

  it('timeoutMs kills a decode whose input never ends → io', async () => {
    const stalled = new PassThrough();
    stalled.write((await readFile(files.mp3)).subarray(0, 20_000)); // some data, then silence forever
    const started = Date.now();
    const err = await concatChunks(decodeStream(stalled, { timeoutMs: 1500 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AudioError);
    expect((err as AudioError).code).toBe('io');
    expect((err as AudioError).message).toMatch(/timed out/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a failing input stream → io (even before ffmpeg has started)', async () => {
    const early = new Readable({ read() {} });
    setImmediate(() => early.destroy(new Error('socket reset')));
    const err = await concatChunks(decodeStream(early, { timeoutMs: 10_000 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AudioError);
    expect((err as AudioError).code).toBe('io');
    expect((err as AudioError).message).toMatch(/input stream/); // not the timeout

    const late = new PassThrough();
    late.write((await readFile(files.mp3)).subarray(0, 20_000));
    setTimeout(() => late.destroy(new Error('socket reset')), 300);
    expect(await codeOf(concatChunks(decodeStream(late, { timeoutMs: 10_000 })))).toBe('io');
  });

  it('an empty input stream → empty', async () => {
    expect(await codeOf(concatChunks(decodeStream(Readable.from([]))))).toBe('empty');
  });

  it('invalid options are rejected', async () => {
    await expect(decodeFile(files.mp3, { maxDurationSec: 0 })).rejects.toThrow(RangeError);
    await expect(decodeFile(files.mp3, { timeoutMs: -1 })).rejects.toThrow(RangeError);
  });
});
