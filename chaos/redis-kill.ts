/**
 * Chaos: Redis goes away under load, twice — kill -9 (the supervisor
 * restarts it from its AOF) and, once it is back, a hung Redis (SIGSTOP for
 * `hangMs`, then SIGCONT: it accepts connections but answers nothing). While
 * uploads and status reads keep coming, every request must be answered —
 * 202 / 200, or 503 `service_unavailable` with Retry-After — never hang; no
 * acknowledged (202) job may be lost or complete twice; an upload refused
 * with 503 must leave no stored audio behind.
 */
import { join } from 'node:path';
import { Client, filesUnder } from '@voxfleet/testkit';
import { allOk, type Row, type Section } from './types.js';
import { distinctShortClips, finalViews, mapLimit, seconds, timed, uploadWithRetry, type Timed } from './load.js';
import { field, linesOf, poll, type StackHandle } from './stack.js';

export interface RedisKillOptions {
  /** uploads during the run */
  jobs: number;
  /** how long the hung phase lasts (ms) */
  hangMs?: number;
  variant?: number;
  log?: (msg: string) => void;
}

const storedAudio = async (varDir: string): Promise<number> => (await filesUnder(join(varDir, 'blobs'))).filter((f) => !f.endsWith('.tmp')).length;

interface Sample extends Timed {
  kind: 'upload' | 'status' | 'readyz';
  at: number;
}

