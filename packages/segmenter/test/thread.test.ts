/**
 * The segmenter thread (decode + VAD off the main thread) without a model:
 * the same pieces as in process, many streams at once on one thread, typed
 * errors (AudioError codes, RangeError) arriving as thrown in the thread,
 * abort, explicit start/close. Real bundled ffmpeg where a route needs it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AudioError, isAudioError } from '@voxfleet/audio';
import { wavBytes } from '@voxfleet/testkit';
import { EnergyDetector, SegmenterThread, transcribeLong, type LongOptions } from '../src/index.js';
import { SR, build, type Part } from './synth.js';

const parts: Part[] = [{ kind: 'silence', sec: 0.5 }];
for (let i = 0; i < 19; i++) parts.push({ kind: 'speechlike', sec: 0.8 + (i % 4) * 0.6, db: -25 }, { kind: 'silence', sec: 1 + (i % 3) * 0.4 });
const { samples, active } = build(parts, { bedDb: -55, seed: 4 });

/** records every piece it is given (length and a checksum), answers with an empty transcript */
function recorder() {
  const seen: { length: number; sum: number }[] = [];
  const submit = async (x: Float32Array) => {
    let sum = 0;
    for (let i = 0; i < x.length; i++) sum += x[i]! * (1 + (i % 7));
    seen.push({ length: x.length, sum });
    await new Promise((r) => setTimeout(r, 1));
    return { transcript: { text: '', segments: [], tokens: [], durationSec: x.length / SR } };
  };
  return { seen, submit };
}

async function codeOf(p: Promise<unknown>): Promise<{ code: string; message: string; error: unknown }> {
  try {
    await p;
  } catch (err) {
    return { code: isAudioError(err) ? err.code : `not an AudioError: ${String(err)}`, message: (err as Error).message, error: err };
  }
  throw new Error('expected a rejection');
}

