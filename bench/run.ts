/**
 * npm run bench [-- --quick] [-- --long] [-- --workers N]
 *
 * Starts the real stack (its own redis-server on a free port, N worker
 * processes, the gateway process), drives it with a closed-loop load
 * generator at concurrency 1, 4, 8 and 16 over the fixture clips and longer
 * concatenations, and in the same run measures three references on the same
 * requests: the naive service (model loaded per request, batch 1), the
 * synchronous service (one process, model preloaded, no queue) and direct
 * in-process batched inference (no HTTP, no queue). Results: BENCHMARKS.md
 * (section "Throughput (npm run bench)") and bench/results/*.json.
 * `--quick`: few requests per level (under 2 minutes), JSON only — it does not
 * replace the full run's figures in BENCHMARKS.md.
 * `--long`: the 2-hour recording instead (see long.ts; with `--quick`, 30 minutes).
 * `--model <dir>` (or `--model full-sense-voice`): VoxFleet against sherpa-onnx on that model instead (see model.ts).
 */
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AsrEngine, asrConfigFromEnv } from '@voxfleet/asr';
import { decodeBuffer } from '@voxfleet/audio';
import { REPO_ROOT } from '@voxfleet/config';
import { batchingSubmit, transcribeLong } from '@voxfleet/segmenter';
import { FleetStats } from '@voxfleet/queue';
import type { Redis } from 'ioredis';
import { freePort, stopProcess } from '@voxfleet/testkit';
import {
  closedLoop,
  loadClips,
  machine,
  makeRequests,
  mixRequests,
  pcts,
  sampleRss,
  sendFleet,
  spawnTs,
  startStack,
  type LoadResult,
  type Req,
  type Sample,
} from './lib.js';
import { runLong } from './long.js';
import { f0, f1, f2, updateBenchmarks, writeJson } from './report.js';


interface LevelReport {
  concurrency: number;
  requests: number;
  failed: number;
  wallSec: number;
  audioSec: number;
  reqPerSec: number;
  rtfx: number;
  e2eMs: ReturnType<typeof pcts>;
  queueMs?: ReturnType<typeof pcts>;
  decodeMs?: ReturnType<typeof pcts>;
  batchWaitMs?: ReturnType<typeof pcts>;
  inferenceMs?: ReturnType<typeof pcts>;
  /** e2e − (queue + worker): upload, gateway, result notification */
  otherMs?: ReturnType<typeof pcts>;
  batchSizes?: Record<string, number>;
  paddingFraction?: number;
  rssMiB?: { mean: number; peak: number };
  errors?: string[];
}

function summarize(r: LoadResult, extra: Partial<LevelReport> = {}): LevelReport {
  const ok = r.samples.filter((s) => s.ok);
  // the split is over clips that went through the batcher whole (one piece); long files overlap decode and inference
  const single = ok.filter((s) => (s.batchSizes?.length ?? 0) === 1);
  const num = (k: keyof Sample): number[] => single.map((s) => s[k]).filter((x): x is number => typeof x === 'number');
  const hasSplit = ok.some((s) => typeof s.workerMs === 'number');
  return {
    concurrency: r.concurrency,
    requests: r.samples.length,
    failed: r.samples.length - ok.length,
    wallSec: r.wallSec,
    audioSec: r.audioSec,
    reqPerSec: ok.length / r.wallSec,
    rtfx: r.audioSec / r.wallSec,
    e2eMs: pcts(ok.map((s) => s.e2eMs)),
    ...(hasSplit
      ? {
          queueMs: pcts(num('queueMs')),
          decodeMs: pcts(num('decodeMs')),
          batchWaitMs: pcts(num('batchWaitMs')),
          inferenceMs: pcts(num('inferenceMs')),
          otherMs: pcts(single.map((s) => s.e2eMs - (s.queueMs ?? 0) - (s.workerMs ?? 0))),
        }
      : {}),
    ...(r.samples.some((s) => !s.ok) ? { errors: [...new Set(r.samples.filter((s) => !s.ok).map((s) => s.error ?? '?'))].slice(0, 5) } : {}),
    ...extra,
  };
}

async function fleetStats(redis: Redis): Promise<{ sizes: Record<string, number>; frames: number; padded: number }> {
  const s = await new FleetStats(redis, 'voxfleet').read();
  return { sizes: Object.fromEntries(Object.entries(s.batchSizes).map(([k, v]) => [k, v])), frames: s.batchFrames, padded: s.batchPaddedFrames };
}

