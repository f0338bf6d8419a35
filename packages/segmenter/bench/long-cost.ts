/**
 * What transcribeLong costs outside the engine (the numbers in long.ts's module comment):
 *
 * - VAD: the SpeechSegmenter (energy detector) over the bench corpus stream
 *   (45 real clips, roomtone background, 265.7 s) repeated `--minutes`, in
 *   process: CPU seconds per audio hour.
 * - main thread: event-loop busy time of a whole transcribeLong over a WAV of
 *   that stream with a no-op submit, in process vs on the segmenter thread.
 * - stitch: asr's `stitch` over the piece transcripts of a 120-minute file of
 *   continuous speech (14 tokens/s, a segment per 3 s), cut into `--pieces`
 *   pieces (1 300: 5.5 s each) and into 240 pieces of 30 s: µs per piece.
 *
 *   npx tsx packages/segmenter/bench/long-cost.ts [--minutes 20] [--pieces 1300]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { stitch, type Transcript } from '@voxfleet/asr/ctc';
import { wavBytes } from '@voxfleet/testkit';
import { SpeechSegmenter, transcribeLong } from '../src/index.js';
import { buildStream, loadClips } from './corpus.js';

const { values: args } = parseArgs({ options: { minutes: { type: 'string', default: '20' }, pieces: { type: 'string', default: '1300' } } });
const SR = 16000;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function* repeated(x: Float32Array, totalSamples: number, chunk = SR): Generator<Float32Array> {
  for (let pos = 0; pos < totalSamples; pos += chunk) {
    const at = pos % x.length;
    yield x.slice(at, Math.min(at + chunk, x.length, at + totalSamples - pos));
  }
}

async function vad(stream: Float32Array, minutes: number): Promise<void> {
  const total = minutes * 60 * SR;
  const runs: number[] = [];
  let pieces = 0;
  for (let i = 0; i < 3; i++) {
    const seg = new SpeechSegmenter();
    const c0 = process.cpuUsage();
    pieces = 0;
    for await (const _ of seg.segments(repeated(stream, total))) pieces++;
    const c = process.cpuUsage(c0);
    runs.push((c.user + c.system) / 1e6);
  }
  const cpu = median(runs);
  console.log(
    `VAD (SpeechSegmenter, energy): ${minutes} min of audio, ${pieces} pieces: CPU ${cpu.toFixed(2)} s (runs ${runs.map((r) => r.toFixed(2)).join(', ')}) → ${((cpu * 60) / minutes).toFixed(1)} s per audio hour, ${((minutes * 60) / cpu).toFixed(0)}× real time`,
  );
}

async function mainThread(stream: Float32Array): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'voxfleet-cost-'));
  try {
    const file = join(dir, 'stream.wav');
    await writeFile(file, wavBytes(stream));
    const sec = stream.length / SR;
    const submit = async (x: Float32Array) => ({ transcript: { text: '', segments: [], tokens: [], durationSec: x.length / SR } });
    for (const [name, inProcess, decode] of [
      ['in process (WAV reader)', true, {}],
      ['segmenter thread (WAV reader)', false, {}],
      ['in process (ffmpeg)', true, { wavFastPath: false }],
      ['segmenter thread (ffmpeg)', false, { wavFastPath: false }],
    ] as const) {
      const runs: { busy: number; wall: number }[] = [];
      for (let i = 0; i < 3; i++) {
        const e0 = performance.eventLoopUtilization();
        const t0 = performance.now();
        await transcribeLong(file, submit, { inProcess, decode });
        const e = performance.eventLoopUtilization(e0);
        runs.push({ busy: e.active, wall: performance.now() - t0 });
      }
      const busy = median(runs.map((r) => r.busy));
      console.log(`main thread busy, ${name}: ${busy.toFixed(0)} ms for ${sec.toFixed(0)} s of audio (${((busy / sec) * 3.6).toFixed(2)} s per audio hour); wall ${median(runs.map((r) => r.wall)).toFixed(0)} ms`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** a piece transcript like the engine's: tokens at `rate`/s, a segment per 3 s */
function pieceTranscript(durSec: number, rate: number): Transcript {
  const tokens = Array.from({ length: Math.round(durSec * rate) }, (_, i) => ({ id: 1 + (i % 28), text: 'abcdefghijklmnopqrstuvwxyz '[i % 27]!, start: i / rate, end: (i + 0.5) / rate }));
  const segments = Array.from({ length: Math.max(1, Math.round(durSec / 3)) }, (_, i) => ({ start: i * 3, end: Math.min(durSec, i * 3 + 2.8), text: 'some words of text here' }));
  return { text: segments.map((s) => s.text).join(' '), segments, tokens, durationSec: durSec };
}

function stitchCost(n: number, pieceSec: number): void {
  const parts = Array.from({ length: n }, (_, i) => ({ offsetSec: i * (pieceSec + 0.05), durSec: pieceSec, transcript: pieceTranscript(pieceSec, 14) }));
  const tokens = parts.reduce((a, p) => a + p.transcript.tokens.length, 0);
  const runs: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    stitch(parts, n * (pieceSec + 0.05));
    runs.push(performance.now() - t0);
  }
  const ms = median(runs);
  console.log(`stitch: ${n} pieces of ${pieceSec.toFixed(1)} s (${tokens} tokens): ${ms.toFixed(1)} ms → ${((ms * 1000) / n).toFixed(1)} µs per piece (runs ${runs.map((r) => r.toFixed(1)).join(', ')})`);
}

const clips = await loadClips();
const { samples } = buildStream(clips, { background: 'roomtone', seed: 7 });
await vad(samples, Number(args.minutes));
await mainThread(samples);
const n = Number(args.pieces);
stitchCost(n, 7200 / n);
stitchCost(240, 30);