describe('transcribeLong on the segmenter thread', () => {
  let dir: string;
  let wav: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'voxfleet-segthread-'));
    wav = join(dir, 'long.wav');
    await writeFile(wav, wavBytes(samples));
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('gives the pieces the in-process path gives, by the WAV reader and by ffmpeg', async () => {
    for (const decode of [{}, { wavFastPath: false }]) {
      const opts: LongOptions = { decode, chunkSamples: 8000 };
      const here = recorder();
      const local = await transcribeLong(wav, here.submit, { ...opts, inProcess: true });
      const there = recorder();
      const off = await transcribeLong(wav, there.submit, opts);
      expect(off.speech).toHaveLength(active.length);
      expect(off.speech).toEqual(local.speech);
      expect(off.stats).toEqual(local.stats);
      expect(there.seen).toEqual(here.seen);
      expect(off.durationSec).toBeCloseTo(samples.length / SR, 3);
    }
  });

  it('serves many streams at once on the one shared thread (bytes and paths, short and long)', async () => {
    const short = wavBytes(samples.subarray(0, 10 * SR));
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => {
        const r = recorder();
        return transcribeLong(i % 2 ? short : wav, r.submit, { maxInflight: 2 }).then((t) => ({ t, r }));
      }),
    );
    runs.forEach(({ t, r }, i) => {
      if (i % 2) {
        expect(r.seen.map((s) => s.length)).toEqual([10 * SR]);
        expect(t.speech).toEqual([{ start: 0, end: 10, cut: false }]);
      } else {
        expect(t.speech).toEqual(runs[0]!.t.speech);
        expect(r.seen).toEqual(runs[0]!.r.seen);
      }
    });
    expect(await SegmenterThread.shared()).toBe(await SegmenterThread.shared());
  });

  it('cuts the next piece only when asked (pull-based: no read-ahead while the caller waits)', async () => {
    const thread = await SegmenterThread.shared();
    const s = thread.open({ input: wav, decode: { chunkSamples: 8000 }, segmenter: {} });
    expect((await s.next()).done).toBe(false);
    await new Promise((r) => setTimeout(r, 100));
    expect((await s.next()).done).toBe(false);
    await new Promise((r) => setTimeout(r, 100));
    // a long file: the first 30 s + one chunk decide that it is long; nothing more was read
    expect(samples.length).toBeGreaterThan(55 * SR);
    expect(s.decodedSamples).toBe(30 * SR + 8000);
    await s.close();
  });

  it('reports the same typed errors as decoding in process (AudioError code and message)', async () => {
    const garbage = new Uint8Array(4096).map((_, i) => (i * 7919) % 251);
    const cases: [string, Parameters<typeof transcribeLong>[0], LongOptions, string][] = [
      ['garbage bytes', garbage, {}, 'undecodable'],
      ['a text file named .wav', join(dir, 'text.wav'), {}, 'undecodable'],
      ['a missing file', join(dir, 'missing.flac'), {}, 'io'],
      ['a URL', 'http://example.com/a.wav', {}, 'unsupported'],
      ['zero bytes', new Uint8Array(0), {}, 'empty'],
      ['too long (WAV header)', wav, { decode: { maxDurationSec: 10 } }, 'too_long'],
      ['too long (ffmpeg)', wav, { decode: { maxDurationSec: 10, wavFastPath: false } }, 'too_long'],
    ];
    await writeFile(join(dir, 'text.wav'), 'this is not audio at all, just some text in a file\n'.repeat(20));
    for (const [what, input, opts, code] of cases) {
      let ends = 0;
      const off = await codeOf(transcribeLong(input, recorder().submit, { ...opts, onSourceEnd: () => ends++ }));
      const local = await codeOf(transcribeLong(input, recorder().submit, { ...opts, inProcess: true }));
      expect(off.code, what).toBe(code);
      expect(off.error, what).toBeInstanceOf(AudioError);
      expect(off.message, what).toBe(local.message);
      expect((off.error as AudioError).detail, what).toBe((local.error as AudioError).detail);
      expect(ends, what).toBe(1);
    }
    // option errors keep their class too
    const bad = await codeOf(transcribeLong(wav, recorder().submit, { chunkSamples: 0.5 }));
    expect(bad.error).toBeInstanceOf(RangeError);
    expect(bad.message).toMatch(/chunkSamples/);
    // a byte stream is not a sample source
    await expect(transcribeLong(Readable.from([Buffer.from('abc')]), recorder().submit)).rejects.toThrow(TypeError);
    // a custom detector cannot cross threads
    await expect(transcribeLong(wav, recorder().submit, { detector: new EnergyDetector() })).rejects.toThrow(TypeError);
  });

  it('stops a stream on abort and keeps serving the others', async () => {
    const ac = new AbortController();
    let calls = 0;
    const slow = async (x: Float32Array) => {
      if (++calls === 2) ac.abort(new Error('cancelled'));
      await new Promise((r) => setTimeout(r, 5));
      return { transcript: { text: '', segments: [], tokens: [], durationSec: x.length / SR } };
    };
    let ends = 0;
    await expect(transcribeLong(wav, slow, { signal: ac.signal, maxInflight: 1, onSourceEnd: () => ends++ })).rejects.toThrow('cancelled');
    expect(calls).toBe(2);
    expect(ends).toBe(1);
    const t = await transcribeLong(wav, recorder().submit);
    expect(t.speech).toHaveLength(active.length);
  });

  it('keeps a plain script alive while it runs, and lets it exit after (the shared thread is unref\'d when idle)', async () => {
    const script = join(dir, 'script.mts');
    const index = new URL('../src/index.ts', import.meta.url).pathname;
    // a submit that resolves at once: nothing but the segmenter thread keeps the event loop alive
    await writeFile(
      script,
      `import { transcribeLong } from ${JSON.stringify(index)};\n` +
        `const t = await transcribeLong(${JSON.stringify(wav)}, async (x) => ({ transcript: { text: '', segments: [], tokens: [], durationSec: x.length / 16000 } }));\n` +
        `console.log('pieces', t.pieces.length);\n`,
    );
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script], { timeout: 60_000 });
    expect(stdout.trim()).toBe(`pieces ${active.length}`);
  });

  it('runs on a thread of its own between start and close', async () => {
    const thread = await SegmenterThread.start();
    const t = await transcribeLong(wav, recorder().submit, { thread });
    expect(t.speech).toHaveLength(active.length);
    await thread.close();
    await expect(transcribeLong(wav, recorder().submit, { thread })).rejects.toThrow(/closed/);

    // a thread that dies fails its streams
    const doomed = await SegmenterThread.start();
    let ends = 0;
    const run = transcribeLong(wav, recorder().submit, { thread: doomed, maxInflight: 1, onSourceEnd: () => ends++ });
    await new Promise((r) => setTimeout(r, 20));
    await (doomed as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await expect(run).rejects.toThrow(/exited/);
    expect(ends).toBe(1);
  });
});