export async function redisKill(stack: StackHandle, opts: RedisKillOptions): Promise<Section> {
  const log = opts.log ?? (() => {});
  const hangMs = opts.hangMs ?? 5000;
  const api = new Client(stack.url, stack.apiKeys[0]);
  const clips = await distinctShortClips(opts.jobs, opts.variant ?? 1);
  const blobsBefore = await storedAudio(stack.varDir);
  const mark = stack.output().length;
  const samples: Sample[] = [];
  const outages: { kind: string; from: number; to: number }[] = [];
  const acknowledged: string[] = [];
  let uploadsDone = false;
  let uploadsSent = false;
  /** the disruption starts once this share of the uploads is acknowledged, or when the uploads are over */
  const reached = (share: number) => (): boolean => uploadsSent || acknowledged.length >= opts.jobs * share;

  const record = (kind: Sample['kind'], at: number, t: Timed): Timed => {
    samples.push({ ...t, kind, at });
    return t;
  };
  // Status reads of acknowledged jobs and readiness probes, all through the run.
  const reader = (async () => {
    for (let i = 0; !uploadsDone && i < 20_000; i++) {
      const id = acknowledged[i % Math.max(1, acknowledged.length)];
      const at = Date.now();
      if (id) record('status', at, await timed(`${stack.url}/v1/jobs/${id}`, { headers: { authorization: `Bearer ${stack.apiKeys[0]}` } }));
      record('readyz', Date.now(), await timed(`${stack.url}/readyz`));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const ready = async (): Promise<boolean> => (await timed(`${stack.url}/readyz`)).status === 200;
  const chaos = (async () => {
    await poll(reached(0.25), 6000);
    const pid = await stack.pidOf('redis');
    let from = Date.now();
    process.kill(pid, 'SIGKILL');
    log(`killed redis (pid ${pid}) with SIGKILL`);
    await poll(async () => (await stack.pidOf('redis')) !== pid && (await ready()), 1200);
    outages.push({ kind: 'kill -9 + restart', from, to: Date.now() });
    await poll(reached(0.6), 6000);
    const pid2 = await stack.pidOf('redis');
    from = Date.now();
    process.kill(pid2, 'SIGSTOP');
    log(`stopped redis (pid ${pid2}) with SIGSTOP for ${seconds(hangMs)}`);
    await new Promise((r) => setTimeout(r, hangMs));
    process.kill(pid2, 'SIGCONT');
    await poll(ready, 600);
    outages.push({ kind: 'hung (SIGSTOP)', from, to: Date.now() });
  })();

  log(`submitting ${opts.jobs} uploads`);
  // A well-behaved client: a 503 (or 429) is retried after its Retry-After.
  const uploads = await mapLimit(clips, 4, async (c, i) => {
    const t = await uploadWithRetry(stack.url, stack.apiKeys[0], c, `redis-${i}.wav`, (a, at) => void record('upload', at, a));
    if (t.status === 202 || t.status === 200) acknowledged.push(String(t.body?.id));
    return t;
  });
  uploadsSent = true;
  await chaos;
  uploadsDone = true;
  await reader;
  log(`${acknowledged.length} acknowledged; waiting for them`);
  const views = await finalViews(api, acknowledged, 60);
  const lost = views.filter((v) => v.status !== 'completed');
  const out = stack.output().slice(mark);
  const completions = new Map<string, number>();
  for (const n of new Set([...out.matchAll(/^\[(worker(?:-\d+)?)\] /gm)].map((m) => m[1]!))) {
    for (const l of linesOf(out, n).filter((x) => x.includes('] task completed '))) {
      const id = field(l, 'taskId') ?? '';
      completions.set(id, (completions.get(id) ?? 0) + 1);
    }
  }
  const twice = [...completions.values()].filter((n) => n > 1).length;
  const blobsAfter = await storedAudio(stack.varDir);
  const refused = samples.filter((s) => s.kind === 'upload' && s.status === 503).length;
  const leaked = blobsAfter - blobsBefore - acknowledged.length;
  const retried = uploads.filter((u) => u.tries > 1).length;

  const during = (s: Sample): boolean => outages.some((o) => s.at >= o.from && s.at <= o.to);
  const inOutage = samples.filter(during);
  const unavailable = samples.filter((s) => s.status === 503);
  const noRetryAfter = unavailable.filter((s) => s.kind !== 'readyz' && !s.retryAfter).length;
  const unexpected = samples.filter((s) => ![200, 202, 503].includes(s.status));
  const longest = (kind?: Sample['kind']): number => Math.max(0, ...inOutage.filter((s) => !kind || s.kind === kind).map((s) => s.ms));
  const longestApi = Math.max(longest('upload'), longest('status'));

  const rows: Row[] = [
    ...outages.map((o): Row => ({ check: `outage: ${o.kind}`, value: seconds(o.to - o.from) })),
    { check: 'requests during the run (uploads / status reads / readyz)', value: `${samples.filter((s) => s.kind === 'upload').length} / ${samples.filter((s) => s.kind === 'status').length} / ${samples.filter((s) => s.kind === 'readyz').length}` },
    { check: 'uploads acknowledged (202), in the end', value: `${acknowledged.length} / ${opts.jobs}`, expect: `${opts.jobs} / ${opts.jobs}`, ok: acknowledged.length === opts.jobs },
    { check: 'upload answers 503 (each retried after Retry-After) / uploads that needed a retry', value: `${refused} / ${retried}` },
    { check: 'answers other than 200 / 202 / 503 (incl. errors, hangs cut at 60 s)', value: unexpected.length ? `${unexpected.length}: ${[...new Set(unexpected.map((u) => u.error ?? String(u.status)))].slice(0, 3).join(', ')}` : 0, expect: '0', ok: unexpected.length === 0 },
    { check: '503 answers without Retry-After (API)', value: noRetryAfter, expect: '0', ok: noRetryAfter === 0 },
    { check: 'longest API request during an outage', value: `${Math.round(longestApi)} ms`, expect: '< 2 500 ms', ok: longestApi < 2500 },
    { check: 'longest /readyz during an outage', value: `${Math.round(longest('readyz'))} ms`, expect: '< 1 000 ms', ok: longest('readyz') < 1000 },
    { check: 'acknowledged jobs lost (not completed)', value: lost.length, expect: '0', ok: lost.length === 0 },
    { check: 'tasks completed twice', value: twice, expect: '0', ok: twice === 0 },
    { check: 'stored audio left by refused uploads', value: leaked, expect: '0', ok: leaked === 0 },
  ];
  if (lost.length) rows.push({ check: 'first lost jobs', value: lost.slice(0, 3).map((v) => `${v.id} ${v.status} ${v.error?.code ?? ''}`).join('; ') });
  return { title: `Redis kill -9 and a hung Redis under load (${opts.jobs} uploads)`, rows, pass: allOk(rows) };
}
