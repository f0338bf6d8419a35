/**
 * Segmentation and stitching end to end with the REAL default model (CPU) and
 * REAL ffmpeg (the bundled binary): ten held-out clips (fixtures/heldout, FLAC
 * decoded by ffmpeg) are concatenated with 1–3 s of silence or low noise into
 * a WAV that ffmpeg streams back (wavFastPath off) on the segmenter thread
 * (decode + VAD off the main thread) into the engine through batchingSubmit.
 *
 * The model is small (held-out CER 10–15 %, more on long noisy mixes), so
 * sentences are matched by character error rate, not by words (at that CER
 * only ~20–45 % of words come out within 40 % character edits), and
 * discriminatively: each reference must be closest to the transcript found in
 * its own clip's time window, which also proves the order, and within
 * CER 0.8 of it (observed with two recent checkpoints: 0.13–0.66, margin to
 * the next-best window ≥ 0.10).
 * VOXFLEET_MODEL overrides the model directory, as everywhere in the project.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFile } from '@voxfleet/audio';
import { AsrEngine, DEFAULT_MODEL_DIR, charErrors, normalizeForScoring, rate } from '@voxfleet/asr';
import { batchingSubmit, transcribeLong, type BatchedPiece, type LongProgress, type LongTranscript } from '../src/index.js';
import { concatWithGaps, type Placed } from '@voxfleet/testkit';
import { SR } from './synth.js';

const HELDOUT = new URL('../../../fixtures/heldout/', import.meta.url).pathname;
/** varied voices, lengths, clean and augmented; no two with the same text */
const PICK = [0, 1, 5, 7, 12, 14, 20, 24, 28, 36];
const WINDOW = 0.5;