function diffSizes(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) if (v - (a[k] ?? 0) > 0) out[k] = v - (a[k] ?? 0);
  return Object.fromEntries(Object.entries(out).sort((x, y) => Number(x[0]) - Number(y[0])));
}

/** a reference service (bench/sync-server.ts) as its own process */
async function startRefServer(naive: boolean) {
  const port = await freePort();
  const s = await spawnTs(join(REPO_ROOT, 'bench/sync-server.ts'), naive ? ['--naive'] : [], { PORT: String(port), ...(process.env.VOXFLEET_MODEL ? { VOXFLEET_MODEL: process.env.VOXFLEET_MODEL } : {}) }, /listening/);
  const send = async (r: Req): Promise<Omit<Sample, 'clipSec' | 'name' | 'e2eMs'>> => {
    const res = await fetch(`http://127.0.0.1:${port}/transcribe`, { method: 'POST', body: r.bytes, headers: { 'content-type': 'application/octet-stream' } });
    const body = (await res.json()) as { decodeMs?: number; inferenceMs?: number; error?: string };
    if (res.status !== 200) return { ok: false, error: body.error ?? String(res.status) };
    return { ok: true, decodeMs: body.decodeMs, inferenceMs: body.inferenceMs };
  };
  return { proc: s.proc, readyMs: s.readyMs, send, stop: () => stopProcess(s.proc, 'SIGTERM') };
}

/**
 * Direct in-process batched inference, the ceiling: `engines` engines (as many
 * as fleet workers, same threads) in this process, the requests' audio
 * decoded beforehand (not timed), sorted by length, 8 requests at a time per
 * engine through the one long-audio path (transcribeLong: over 30 s cut at
 * pauses) with their pieces batched into engine calls — no HTTP, no queue, no
 * decode on the clock.
 */
async function direct(reqs: Req[], engines: AsrEngine[], batch = 8): Promise<{ result: LoadResult; inferSec: number }> {
  const decoded = await Promise.all(reqs.map(async (r) => ({ r, audio: await decodeBuffer(r.bytes) })));
  decoded.sort((a, b) => a.audio.length - b.audio.length);
  const groups: (typeof decoded)[] = [];
  for (let i = 0; i < decoded.length; i += batch) groups.push(decoded.slice(i, i + batch));
  let next = 0;
  let inferMs = 0;
  const samples: Sample[] = [];
  const t0 = performance.now();
  await Promise.all(
    engines.map(async (engine) => {
      const submit = batchingSubmit(engine, { maxBatch: 64, onBatch: (r) => (inferMs += r.timing.inferenceMs + r.timing.frontEndMs) });
      for (let i = next++; i < groups.length; i = next++) {
        const g = groups[i]!;
        const s = performance.now();
        // already-decoded audio: cut in process; the group's pieces share engine calls
        await Promise.all(g.map((d) => transcribeLong([d.audio], submit)));
        const e = performance.now() - s;
        for (const d of g) samples.push({ clipSec: d.r.clip.sec, name: d.r.clip.name, e2eMs: e, ok: true });
      }
    }),
  );
  const wallSec = (performance.now() - t0) / 1000;
  return { result: { concurrency: batch, wallSec, audioSec: reqs.reduce((a, r) => a + r.clip.sec, 0), samples }, inferSec: inferMs / 1000 };
}

/**
 * The same ceiling with the decode on the clock: requests sorted by their
 * (known) length, 8 at a time per engine, decoded (ffmpeg) and cut on the
 * segmenter thread; the next group starts decoding as soon as this one's
 * files are decoded, while its pieces infer.
 */
async function directWithDecode(reqs: Req[], engines: AsrEngine[], batch = 8): Promise<LoadResult> {
  const sorted = [...reqs].sort((a, b) => a.clip.sec - b.clip.sec);
  const groups: Req[][] = [];
  for (let i = 0; i < sorted.length; i += batch) groups.push(sorted.slice(i, i + batch));
  let next = 0;
  const samples: Sample[] = [];
  const t0 = performance.now();
  await Promise.all(
    engines.map(async (engine) => {
      const submit = batchingSubmit(engine, { maxBatch: 64 });
      let previous: Promise<void> = Promise.resolve();
      for (let i = next++; i < groups.length; i = next++) {
        const g = groups[i]!;
        const s = performance.now();
        const decoded: Promise<void>[] = [];
        const done = Promise.all(
          g.map((q) => {
            let ended!: () => void;
            decoded.push(new Promise<void>((r) => (ended = r)));
            return transcribeLong(q.bytes, submit, { onSourceEnd: ended });
          }),
        ).then(() => {
          const e = performance.now() - s;
          for (const q of g) samples.push({ clipSec: q.clip.sec, name: q.clip.name, e2eMs: e, ok: true });
        });
        await Promise.race([Promise.all(decoded), done]);
        await previous;
        previous = done;
      }
      await previous;
    }),
  );
  return { concurrency: batch, wallSec: (performance.now() - t0) / 1000, audioSec: reqs.reduce((a, r) => a + r.clip.sec, 0), samples };
}

