/**
 * One measured target of `npm run bench -- --model`, in a process of its own
 * (started by bench/model.ts over an IPC channel; not a command to run by
 * hand): sherpa-onnx's OfflineRecognizer, or VoxFleet's AsrEngine in process.
 * It loads its model once (load time reported apart), then times one pass of
 * the clips each time the parent asks. Both kinds get the same 16 kHz
 * Float32 clips (already decoded: no file reading or decoding on the clock)
 * and warm up on the longest clips before their first timed pass (sherpa-onnx)
 * or their first pass at a batch size (direct), not timed.
 *
 *   node --import tsx bench/model-child.ts '<ChildJob as JSON>'
 */
import { AsrEngine } from '@voxfleet/asr';
import { SherpaRecognizer, SherpaWhisper, sherpaVersion, type SherpaKind } from '@voxfleet/testkit';
import type { Clip } from './lib.js';
import { cpuMeter, passClips, type ChildJob, type DirectJob, type FromChild, type Measured, type SherpaJob, type ToChild } from './model-shared.js';

const send = (m: FromChild): void => void process.send!(m);

/** indices of `clips`, longest first */
function longestFirst(clips: Clip[]): number[] {
  return clips.map((_, i) => i).sort((a, b) => clips[b]!.samples.length - clips[a]!.samples.length || a - b);
}

/** Times `items` work units on `lanes` lanes (each takes the next unit as it frees up); texts by clip index. */
async function pass(
  clips: Clip[],
  lanes: number,
  units: number[][],
  work: (lane: number, unit: number) => Promise<{ texts: string[]; ms?: number }>,
  extra: () => Partial<Measured> = () => ({}),
): Promise<Measured> {
  const texts: string[] = new Array<string>(clips.length);
  const seen = new Set<number>();
  const latencyMs: number[] = [];
  let next = 0;
  const meter = await cpuMeter([process.pid]);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let u = next++; u < units.length; u = next++) {
        const s = performance.now();
        const r = await work(lane, u);
        const ms = performance.now() - s;
        units[u]!.forEach((clip, j) => {
          latencyMs.push(ms);
          if (!seen.has(clip)) {
            seen.add(clip);
            texts[clip] = r.texts[j]!;
          }
        });
      }
    }),
  );
  const wallSec = (performance.now() - start) / 1000;
  const m = await meter.stop();
  return {
    wallSec,
    audioSec: units.flat().reduce((a, i) => a + clips[i]!.sec, 0),
    items: units.flat().length,
    latencyMs,
    cpu: { ownSec: m.ownSec, machineSec: m.machineSec },
    loadavg: m.loadavg,
    texts,
    ...extra(),
  };
}

async function sherpaTarget(job: SherpaJob, clips: Clip[]): Promise<(batch?: number) => Promise<Measured>> {
  const t0 = performance.now();
  // One clip through sherpa-onnx: synchronous with one stream (its plain decode), else one decodeAsync (libuv's pool).
  let decode: (x: Float32Array) => Promise<string>;
  if (job.family === 'whisper') {
    // its Whisper recognizer: the export's {name}-encoder/decoder files of the precision, language detected as VoxFleet's default
    const w = new SherpaWhisper(job.dir, { precision: job.precision, numThreads: job.threads });
    decode = async (x) => (job.streams === 1 ? w.transcribe(x) : await w.transcribeAsync(x)).text;
  } else {
    const rec = new SherpaRecognizer(job.family as SherpaKind, job.dir, { model: job.file, numThreads: job.threads });
    decode = async (x) => (job.streams === 1 ? rec.transcribe(x) : (await rec.transcribeMany([x], 2))[0]!).text;
  }
  const loadMs = performance.now() - t0;
  const v = sherpaVersion();
  send({ type: 'ready', loadMs: [loadMs], versions: { 'sherpa-onnx-node': v.sherpa, 'sherpa-onnx onnxruntime': v.onnxruntime } });
  let warm = false;
  return async () => {
    if (!warm) {
      await Promise.all(longestFirst(clips).slice(0, Math.max(2, job.streams)).map((i) => decode(clips[i]!.samples.slice())));
      warm = true;
    }
    // the pass in its fixed order, one clip per unit, `streams` in flight
    const units = Array.from({ length: job.passes }, () => clips.map((_, i) => [i])).flat();
    const inputs = units.map(([i]) => clips[i!]!.samples.slice());
    return pass(clips, job.streams, units, async (_, u) => ({ texts: [await decode(inputs[u]!)] }));
  };
}

