/**
 * Archive ingest benchmark (`npm run bench:ingest [-- --entries 2000]`):
 * a real redis-server, the gateway as its own process, one worker
 * (VOXFLEET_THREADS=1), and a generated zip of short real-speech WAV clips
 * cut from the fixtures (every 10th entry repeats an earlier one).
 *
 * Measures: upload + validation (the POST), time until every entry is
 * enqueued, the gateway's peak RSS (VmHWM), p95 of `GET /v1/jobs/:id` while
 * it ingests, and end-to-end throughput with the one worker. Writes the
 * "Archive ingest" section of BENCHMARKS.md (other sections are kept).
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '@voxfleet/config';
import yazl from 'yazl';
import { baseEnv, fixtureSamples, freePort, spawnWorker, startRedis, stopProcess, wavBytes } from '@voxfleet/testkit';

const { values } = parseArgs({ options: { entries: { type: 'string', default: '2000' }, 'no-write': { type: 'boolean' } } });
const N = Number(values.entries);
const KEY = 'bench-key-0123456789abcdef';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/* eslint-disable @typescript-eslint/no-explicit-any -- API answers */
async function getJson(base: string, path: string): Promise<any> {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${KEY}` } });
  return res.json();
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

async function vmHwmMiB(pid: number): Promise<number> {
  const st = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(st)![1]) / 1024;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'voxfleet-bench-'));
  const varDir = join(work, 'var');
  const redis = await startRedis();
  const env = { ...baseEnv(redis.url, varDir), VOXFLEET_BATCH_MAX: '8', VOXFLEET_BATCH_WAIT_MS: '50' };
  let gateway: ReturnType<typeof spawn> | undefined;
  let worker: Awaited<ReturnType<typeof spawnWorker>> | undefined;
  try {
    // The archive: N clips of 0.8–1.6 s cut from two fixtures; every 10th repeats the one 5 before it.
    const sources = [await fixtureSamples('en-funasr-example.wav'), await fixtureSamples('en-librispeech-1995-1837-0001.wav')];
    const zipPath = join(work, 'bench.zip');
    const zip = new yazl.ZipFile();
    const written = pipeline(zip.outputStream, createWriteStream(zipPath));
    const clips: Uint8Array[] = [];
    let audioSec = 0;
    for (let i = 0; i < N; i++) {
      let clip: Uint8Array;
      if (i % 10 === 9) clip = clips[i - 5]!;
      else {
        const src = sources[i % 2]!;
        const len = Math.round((0.8 + (i % 9) * 0.1) * 16000);
        const at = (i * 997) % (src.length - len);
        clip = wavBytes(src.subarray(at, at + len));
      }
      clips.push(clip);
      audioSec += (clip.byteLength - 44) / 32000;
      zip.addBuffer(Buffer.from(clip), `calls/${String(Math.floor(i / 100)).padStart(2, '0')}/call-${String(i).padStart(5, '0')}.wav`, { compress: false });
    }
    zip.end();
    await written;
    clips.length = 0;
    const zipBytes = (await stat(zipPath)).size;
    console.log(`archive: ${N} entries, ${(zipBytes / 1024 / 1024).toFixed(1)} MiB, ${audioSec.toFixed(0)} s of audio`);

    worker = await spawnWorker('bench-w1', env);
    const port = await freePort();
    gateway = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'apps/gateway/src/main.ts')], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env, VOXFLEET_PORT: String(port), VOXFLEET_API_KEYS: KEY, VOXFLEET_CLEANUP_INTERVAL_SEC: '0', VOXFLEET_MAX_UPLOAD_BYTES: String(512 * 1024 * 1024) },
      stdio: ['ignore', process.env.BENCH_GATEWAY_LOG ? 'inherit' : 'ignore', 'inherit'],
    });
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 400; i++) {
      if (await fetch(`${base}/healthz`).then((r) => r.ok, () => false)) break;
      await sleep(50);
    }
    const rssIdle = await vmHwmMiB(gateway.pid!);

    // A job to poll while the archive ingests.
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(await readFile(join(REPO_ROOT, 'fixtures/audio/en-funasr-example.wav')))]), 'probe.wav');
    const probeJob = (await (await fetch(`${base}/v1/jobs`, { method: 'POST', body: form, headers: { authorization: `Bearer ${KEY}` } })).json()) as any;
    await getJson(base, `/v1/jobs/${probeJob.id}?wait=60`);

    const t0 = performance.now();
    const res = await fetch(`${base}/v1/batches?filename=bench.zip`, {
      method: 'POST',
      body: Readable.toWeb(createReadStream(zipPath)) as ReadableStream,
      duplex: 'half',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/zip' },
    } as RequestInit);
    const created = (await res.json()) as any;
    const tPost = performance.now() - t0;
    if (res.status !== 202) throw new Error(`POST /v1/batches: ${res.status} ${JSON.stringify(created)}`);

    // While it ingests: GET /v1/jobs/:id back to back, and the batch every 100 ms.
    const latencies: number[] = [];
    let ingesting = true;
    const poller = (async () => {
      while (ingesting) {
        const s = performance.now();
        await getJson(base, `/v1/jobs/${probeJob.id}`);
        latencies.push(performance.now() - s);
      }
    })();
    let b = created;
    while (b.status === 'ingesting') {
      await sleep(100);
      b = await getJson(base, `/v1/batches/${created.id}`);
    }
    const tEnqueued = performance.now() - t0;
    ingesting = false;
    await poller;
    const rssIngest = await vmHwmMiB(gateway.pid!);
    while (!['completed', 'cancelled', 'failed'].includes(b.status)) {
      await sleep(500);
      b = await getJson(base, `/v1/batches/${created.id}`);
    }
    const tDone = performance.now() - t0;
    const rssPeak = await vmHwmMiB(gateway.pid!);
    const audio = b.counts.completed + b.counts.cached;
    const r = {
      entries: N,
      archiveMiB: zipBytes / 1024 / 1024,
      audioSec,
      postMs: tPost,
      enqueuedMs: tEnqueued,
      doneSec: tDone / 1000,
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      samples: latencies.length,
      rssIdle,
      rssIngest,
      rssPeak,
      counts: b.counts,
      dedup: b.deduplicated,
      filesPerSec: audio / (tDone / 1000),
      audioPerSec: b.audio.doneSec / (tDone / 1000),
    };
    console.log(JSON.stringify(r, null, 2));
    if (b.status !== 'completed') throw new Error(`batch ended ${b.status}`);
    if (!values['no-write']) await writeSection(r);
  } finally {
    if (gateway) await stopProcess(gateway, 'SIGTERM');
    await worker?.stop();
    await redis.stop();
    await rm(work, { recursive: true, force: true });
  }
}

async function writeSection(r: Record<string, any>): Promise<void> {
  const file = join(REPO_ROOT, 'BENCHMARKS.md');
  const cpu = cpus();
  const load = loadavg()[0]!.toFixed(1);
  const section = `## Archive ingest

\`npm run bench:ingest\` (apps/gateway/bench/ingest.ts) — ${new Date().toISOString().slice(0, 10)}, ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, Node ${process.version}.
Real redis-server, the gateway as its own process, **one** worker (\`VOXFLEET_THREADS=1\`, CPU, fp32, max batch 8).
Archive: zip (stored) of ${r.entries} WAV clips of 0.8–1.6 s cut from the fixtures, every 10th a repeat of an earlier one
(${r.archiveMiB.toFixed(1)} MiB, ${r.audioSec.toFixed(0)} s of audio). 1-minute load average ${load} on ${cpu.length} cores at the end of the run (other work on the machine, e.g. model training, competes for the CPU: the numbers are pessimistic).

| measure | value |
| --- | --- |
| upload + validation pass (\`POST /v1/batches\` → 202) | ${(r.postMs / 1000).toFixed(2)} s |
| until all ${r.entries} entries are enqueued (from the start of the POST) | ${(r.enqueuedMs / 1000).toFixed(2)} s |
| \`GET /v1/jobs/:id\` during ingest, p50 / p95 (${r.samples} requests back to back) | ${r.p50.toFixed(1)} ms / ${r.p95.toFixed(1)} ms |
| gateway peak RSS: idle / after ingest / end | ${r.rssIdle.toFixed(0)} / ${r.rssIngest.toFixed(0)} / ${r.rssPeak.toFixed(0)} MiB |
| end to end, upload → batch completed | ${r.doneSec.toFixed(1)} s |
| throughput with 1 worker | ${r.filesPerSec.toFixed(1)} files/s, ${r.audioPerSec.toFixed(1)} s of audio per second |
| outcome | ${r.counts.completed} completed (${r.dedup} of them shared a duplicate's transcription), ${r.counts.cached} cached, ${r.counts.failed} failed |
`;
  const text0 = await readFile(file, 'utf8').catch(() => '# Benchmarks\n');
  let text = text0;
  const re = /^## Archive ingest\n[\s\S]*?(?=^## |(?![\s\S]))/m;
  text = re.test(text) ? text.replace(re, `${section}\n`) : `${text.trimEnd()}\n\n${section}`;
  await writeFile(file, `${text.trimEnd()}\n`);
  console.log(`wrote the "Archive ingest" section of ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