function wav16(samples: Float32Array): Uint8Array {
  const data = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) data.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[i]! * 32767))), i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(SR, 24);
  h.writeUInt32LE(SR * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

/** CER of `hyp` against `ref` (normalised; 1 when hyp is empty) */
function cer(hyp: string, ref: string): number {
  return rate(charErrors(hyp, ref));
}

/** share of the reference's words with a close word (≤ 40 % character edits) in `hyp` (reported only: at the
 * model's current CER too few words come out close enough for a word criterion to be stable) */
function fuzzyWordRecall(hyp: string, ref: string): number {
  const hw = normalizeForScoring(hyp).split(' ').filter(Boolean);
  const rw = normalizeForScoring(ref).split(' ').filter(Boolean);
  const close = (a: string, b: string): boolean => rate(charErrors(a, b)) <= 0.4;
  return rw.filter((w) => hw.some((h) => close(h, w))).length / rw.length;
}

describe('transcribeLong end to end (default model, ffmpeg)', () => {
  let dir: string;
  let engine: AsrEngine;
  let placed: Placed[];
  let result: LongTranscript<BatchedPiece>;
  const progress: LongProgress[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'voxfleet-seg-'));
    const manifest = (await readFile(HELDOUT + 'manifest.jsonl', 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { file: string; text: string });
    const clips = await Promise.all(
      PICK.map(async (idx) => ({ text: manifest[idx]!.text, samples: await decodeFile(HELDOUT + manifest[idx]!.file) })),
    );
    const joined = concatWithGaps(clips, 2024);
    placed = joined.placed;
    const all = joined.samples;
    await writeFile(join(dir, 'long.wav'), wav16(all));

    engine = await AsrEngine.start({ modelPath: process.env.VOXFLEET_MODEL || DEFAULT_MODEL_DIR, provider: 'cpu', precision: 'fp32', threads: 1 });
    result = await transcribeLong(join(dir, 'long.wav'), batchingSubmit(engine, { maxBatch: 4 }), {
      maxInflight: 8,
      chunkSamples: 8000,
      decode: { wavFastPath: false }, // ffmpeg decodes the stream too
      onProgress: (p) => progress.push({ ...p }),
    });
  }, 300_000);

  afterAll(async () => {
    await engine?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('cuts one speech segment per clip, inside its window, dropping the pauses', () => {
    expect(result.durationSec).toBeGreaterThan(45);
    for (const p of placed) {
      const mine = result.speech.filter((s) => s.end > p.start && s.start < p.end);
      expect(mine.length, `segments on "${p.text}"`).toBeGreaterThanOrEqual(1);
      for (const s of mine) {
        expect(s.start).toBeGreaterThanOrEqual(p.start - WINDOW);
        expect(s.end).toBeLessThanOrEqual(p.end + WINDOW);
      }
    }
    // nothing but the clips (± window) was sent to the engine
    for (const s of result.speech) expect(placed.some((p) => s.start >= p.start - WINDOW && s.end <= p.end + WINDOW)).toBe(true);
    const speechSec = result.speech.reduce((n, s) => n + s.end - s.start, 0);
    const clipSec = placed.reduce((n, p) => n + p.end - p.start, 0);
    expect(speechSec).toBeLessThan(clipSec + placed.length * 2 * WINDOW);
    expect(speechSec).toBeLessThan(0.85 * result.durationSec);
  });

  it('keeps timestamps absolute and monotonic', () => {
    let last = 0;
    for (const s of result.segments) {
      expect(s.start).toBeGreaterThanOrEqual(last);
      expect(s.end).toBeGreaterThanOrEqual(s.start);
      last = s.end;
    }
    last = 0;
    for (const t of result.tokens) {
      expect(t.start).toBeGreaterThanOrEqual(last);
      last = t.start;
    }
    expect(last).toBeLessThanOrEqual(result.durationSec);
  });

  it('finds every reference sentence, in order, within its clip window', () => {
    expect(result.text.length, 'the model transcribed nothing (an untrained export in models/voxfleet-en-char-ctc?)').toBeGreaterThan(0);
    // every transcript segment lies inside exactly one clip's window
    for (const s of result.segments) {
      const owners = placed.filter((p) => s.start >= p.start - WINDOW && s.end <= p.end + WINDOW);
      expect(owners, `segment ${JSON.stringify(s)}`).toHaveLength(1);
    }
    const hyps = placed.map((p) =>
      result.segments
        .filter((s) => s.start >= p.start - WINDOW && s.end <= p.end + WINDOW)
        .map((s) => s.text)
        .join(' '),
    );
    const matrix = placed.map((p) => hyps.map((h) => cer(h, p.text)));
    const margin = (i: number): number => Math.min(...matrix[i]!.filter((_, j) => j !== i)) - matrix[i]![i]!;
    const report = placed
      .map((p, i) => `${matrix[i]![i]!.toFixed(2)} ${margin(i).toFixed(2)} ${fuzzyWordRecall(hyps[i]!, p.text).toFixed(2)}  ${p.text}  →  ${hyps[i]}`)
      .join('\n');
    console.log(`CER, margin to the next-best window, fuzzy word recall, reference → transcript in its window:\n${report}`);
    placed.forEach((p, i) => {
      const row = matrix[i]!;
      // recognisably this sentence ...
      expect(row[i]!, `"${p.text}" vs "${hyps[i]}"`).toBeLessThanOrEqual(0.8);
      // ... and closer to its own window's transcript than to any other window's (so, in order)
      const best = row.indexOf(Math.min(...row));
      expect(best, `"${p.text}" best matches window ${best} ("${hyps[best]}")`).toBe(i);
    });
  });

  it('reports progress by segments', () => {
    expect(progress.length).toBeGreaterThanOrEqual(Math.ceil(result.speech.length / 4) + 1);
    expect(result.pieces).toHaveLength(result.speech.length);
    for (const p of result.pieces) expect(p.batchSize).toBeLessThanOrEqual(4);
    const last = progress.at(-1)!;
    expect(last).toMatchObject({ done: true, segmentsDone: result.speech.length, segmentsFound: result.speech.length });
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.segmentsDone).toBeGreaterThanOrEqual(progress[i - 1]!.segmentsDone);
  });
});
