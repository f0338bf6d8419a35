import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AudioError, decodeFile, decodeStream } from '../src/index.js';
import {
  ORIGINAL_WAV,
  concatChunks,
  ffmpegCli,
  makeTempDir,
  makeWav,
  maxAbsDiff,
  processesWith,
  waitFor,
} from './helpers.js';

const onLinux = process.platform === 'linux';

let dir: string;
let cleanup: () => Promise<void>;
let mp3: string;
let ogg: string;
let longWav: string;

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir());
  mp3 = path.join(dir, 'stream-clip.mp3');
  ogg = path.join(dir, 'stream-clip.ogg');
  await ffmpegCli(['-i', ORIGINAL_WAV, '-c:a', 'libmp3lame', '-b:a', '64k', mp3, '-c:a', 'libopus', '-b:a', '32k', ogg]);
  // 10 minutes at 8 kHz (9.6 MB): not 16 kHz, so it is decoded (resampled) by ffmpeg.
  const frames = 8000 * 600;
  const samples = new Array<number>(frames);
  for (let i = 0; i < frames; i++) samples[i] = 0.3 * Math.sin((2 * Math.PI * 440 * i) / 8000);
  longWav = path.join(dir, 'long-8k.wav');
  await writeFile(longWav, makeWav({ sampleRate: 8000, channels: 1, format: 's16', samples }));
});
afterAll(() => cleanup?.());

describe('decodeStream', () => {
  it('WAV fast path: fixed-size chunks that concatenate to decodeFile', async () => {
    const { samples, sizes } = await concatChunks(decodeStream(ORIGINAL_WAV, { chunkSamples: 4000 }));
    expect(sizes.length).toBe(Math.ceil(114816 / 4000));
    expect(sizes.slice(0, -1).every((n) => n === 4000)).toBe(true);
    expect(maxAbsDiff(samples, await decodeFile(ORIGINAL_WAV))).toBe(0);
  });

  it('ffmpeg path: chunks concatenate exactly to decodeFile', async () => {
    const { samples, sizes } = await concatChunks(decodeStream(mp3, { chunkSamples: 3000 }));
    expect(sizes.length).toBeGreaterThan(30);
    expect(sizes.slice(0, -1).every((n) => n === 3000)).toBe(true);
    expect(maxAbsDiff(samples, await decodeFile(mp3))).toBe(0);
  });

  it('default chunk is one second', async () => {
    const { sizes } = await concatChunks(decodeStream(ORIGINAL_WAV));
    expect(sizes[0]).toBe(16000);
  });

  it('accepts bytes and Readable streams', async () => {
    const reference = await decodeFile(ORIGINAL_WAV);
    const fromBytes = await concatChunks(decodeStream(await readFile(ORIGINAL_WAV), { chunkSamples: 5000 }));
    expect(maxAbsDiff(fromBytes.samples, reference)).toBe(0);
    const fromStream = await concatChunks(decodeStream(createReadStream(ORIGINAL_WAV), { chunkSamples: 5000 }));
    expect(maxAbsDiff(fromStream.samples, reference)).toBe(0);
  });

  it('enforces maxDurationSec while decoding when the container has no duration', async () => {
    let received = 0;
    const err = await (async () => {
      for await (const chunk of decodeStream(createReadStream(ogg), { maxDurationSec: 3, chunkSamples: 8000 })) {
        received += chunk.length;
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AudioError);
    expect((err as AudioError).code).toBe('too_long');
    expect(received).toBeLessThanOrEqual(3 * 16000);
  });

  it('rejects a bad chunk size', () => {
    expect(() => decodeStream(ORIGINAL_WAV, { chunkSamples: 0 })).toThrow(RangeError);
    expect(() => decodeStream(ORIGINAL_WAV, { chunkSamples: 1.5 })).toThrow(RangeError);
  });
});

describe.skipIf(!onLinux)('decodeStream: backpressure and cancellation', () => {
  it('memory stays flat: ffmpeg is paused while the consumer is not reading', async () => {
    const iterator = decodeStream(longWav, { chunkSamples: 16000 })[Symbol.asyncIterator]();
    try {
      const first = await iterator.next();
      expect(first.value).toHaveLength(16000);
      const [pid] = await processesWith(longWav);
      expect(pid).toBeDefined();
      await new Promise((r) => setTimeout(r, 1500)); // an unthrottled ffmpeg finishes 10 min of audio in well under this
      expect(await processesWith(longWav)).toContain(pid); // still alive: blocked on a full pipe
      const io = await readFile(`/proc/${pid}/io`, 'utf8').catch(() => '');
      const rchar = Number(/rchar: (\d+)/.exec(io)?.[1] ?? NaN);
      if (Number.isFinite(rchar)) expect(rchar).toBeLessThan(3_000_000); // of a 9.6 MB input
    } finally {
      await iterator.return?.(undefined);
    }
    expect(await waitFor(async () => (await processesWith(longWav)).length === 0)).toBe(true);
  });

  it('breaking out of the loop kills ffmpeg', async () => {
    let chunks = 0;
    for await (const _chunk of decodeStream(longWav, { chunkSamples: 8000 })) {
      if (++chunks === 3) break;
    }
    expect(await waitFor(async () => (await processesWith(longWav)).length === 0)).toBe(true);
  });

  it('AbortSignal kills ffmpeg and rejects with the abort reason', async () => {
    const controller = new AbortController();
    let chunks = 0;
    const err = await (async () => {
      for await (const _chunk of decodeStream(longWav, { chunkSamples: 8000, signal: controller.signal })) {
        if (++chunks === 2) controller.abort();
      }
    })().catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    expect(chunks).toBeLessThan(10);
    expect(await waitFor(async () => (await processesWith(longWav)).length === 0)).toBe(true);
  });

  it('abort while waiting on ffmpeg (no pending chunk) also rejects promptly', async () => {
    const controller = new AbortController();
    const pending = decodeFile(longWav, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('client went away')), 50);
    await expect(pending).rejects.toThrow('client went away');
    expect(await waitFor(async () => (await processesWith(longWav)).length === 0)).toBe(true);
  });

  it('an already-aborted signal never starts ffmpeg', async () => {
    await expect(decodeFile(mp3, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });
});
