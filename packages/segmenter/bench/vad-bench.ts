/**
 * Energy detector vs Silero VAD on long streams built from real clips with
 * known positions (bench/corpus.ts). Reports boundary accuracy, missed speech,
 * transcribed non-speech, splits/merges, speed and (with --asr) the CER of the
 * default model on the resulting segments.
 *
 *   npx tsx packages/segmenter/bench/vad-bench.ts --silero <silero_vad_16k_op15.onnx> [--asr] [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { AsrEngine, DEFAULT_MODEL_DIR, charErrors, rate, sumCounts, type ErrorCounts } from '@voxfleet/asr';
import { EnergyDetector, SpeechSegmenter, batchingSubmit, transcribeLong, type FrameDetector, type SpeechSegment } from '../src/index.js';
import { buildStream, loadClips, type Background, type Placed } from './corpus.js';
import { SileroDetector } from './silero.js';

const { values: args } = parseArgs({
  options: {
    silero: { type: 'string' },
    asr: { type: 'boolean', default: false },
    json: { type: 'string' },
    backgrounds: { type: 'string', default: 'silence,roomtone,noisy,bursts,switching,hum' },
    /** only timings: each detector 5× on the roomtone stream, interleaved, median; and the ASR engine on its segments */
    speed: { type: 'boolean', default: false },
  },
});

const SR = 16000;

interface Row {
  background: Background;
  detector: string;
  audioSec: number;
  segments: number;
  /** share of the clips' active regions not inside any segment */
  missedSpeech: number;
  /** segment time more than 0.3 s away from any clip's active region, ÷ pause time */
  nonSpeechKept: number;
  startErrMs: number;
  endErrMs: number;
  startErrP90Ms: number;
  endErrP90Ms: number;
  /** clips split into several segments; segments spanning several clips; segments on no clip */
  splits: number;
  merges: number;
  falseSegments: number;
  rtfx: number;
  cer?: number;
  /** characters transcribed outside every clip (±0.5 s): text made up from non-speech */
  junkChars?: number;
  /** clips with no segment at all */
  lostClips: number;
}

async function* chunks(x: Float32Array, n: number): AsyncGenerator<Float32Array> {
  for (let i = 0; i < x.length; i += n) yield x.slice(i, i + n);
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}
function p90(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(0.9 * s.length))]! : NaN;
}

function score(placed: Placed[], segs: { start: number; end: number }[], total: number): Omit<Row, 'background' | 'detector' | 'rtfx' | 'audioSec'> {
  const covered = new Uint8Array(total);
  for (const s of segs) covered.fill(1, s.start, s.end);
  let active = 0;
  let missed = 0;
  const near = new Uint8Array(total);
  const margin = Math.round(0.3 * SR);
  const startErr: number[] = [];
  const endErr: number[] = [];
  let splits = 0;
  for (const p of placed) {
    for (let i = p.activeStart; i < p.activeEnd; i++) {
      active++;
      if (!covered[i]) missed++;
    }
    near.fill(1, Math.max(0, p.activeStart - margin), Math.min(total, p.activeEnd + margin));
    const over = segs.filter((s) => s.end > p.activeStart && s.start < p.activeEnd);
    if (over.length > 1) splits++;
    if (over.length) {
      startErr.push(Math.abs(over[0]!.start - p.activeStart) / SR);
      endErr.push(Math.abs(over[over.length - 1]!.end - p.activeEnd) / SR);
    }
  }
  let pauses = 0;
  let kept = 0;
  for (let i = 0; i < total; i++) {
    if (!near[i]) {
      pauses++;
      if (covered[i]) kept++;
    }
  }
  const merges = segs.filter((s) => placed.filter((p) => s.end > p.activeStart && s.start < p.activeEnd).length > 1).length;
  const lostClips = placed.filter((p) => !segs.some((s) => s.end > p.activeStart && s.start < p.activeEnd)).length;
  const falseSegments = segs.filter((s) => !placed.some((p) => s.end > p.activeStart - margin && s.start < p.activeEnd + margin)).length;
  return {
    segments: segs.length,
    missedSpeech: missed / active,
    nonSpeechKept: kept / pauses,
    startErrMs: mean(startErr) * 1000,
    endErrMs: mean(endErr) * 1000,
    startErrP90Ms: p90(startErr) * 1000,
    endErrP90Ms: p90(endErr) * 1000,
    splits,
    merges,
    falseSegments,
    lostClips,
  };
}

