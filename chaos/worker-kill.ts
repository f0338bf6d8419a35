/**
 * Chaos: kill -9 of a worker while a fleet of workers runs `jobs` distinct
 * jobs. Nothing accepted may be lost and no task may complete twice (two
 * outcomes / two cache writes); a task the dead worker held is re-run
 * elsewhere once its BullMQ lock expires and the stalled check moves it back
 * (that run counts 2 in processing.attempts, which is allowed). Measured:
 * time from the kill until every task it held has completed (recovery), the
 * restart of the killed worker, the longest inference batch.
 */
import { workerConfigFromEnv } from '@voxfleet/config';
import { Client } from '@voxfleet/testkit';
import { allOk, type Row, type Section } from './types.js';
import { completedTasksMetric, distinctShortClips, finalViews, mapLimit, seconds, uploadWithRetry } from './load.js';
import { field, lineTime, linesOf, poll, type StackHandle } from './stack.js';

export interface WorkerKillOptions {
  jobs: number;
  /** kill once this share of the jobs has completed (and the victim holds some) */
  killAt?: number;
  /** clip variant (see distinctShortClips) */
  variant?: number;
  title?: string;
  log?: (msg: string) => void;
}

/** Prefixes the supervisor gives worker output: worker, worker-2, … */
const workerNames = (out: string): string[] => [...new Set([...out.matchAll(/^\[(worker(?:-\d+)?)\] /gm)].map((m) => m[1]!))];

interface TaskLine {
  taskId: string;
  at: number;
  run: number;
}

function taskLines(out: string, child: string, what: 'task started' | 'task completed'): TaskLine[] {
  return linesOf(out, child)
    .filter((l) => l.includes(`] ${what} `))
    .map((l) => ({ taskId: field(l, 'taskId') ?? '', at: lineTime(l), run: Number(field(l, 'run') ?? 1) }));
}