async function directTarget(job: DirectJob, clips: Clip[]): Promise<{ run: (batch?: number, maxFrames?: number) => Promise<Measured>; close: () => Promise<void> }> {
  const loadMs: number[] = [];
  const engines: AsrEngine[] = [];
  for (let e = 0; e < job.engines; e++) {
    const t0 = performance.now();
    engines.push(await AsrEngine.start({ modelPath: job.dir, provider: 'cpu', precision: job.precision, threads: job.threads, ...job.engine }));
    loadMs.push(performance.now() - t0);
  }
  send({ type: 'ready', loadMs });
  const warmed = new Set<string>();
  const cost = (i: number): number => engines[0]!.frames(clips[i]!.samples.length);
  const run = async (batch = 1, maxFrames = Infinity): Promise<Measured> => {
    // batches of similar length: the pass sorted longest first, cut into groups of at most `batch` clips whose
    // padded size (size × the group's longest, in model frames) stays within `maxFrames`, as the worker's
    // micro-batcher cuts them; the engines take the next group as they free up
    const sorted = longestFirst(clips);
    const order = Array.from({ length: job.passes }, () => sorted).flat();
    const units: number[][] = [];
    for (const i of order) {
      const g = units.at(-1);
      if (g && g.length < batch && (g.length + 1) * cost(g[0]!) <= maxFrames) g.push(i);
      else units.push([i]);
    }
    if (!warmed.has(`${batch}/${maxFrames}`)) {
      await Promise.all(engines.map((e) => e.transcribe(units[0]!.map((i) => clips[i]!.samples.slice()))));
      warmed.add(`${batch}/${maxFrames}`);
    }
    const inputs = units.map((g) => g.map((i) => clips[i]!.samples.slice()));
    const t = { frontEndMs: 0, inferenceMs: 0, frames: 0, paddedFrames: 0 };
    const sizes: Record<string, number> = {};
    return pass(
      clips,
      engines.length,
      units,
      async (lane, u) => {
        const r = await engines[lane]!.transcribe(inputs[u]!);
        t.frontEndMs += r.timing.frontEndMs;
        t.inferenceMs += r.timing.inferenceMs;
        t.frames += r.timing.frames;
        t.paddedFrames += r.timing.paddedFrames;
        sizes[units[u]!.length] = (sizes[units[u]!.length] ?? 0) + 1;
        return { texts: r.transcripts.map((x) => x.text) };
      },
      () => ({ batch, ...(Number.isFinite(maxFrames) ? { maxFrames } : {}), ...t, batchSizes: sizes }),
    );
  };
  return { run, close: () => Promise.all(engines.map((e) => e.close())).then(() => undefined) };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '') as ChildJob;
  const clips = await passClips(job.quick, job.clips, job.maxClipSec);
  let close = async (): Promise<void> => {};
  let run: (batch?: number, maxFrames?: number) => Promise<Measured>;
  if (job.target === 'sherpa') run = await sherpaTarget(job, clips);
  else ({ run, close } = await directTarget(job, clips));
  let busy = Promise.resolve();
  process.on('message', (msg: ToChild) => {
    busy = busy.then(async () => {
      if (msg.cmd === 'exit') {
        await close();
        process.exit(0);
      }
      try {
        const r = await run(msg.batch, msg.maxFrames);
        send({ type: 'result', run: r, rssMiB: process.memoryUsage().rss / 2 ** 20 });
      } catch (err) {
        send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      }
    });
  });
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