function fmtPcts(p: ReturnType<typeof pcts> | undefined): string {
  return p ? `${f0(p.p50)} / ${f0(p.p95)} / ${f0(p.p99)}` : '–';
}

async function main(): Promise<void> {
  if (process.argv.includes('--model')) {
    const { runModel } = await import('./model.js'); // its own options
    await runModel(process.argv.slice(2));
    return;
  }
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      long: { type: 'boolean', default: false },
      workers: { type: 'string' },
      levels: { type: 'string' },
    },
  });
  const quick = values.quick!;
  if (values.long) {
    await runLong({ quick });
    return;
  }
  const nWorkers = Number(values.workers ?? Math.max(1, Math.min(4, cpus().length)));
  const levels = (values.levels ?? '1,4,8,16').split(',').map(Number);
  const perLevel = (c: number): number => (quick ? Math.max(8, 2 * c) : Math.max(40, 8 * c));
  const started = new Date();
  const load0 = loadavg();
  const log = (msg: string): void => console.error(`[bench ${((performance.now() - t00) / 1000).toFixed(0)}s] ${msg}`);
  const t00 = performance.now();

  log(`loading clips (${quick ? 'quick' : 'full'} run, ${nWorkers} workers)`);
  const set = await loadClips();
  const levelReqs = new Map(levels.map((c, i) => [c, mixRequests(set, perLevel(c), 10 + i)]));
  const barLevel = levels.includes(8) ? 8 : levels.at(-1)!;
  const tenN = quick ? 6 : 12;
  const tenFleet = makeRequests(set.ten, tenN, 77);
  const tenSync = makeRequests(set.ten, tenN, 77);
  const warm = makeRequests(set.real, 8, 5);

  // ------------------------------------------------------------ the fleet
  log('starting redis, workers, gateway');
  const tStack = performance.now();
  const stack = await startStack({ workers: nWorkers });
  const stackStartMs = performance.now() - tStack;
  const pids = stack.workers.map((w) => w.proc.pid!);
  const fleet: Record<string, unknown> = {};
  const levelReports: LevelReport[] = [];
  let tenReport: LevelReport;
  let firstResultMs: number;
  try {
    const firstReq = makeRequests(set.real.filter((c) => c.name.startsWith('en-')), 1, 3)[0]!;
    const tf = performance.now();
    const first = await sendFleet(stack.api, firstReq);
    firstResultMs = performance.now() - tf;
    if (!first.ok) throw new Error(`first request failed: ${first.error}`);
    log(`workers ready in ${stack.workerColdStartMs.map(f0).join(', ')} ms; first result ${f0(firstResultMs)} ms`);
    await closedLoop(warm, 4, (r) => sendFleet(stack.api, r)); // warm-up, not counted

    for (const c of levels) {
      const reqs = levelReqs.get(c)!;
      const before = await fleetStats(stack.redis.client);
      const rss = sampleRss(pids);
      const r = await closedLoop(reqs, c, (q) => sendFleet(stack.api, q));
      const mem = rss.stop();
      const after = await fleetStats(stack.redis.client);
      const frames = after.frames - before.frames;
      const padded = after.padded - before.padded;
      const rep = summarize(r, {
        batchSizes: diffSizes(before.sizes, after.sizes),
        paddingFraction: padded > 0 ? 1 - frames / padded : NaN,
        rssMiB: { mean: mem.meanMiB, peak: mem.peakMiB },
      });
      levelReports.push(rep);
      log(`fleet c=${c}: ${f2(rep.reqPerSec)} req/s, RTFx ${f1(rep.rtfx)}, p95 ${f0(rep.e2eMs.p95)} ms, padding ${f2(rep.paddingFraction ?? NaN)}${rep.failed ? `, ${rep.failed} failed: ${rep.errors?.join('; ')}` : ''}`);
    }
    const before = await fleetStats(stack.redis.client);
    const rss = sampleRss(pids);
    const tr = await closedLoop(tenFleet, 1, (q) => sendFleet(stack.api, q));
    const mem = rss.stop();
    const after = await fleetStats(stack.redis.client);
    tenReport = summarize(tr, {
      batchSizes: diffSizes(before.sizes, after.sizes),
      paddingFraction: after.padded > before.padded ? 1 - (after.frames - before.frames) / (after.padded - before.padded) : NaN,
      rssMiB: { mean: mem.meanMiB, peak: mem.peakMiB },
    });
    log(`fleet 10 s clips c=1: p95 ${f0(tenReport.e2eMs.p95)} ms`);
  } finally {
    await stack.stop();
  }
  Object.assign(fleet, { workers: nWorkers, stackStartMs, workerColdStartMs: stack.workerColdStartMs, gatewayColdStartMs: stack.gatewayColdStartMs, firstResultMs });

  // ------------------------------------------------------------ references
  const bar = levelReqs.get(barLevel)!;
  log('synchronous service');
  const sync = await startRefServer(false);
  let syncFirstMs: number;
  let syncTen: LevelReport;
  let syncBar: LevelReport;
  let syncOne: LevelReport;
  try {
    const tf = performance.now();
    await sync.send(warm[0]!);
    syncFirstMs = performance.now() - tf;
    await closedLoop(warm, 4, sync.send);
    const rss = sampleRss([sync.proc.pid!]);
    syncTen = summarize(await closedLoop(tenSync, 1, sync.send));
    syncOne = summarize(await closedLoop(levelReqs.get(levels[0]!)!, 1, sync.send));
    syncBar = summarize(await closedLoop(bar, barLevel, sync.send));
    const m = rss.stop();
    syncBar.rssMiB = { mean: m.meanMiB, peak: m.peakMiB };
    log(`sync: 10 s p95 ${f0(syncTen.e2eMs.p95)} ms; c=${barLevel} ${f2(syncBar.reqPerSec)} req/s`);
  } finally {
    await sync.stop();
  }

  log('naive service (model loaded per request)');
  const naive = await startRefServer(true);
  let naiveBar: LevelReport;
  try {
    const rss = sampleRss([naive.proc.pid!]);
    naiveBar = summarize(await closedLoop(bar, barLevel, naive.send));
    const m = rss.stop();
    naiveBar.rssMiB = { mean: m.meanMiB, peak: m.peakMiB };
    log(`naive: c=${barLevel} ${f2(naiveBar.reqPerSec)} req/s`);
  } finally {
    await naive.stop();
  }

  log('direct in-process batched inference');
  const base = asrConfigFromEnv(process.env, { provider: 'cpu', precision: 'fp32', threads: 1 });
  const engines = await Promise.all(Array.from({ length: nWorkers }, () => AsrEngine.start(base)));
  let directRep: LevelReport;
  let directDecRep: LevelReport;
  let directInferSec: number;
  try {
    await direct(warm, engines);
    const d = await direct(bar, engines);
    directRep = summarize(d.result);
    directInferSec = d.inferSec;
    log(`direct: ${f2(directRep.reqPerSec)} req/s, RTFx ${f1(directRep.rtfx)}`);
    directDecRep = summarize(await directWithDecode(bar, engines));
    log(`direct with decode: ${f2(directDecRep.reqPerSec)} req/s, RTFx ${f1(directDecRep.rtfx)}`);
  } finally {
    await Promise.all(engines.map((e) => e.close()));
  }

  // ------------------------------------------------------------ report
  const fleetBar = levelReports.find((l) => l.concurrency === barLevel)!;
  const ratios = {
    naive: fleetBar.reqPerSec / naiveBar.reqPerSec,
    synchronous: fleetBar.reqPerSec / syncBar.reqPerSec,
    direct: fleetBar.reqPerSec / directRep.reqPerSec,
    directWithDecode: fleetBar.reqPerSec / directDecRep.reqPerSec,
    p95TenVsSync: tenReport.e2eMs.p95 / syncTen.e2eMs.p95,
  };
  const load1 = loadavg();
  const m = machine();
  const meta = {
    date: started.toISOString(),
    mode: quick ? 'quick' : 'full',
    machine: { ...m, ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, freeGiBAtStart: Math.round((freemem() / 2 ** 30) * 10) / 10 },
    loadavg: { start: load0, end: load1 },
    node: process.version,
    durationSec: (performance.now() - t00) / 1000,
  };
  const lines: string[] = [];
  lines.push(`VoxFleet ÷ naive (model loaded per request, batch 1, no queue), c=${barLevel}: ${f2(ratios.naive)}×`);
  lines.push(`VoxFleet ÷ synchronous (one process, model preloaded, no queue), c=${barLevel}: ${f2(ratios.synchronous)}×`);
  lines.push(`VoxFleet ÷ direct (in-process batched inference on pre-decoded audio, no HTTP, no queue), c=${barLevel} requests: ${f2(ratios.direct)}×`);
  lines.push(`VoxFleet ÷ direct with decode (the same, ffmpeg decode on the clock, overlapped with inference), c=${barLevel} requests: ${f2(ratios.directWithDecode)}×`);
  lines.push(`p95 of a 10 s clip at c=1, VoxFleet ÷ synchronous: ${f2(ratios.p95TenVsSync)}× (${f0(tenReport.e2eMs.p95)} ms vs ${f0(syncTen.e2eMs.p95)} ms)`);
  console.log('\n' + lines.join('\n'));

  const json = {
    ...meta,
    config: { workers: nWorkers, workerThreads: 1, precision: 'fp32', batchMax: 8, batchWaitMs: 100, maxFrames: 4000, requestsPerLevel: Object.fromEntries(levels.map((c) => [c, perLevel(c)])) },
    fleet: { ...fleet, levels: levelReports, tenSecondClipC1: tenReport },
    references: { synchronous: { readyMs: sync.readyMs, firstResultMs: syncFirstMs, tenSecondClipC1: syncTen, c1: syncOne, bar: syncBar }, naive: { readyMs: naive.readyMs, bar: naiveBar }, direct: { ...directRep, inferenceOnlyRtfx: directRep.audioSec / directInferSec }, directWithDecode: directDecRep },
    ratios,
  };
  const file = await writeJson(quick ? 'bench-quick' : 'bench', json);

  const md: string[] = [];
  md.push(
    `Run ${meta.date.slice(0, 16).replace('T', ' ')} UTC (${meta.mode}${quick ? ' — few requests per level, indicative only' : ''}), ${m.cpu} × ${m.cores} cores, ${meta.machine.ramGiB} GiB RAM, Node ${meta.node}; ` +
      `load average ${load0.map((x) => x.toFixed(1)).join(' / ')} at start and ${load1.map((x) => x.toFixed(1)).join(' / ')} at the end. ` +
      `Raw data: \`${file.slice(REPO_ROOT.length + 1)}\`. ` +
      `Other work shared the CPU (on the dev box: a model-training job using about 1.2 of the 2 cores for the whole run), so absolute figures are depressed; the fleet and the references ran one after another under the same background load, so the ratios are the meaningful part.`,
  );
  md.push('');
  md.push(
    `Setup: ${nWorkers} worker processes (CPU, fp32, 1 ONNX thread each, batch ≤ 8, wait ≤ 100 ms adaptive, frame budget 4000, concurrency 16), gateway and redis-server on the same machine; ` +
      `requests are 16-bit WAV at 22.05 kHz (so every decode runs ffmpeg and resamples) with unique bytes (no cache hits), sent as multipart uploads and answered by long-poll (\`?wait=\`). ` +
      `Mix per level: the ${set.real.length} fixture clips (fixtures/heldout + fixtures/audio, ${f1(Math.min(...set.real.map((c) => c.sec)))}–${f1(Math.max(...set.real.map((c) => c.sec)))} s) with every fifth request a concatenation of held-out clips (${set.long.map((c) => f0(c.sec)).join(', ')} s; over 30 s they are segmented at pauses). ` +
      `References on the same requests: **synchronous** — bench/sync-server.ts, one Express process, model preloaded, ONNX threads = ${cpus().length} cores, decode → infer → respond; **naive** — the same server loading the model per request, batch 1; **direct** — ${nWorkers} engines in the bench process (1 thread each, like the workers), the same requests decoded beforehand (not timed), sorted by length, 8 at a time through transcribeLong with their pieces batched: the ceiling.`,
  );
  md.push('');
  md.push('| target | concurrency | requests | req/s | RTFx | e2e p50 / p95 / p99 ms | queue wait p50/p95/p99 ¹ | decode ¹ | batch wait ¹ | inference ¹ | upload+gateway ¹ | batch sizes (count) | padding | worker RSS mean / peak MiB |');
  md.push('| --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- | --- | --- | --- | ---: | --- |');
  const row = (name: string, r: LevelReport): string =>
    `| ${name} | ${r.concurrency} | ${r.requests}${r.failed ? ` (${r.failed} failed)` : ''} | ${f2(r.reqPerSec)} | ${f1(r.rtfx)} | ${fmtPcts(r.e2eMs)} | ${fmtPcts(r.queueMs)} | ${fmtPcts(r.decodeMs)} | ${fmtPcts(r.batchWaitMs)} | ${fmtPcts(r.inferenceMs)} | ${fmtPcts(r.otherMs)} | ${r.batchSizes ? Object.entries(r.batchSizes).map(([k, v]) => `${k}:${v}`).join(' ') : '–'} | ${r.paddingFraction !== undefined ? f2(r.paddingFraction) : '–'} | ${r.rssMiB ? `${f0(r.rssMiB.mean)} / ${f0(r.rssMiB.peak)}` : '–'} |`;
  for (const l of levelReports) md.push(row('VoxFleet', l));
  md.push(row('VoxFleet, 10 s clips', tenReport));
  md.push(row('synchronous, 10 s clips', syncTen));
  md.push(row('synchronous', syncOne));
  md.push(row('synchronous', syncBar));
  md.push(row('naive', naiveBar));
  md.push(row('direct (batches of 8, pre-decoded)', directRep));
  md.push(row('direct + ffmpeg decode', directDecRep));
  md.push('');
  md.push(
    `¹ Recorded by the worker per job, over the jobs of ≤ 30 s (one piece; long files overlap decoding with inference, so their parts do not add up): queue wait = enqueued → picked up; decode = waiting for ffmpeg's samples; batch wait = in the batcher until its batch started; inference = wall time of its batch (front-end + ONNX, shared with its batch-mates); upload+gateway = the rest of the end-to-end time (multipart upload, blob write, probe, enqueue, result notification). Batch sizes and padding (1 − real ÷ padded frames) over every batch of the level. Direct: the latency column is the wall time of its group of 8 requests through transcribeLong (pre-decoded: cutting + inference; with decode: decode + cutting + inference); summed engine time gives an inference-only RTFx of ${f1(json.references.direct.inferenceOnlyRtfx)}.`,
  );
  md.push('');
  md.push(
    `Cold start: worker process start → ready (model loaded, consuming) ${stack.workerColdStartMs.map(f0).join(' / ')} ms (started one after another); gateway process → listening ${f0(stack.gatewayColdStartMs)} ms; ` +
      `first result after the fleet was ready ${f0(firstResultMs)} ms (a ${f1(set.real.find((c) => c.name.startsWith('en-'))?.sec ?? NaN)} s clip). Synchronous service: process start → listening ${f0(sync.readyMs)} ms, first result ${f0(syncFirstMs)} ms. Naive: process start → listening ${f0(naive.readyMs)} ms (no model yet; every request loads it).`,
  );
  md.push('');
  md.push('```');
  md.push(...lines);
  md.push('```');
  md.push('');
  const barOk = (ok: boolean): string => (ok ? '**met**' : '**not met**');
  md.push('Bars (benchmark figures, not test assertions):');
  md.push(`- throughput at c=${barLevel} ≥ 4× naive: ${f2(ratios.naive)}× — ${barOk(ratios.naive >= 4)}`);
  md.push(`- throughput at c=${barLevel} ≥ 0.6× direct: ${f2(ratios.direct)}× — ${barOk(ratios.direct >= 0.6)} (against direct with the same ffmpeg decode: ${f2(ratios.directWithDecode)}×)`);
  md.push(`- p95 of a 10 s clip at c=1 ≤ 1.5× synchronous: ${f2(ratios.p95TenVsSync)}× — ${barOk(ratios.p95TenVsSync <= 1.5)}`);
  // a --quick run is indicative only: it does not replace the full run's figures in BENCHMARKS.md
  if (!quick) await updateBenchmarks('main', md.join('\n'));
  log(`wrote ${file}${quick ? '' : ' and BENCHMARKS.md'} in ${f0(meta.durationSec)} s`);
}

// children (workers, gateway, servers) are stopped in finally blocks; make sure a crash does not leave them running
process.on('unhandledRejection', (err) => {
  console.error(err);
  process.exitCode = 1;
});

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.stack ?? err.message : err);
    process.exit(1);
  },
);