export async function workerKill(stack: StackHandle, opts: WorkerKillOptions): Promise<Section> {
  const log = opts.log ?? (() => {});
  const api = new Client(stack.url, stack.apiKeys[0]);
  const clips = await distinctShortClips(opts.jobs, opts.variant ?? 0);
  const completedBefore = await completedTasksMetric(api);
  const mark = stack.output().length;
  const since = (): string => stack.output().slice(mark);
  const victim = 'worker';
  const victimPid = await stack.pidOf(victim);
  const killAt = Math.ceil(opts.jobs * (opts.killAt ?? 0.2));

  const inFlight = (out: string, child: string): Set<string> => {
    const started = new Set(taskLines(out, child, 'task started').map((t) => t.taskId));
    for (const t of taskLines(out, child, 'task completed')) started.delete(t.taskId);
    return started;
  };
  let killedAt = 0;
  const killer = (async () => {
    const ready = await poll(() => {
      const out = since();
      return (out.match(/\] task completed /g) ?? []).length >= killAt && inFlight(out, victim).size > 0;
    }, 12_000);
    if (!ready) return;
    process.kill(victimPid, 'SIGKILL');
    killedAt = Date.now();
    log(`killed ${victim} (pid ${victimPid}) with SIGKILL`);
  })();

  const t0 = Date.now();
  log(`submitting ${opts.jobs} jobs`);
  let pushedBack = 0; // 429 (the upload rate limit) or 503, retried after Retry-After
  const uploads = await mapLimit(clips, 8, (c, i) => uploadWithRetry(stack.url, stack.apiKeys[0], c, `kill-${i}.wav`, (t) => (pushedBack += t.status === 429 || t.status === 503 ? 1 : 0)));
  await killer;
  const accepted = uploads.filter((u) => u.status === 202 || u.status === 200).map((u) => String(u.body?.id));
  // Only what the dead worker printed before the supervisor saw it die is its own (its restart prints under the same name).
  await poll(() => since().includes(`[stack] ${victim} was killed`), 600);
  const cut = since().indexOf(`[stack] ${victim} was killed`);
  const beforeDeath = cut >= 0 ? since().slice(0, cut) : since();
  const held = inFlight(beforeDeath, victim);
  log(`${victim} held ${held.size} tasks when it died; waiting for all ${accepted.length} jobs`);

  const views = await finalViews(api, accepted, 60);
  const doneAt = Date.now();
  const out = since();
  const names = workerNames(out);
  const started = names.flatMap((n) => taskLines(out, n, 'task started'));
  const completed = names.flatMap((n) => taskLines(out, n, 'task completed'));
  const completions = new Map<string, number>();
  for (const c of completed) completions.set(c.taskId, (completions.get(c.taskId) ?? 0) + 1);
  const twiceInLogs = [...completions.values()].filter((n) => n > 1).length;
  // Every accepted job is its own task (distinct audio): outcomes written beyond one per job are second completions,
  // including one whose first run wrote its outcome and died before BullMQ recorded the job as completed.
  const outcomes = (await completedTasksMetric(api)) - completedBefore;
  const completedJobs = views.length - views.filter((v) => v.status !== 'completed').length;
  const twice = Math.max(twiceInLogs, outcomes - completedJobs);
  const lost = views.filter((v) => v.status !== 'completed');
  const heldDone = completed.filter((c) => held.has(c.taskId) && c.at >= killedAt);
  const recoveryMs = heldDone.length ? Math.max(...heldDone.map((c) => c.at)) - killedAt : NaN;
  // A re-run of a task whose first run a live worker had started (and logged) means a live worker lost its lock.
  // A re-run with no first-run line at all was the victim's: it died between counting the run and logging it.
  const firstRunByLive = new Set([...names.filter((n) => n !== victim).flatMap((n) => taskLines(out, n, 'task started')), ...taskLines(out.slice(cut < 0 ? out.length : cut), victim, 'task started')].filter((t) => t.run === 1).map((t) => t.taskId));
  const falseStalls = started.filter((s) => s.run >= 2 && !held.has(s.taskId) && firstRunByLive.has(s.taskId)).length;
  const rerunHeld = new Set(started.filter((s) => s.run >= 2 && held.has(s.taskId)).map((s) => s.taskId)).size;
  const readyAgain = linesOf(out.slice(cut), victim).find((l) => l.includes('] ready '));
  const batchMs = names.flatMap((n) => linesOf(out, n).filter((l) => l.includes('] batch ')).map((l) => Number(field(l, 'ms') ?? 0)));
  const { lockDurationMs: lock, stalledIntervalMs: stalled } = workerConfigFromEnv(stack.env).worker;

  const rows: Row[] = [
    { check: 'jobs submitted / accepted (202)', value: `${opts.jobs} / ${accepted.length}`, expect: `${opts.jobs} / ${opts.jobs}`, ok: accepted.length === opts.jobs },
    { check: 'answers 429 / 503 retried after Retry-After (upload rate limit)', value: pushedBack },
    { check: 'worker killed (kill -9) mid-run', value: killedAt ? `after ${completed.filter((c) => c.at <= killedAt).length} completions` : 'no (the run ended first)', expect: 'yes', ok: killedAt > 0 },
    { check: 'jobs lost (not completed)', value: lost.length, expect: '0', ok: lost.length === 0 },
    { check: 'tasks completed twice (two outcomes)', value: twice, expect: '0', ok: twice === 0 },
    { check: 'outcomes written (voxfleet_tasks_total) / completed jobs', value: `${outcomes} / ${completedJobs}`, expect: 'equal', ok: outcomes === completedJobs },
    { check: 'tasks the killed worker held', value: held.size },
    { check: '… run again (processing.attempts = 2)', value: rerunHeld, expect: `${held.size}`, ok: rerunHeld === held.size },
    { check: 'live workers\' tasks re-run (a lock taken from a live worker)', value: falseStalls, expect: '0', ok: falseStalls === 0 },
    { check: 'time to recovery (kill → last held task completed)', value: Number.isFinite(recoveryMs) ? seconds(recoveryMs) : 'n/a' },
    { check: 'killed worker restarted and ready again', value: readyAgain ? seconds(lineTime(readyAgain) - killedAt) : 'not yet', expect: 'restarted', ok: readyAgain !== undefined },
    { check: 'longest inference batch', value: batchMs.length ? `${Math.max(...batchMs)} ms` : 'n/a' },
    { check: 'wall time, first upload → all final', value: `${seconds(doneAt - t0)} (${(accepted.length / ((doneAt - t0) / 1000)).toFixed(1)} jobs/s)` },
  ];
  if (lost.length) rows.push({ check: 'first lost jobs', value: lost.slice(0, 3).map((v) => `${v.id} ${v.status} ${v.error?.code ?? ''}`).join('; ') });
  return {
    title: opts.title ?? `Worker kill -9 during ${opts.jobs} jobs (${names.length} workers)`,
    rows,
    pass: allOk(rows),
    notes: [
      `Lock ${seconds(lock)}, stalled check every ${seconds(stalled)} (VOXFLEET_LOCK_MS / VOXFLEET_STALLED_INTERVAL_MS). A dead worker's task waits until its lock expires — ½ to 1 lock after the kill, since BullMQ extends a running job's lock every ¼–½ lock — plus up to one stalled interval, then it is re-run.`,
    ],
  };
}
