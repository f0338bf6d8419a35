/**
 * Chaos: kill -9 of the supervisor itself, then `npm start` again on the same
 * var directory and ports. Every process it started must exit on its own
 * (no orphans), the next start must come up (no EADDRINUSE), and what Redis
 * held before must still be there (a job acknowledged before the kill reads
 * back completed).
 */
import { Client } from '@voxfleet/testkit';
import { allOk, type Row, type Section } from './types.js';
import { distinctShortClips, seconds } from './load.js';
import { alive, poll, startStack, type StackHandle } from './stack.js';

export async function supervisorKill(stack: StackHandle, opts: { variant?: number; log?: (msg: string) => void } = {}): Promise<{ section: Section; stack: StackHandle }> {
  const log = opts.log ?? (() => {});
  const api = new Client(stack.url, stack.apiKeys[0]);
  const [clip] = await distinctShortClips(1, opts.variant ?? 2);
  const before = await api.upload(clip!, 'before-kill.wav');
  const beforeDone = before.status === 202 ? await api.waitFinal(String(before.body.id)) : null;

  const old = await stack.state();
  const pids = Object.entries(old.children).map(([name, id]) => ({ name, pid: id.pid }));
  const t0 = Date.now();
  stack.proc.kill('SIGKILL');
  await stack.exited;
  log(`killed the supervisor (pid ${stack.proc.pid}) with SIGKILL; its children: ${pids.map((p) => `${p.name} ${p.pid}`).join(', ')}`);
  const gone = await poll(() => pids.every((p) => !alive(p.pid)), 1200);
  const orphansAt = Date.now();
  const orphans = pids.filter((p) => alive(p.pid));

  const t1 = Date.now();
  let next: StackHandle | null = null;
  let startError = '';
  try {
    next = await startStack({ reuse: stack });
  } catch (err) {
    startError = err instanceof Error ? err.message.split('\n').slice(0, 3).join(' ') : String(err);
  }
  const upMs = Date.now() - t1;
  const nextApi = next ? new Client(next.url, next.apiKeys[0]) : null;
  const kept = nextApi && before.status === 202 ? await nextApi.get(`/v1/jobs/${before.body.id}`) : null;
  const fresh = nextApi ? await nextApi.upload((await distinctShortClips(1, (opts.variant ?? 2) + 1))[0]!, 'after-restart.wav') : null;
  const freshDone = nextApi && fresh?.status === 202 ? await nextApi.waitFinal(String(fresh.body.id)).catch(() => null) : null;
  const eaddrinuse = /EADDRINUSE/.test(next?.output() ?? startError);

  const rows: Row[] = [
    { check: 'processes the killed supervisor had started', value: pids.map((p) => p.name).join(', ') },
    { check: 'left running (orphans)', value: orphans.length ? orphans.map((p) => `${p.name} ${p.pid}`).join(', ') : 0, expect: '0', ok: gone && orphans.length === 0 },
    { check: 'time until all of them had exited', value: seconds(orphansAt - t0) },
    { check: 'next start comes up (same var dir and ports)', value: next ? `yes, in ${seconds(upMs)}` : `no: ${startError}`, expect: 'yes', ok: next !== null },
    { check: 'EADDRINUSE anywhere in its output', value: eaddrinuse ? 'yes' : 'no', expect: 'no', ok: !eaddrinuse },
    { check: 'a job completed before the kill reads back', value: kept ? `${kept.status} ${kept.body?.status}` : 'n/a', expect: '200 completed', ok: beforeDone?.status === 'completed' && kept?.status === 200 && kept.body?.status === 'completed' },
    { check: 'a new job after the restart', value: freshDone ? String(freshDone.status) : `not completed (${fresh?.status ?? 'no stack'})`, expect: 'completed', ok: freshDone?.status === 'completed' },
  ];
  return { section: { title: 'Supervisor kill -9, then npm start again', rows, pass: allOk(rows) }, stack: next ?? stack };
}