async function speed(clips: Awaited<ReturnType<typeof loadClips>>): Promise<void> {
  const { samples } = buildStream(clips, { background: 'roomtone', seed: 7 });
  const sec = samples.length / SR;
  const runs: Record<string, number[]> = {};
  const dets: [string, () => Promise<FrameDetector>][] = [['energy', async () => new EnergyDetector()]];
  if (args.silero) dets.push(['silero', () => SileroDetector.load(args.silero!, 1)]);
  let segs: SpeechSegment[] = [];
  for (let i = 0; i < 5; i++) {
    for (const [name, make] of dets) {
      const det = await make();
      const seg = new SpeechSegmenter({ detector: det });
      const found: SpeechSegment[] = [];
      const t0 = performance.now();
      for await (const s of seg.segments(chunks(samples, SR))) found.push(s);
      (runs[name] ??= []).push(sec / ((performance.now() - t0) / 1000));
      if (name === 'energy') segs = found;
      if (det instanceof SileroDetector) await det.release();
    }
  }
  for (const [name, r] of Object.entries(runs)) console.log(`${name}: RTFx median ${[...r].sort((a, b) => a - b)[2]!.toFixed(0)} (runs ${r.map((x) => x.toFixed(0)).join(', ')})`);
  const engine = await AsrEngine.start({ modelPath: process.env.VOXFLEET_MODEL || DEFAULT_MODEL_DIR, provider: 'cpu', precision: 'fp32', threads: 1 });
  const speech = segs.reduce((n, s) => n + s.samples.length, 0) / SR;
  const t0 = performance.now();
  for (let i = 0; i < segs.length; i += 8) await engine.transcribe(segs.slice(i, i + 8).map((s) => s.samples.slice()));
  const wall = (performance.now() - t0) / 1000;
  console.log(`asr engine (cpu, fp32, 1 thread, batches of 8): ${(speech / wall).toFixed(0)}× real time on the ${speech.toFixed(0)} s of speech, ${(sec / wall).toFixed(0)}× on the ${sec.toFixed(0)} s stream`);
  await engine.close();
}

async function main(): Promise<void> {
  const clips = await loadClips();
  if (args.speed) return speed(clips);
  const detectors: { name: string; make: () => Promise<FrameDetector> }[] = [{ name: 'energy', make: async () => new EnergyDetector() }];
  if (args.silero) {
    const path = args.silero;
    detectors.push({ name: 'silero', make: () => SileroDetector.load(path, 1) });
    detectors.push({ name: 'silero@0.3', make: () => SileroDetector.load(path, 1, { on: 0.3, off: 0.15 }) });
  }
  const engine = args.asr ? await AsrEngine.start({ modelPath: process.env.VOXFLEET_MODEL || DEFAULT_MODEL_DIR, provider: 'cpu', precision: 'fp32', threads: 1 }) : undefined;
  const rows: Row[] = [];
  for (const bg of args.backgrounds!.split(',') as Background[]) {
    const { samples, placed } = buildStream(clips, { background: bg, seed: 7 });
    for (const d of detectors) {
      const det = await d.make();
      const seg = new SpeechSegmenter({ detector: det });
      const found: { start: number; end: number }[] = [];
      const t0 = performance.now();
      for await (const s of seg.segments(chunks(samples, SR)) as AsyncGenerator<SpeechSegment>) found.push({ start: s.startSample, end: s.startSample + s.samples.length });
      const wall = (performance.now() - t0) / 1000;
      const row: Row = { background: bg, detector: d.name, audioSec: samples.length / SR, rtfx: samples.length / SR / wall, ...score(placed, found, samples.length) };
      if (engine) {
        const t = await transcribeLong(chunks(samples, SR), batchingSubmit(engine), { detector: await d.make() });
        const counts: ErrorCounts[] = [];
        for (const p of placed) {
          if (!/^(en|heldout)/.test(p.clip.name)) continue;
          const hyp = t.segments.filter((s) => (s.start + s.end) / 2 >= p.start / SR - 0.5 && (s.start + s.end) / 2 < p.end / SR + 0.5).map((s) => s.text).join(' ');
          counts.push(charErrors(hyp, p.clip.text));
        }
        row.cer = rate(sumCounts(counts));
        row.junkChars = t.segments
          .filter((s) => !placed.some((p) => (s.start + s.end) / 2 >= p.start / SR - 0.5 && (s.start + s.end) / 2 < p.end / SR + 0.5))
          .reduce((n, s) => n + s.text.length, 0);
      }
      rows.push(row);
      console.log(JSON.stringify(row));
      if (det instanceof SileroDetector) await det.release();
    }
  }
  await engine?.close();
  const fmt = (x: number | undefined, k = 1): string => (x === undefined ? '—' : x.toFixed(k));
  console.log('\n| background | detector | segments | missed speech % | non-speech kept % | start err ms (mean/p90) | end err ms (mean/p90) | lost clips | splits | merges | false segs | RTFx | CER % | junk chars |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(
      `| ${r.background} | ${r.detector} | ${r.segments} | ${fmt(r.missedSpeech * 100, 2)} | ${fmt(r.nonSpeechKept * 100)} | ${fmt(r.startErrMs, 0)} / ${fmt(r.startErrP90Ms, 0)} | ${fmt(r.endErrMs, 0)} / ${fmt(r.endErrP90Ms, 0)} | ${r.lostClips} | ${r.splits} | ${r.merges} | ${r.falseSegments} | ${fmt(r.rtfx, 0)} | ${r.cer === undefined ? '—' : fmt(r.cer * 100)} | ${r.junkChars ?? '—'} |`,
    );
  }
  if (args.json) writeFileSync(args.json, JSON.stringify({ date: new Date().toISOString(), clips: clips.length, rows }, null, 2));
}

await main();
