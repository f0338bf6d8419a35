/**
 * `npm run chaos`: the reliability suite against a real `npm start` stack
 * (its own var directory in the temp dir, free loopback ports, two API keys).
 * Sections, in order: kill -9 of a worker during ≥ 500 jobs with 2 workers;
 * Redis kill -9 and a hung Redis under load; the modules chaos/fuzz.ts and
 * chaos/tenants.ts when present (see chaos/types.ts); kill -9 of the
 * supervisor and a fresh start. Each is bounded in count and time, printed,
 * and written to BENCHMARKS.md ("Reliability", between the chaos markers).
 *
 *   npm run chaos [-- --jobs 500 --redis-jobs 200 --workers 2 --only worker,redis,fuzz,tenants,supervisor
 *                    --compare-lock 60000:30000 --no-write]
 *
 * --compare-lock L:S also runs the worker kill with VOXFLEET_LOCK_MS=L and
 * VOXFLEET_STALLED_INTERVAL_MS=S (e.g. the former defaults) on a second stack.
 * VOXFLEET_* settings in the environment reach the stack (e.g. VOXFLEET_LOCK_MS).
 * Exit code 1 when a section fails.
 */
import { access, appendFile, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, workerConfigFromEnv } from '@voxfleet/config';
import { redisKill } from './redis-kill.js';
import { reportBlock, sectionMarkdown, writeReport } from './report.js';
import { startStack, stopStack, type StackHandle } from './stack.js';
import { supervisorKill } from './supervisor-kill.js';
import type { ChaosContext, ChaosModule, Section } from './types.js';
import { workerKill } from './worker-kill.js';

const MODULES = ['fuzz', 'tenants'] as const;
const MODULE_DEADLINE_MS = 10 * 60_000;
/** set by the runner for the stack; never taken from the caller's environment */
const OWN = /^VOXFLEET_(VAR_DIR|HOST|PORT|REDIS_PORT|REDIS_URL|API_KEYS|ADMIN_USER|ADMIN_PASSWORD|WORKERS)$/;

function args(argv: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) m.set(a.slice(2), argv[++i]!);
    else m.set(a.slice(2), 'true');
  }
  return m;
}

const log = (scope: string) => (msg: string) => console.log(`[chaos:${scope}] ${msg}`);

/** Everything the stacks printed (supervisor, Redis, gateway, workers), kept for diagnosis. */
const STACK_LOG = join(tmpdir(), 'voxfleet-chaos-stack.log');
const keepOutput = (s: StackHandle): Promise<void> => appendFile(STACK_LOG, s.output()).catch(() => undefined);

function failed(title: string, message: string): Section {
  return { title, rows: [{ check: 'ran to the end', value: message, expect: 'yes', ok: false }], pass: false };
}

async function guarded(title: string, fn: () => Promise<Section>, deadlineMs: number): Promise<Section> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Section>((resolve) => {
    timer = setTimeout(() => resolve(failed(title, `did not finish within ${Math.round(deadlineMs / 1000)} s`)), deadlineMs);
  });
  try {
    return await Promise.race([fn().catch((err: unknown) => failed(title, err instanceof Error ? err.message : String(err))), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function main(): Promise<number> {
  const a = args(process.argv.slice(2));
  const jobs = Number(a.get('jobs') ?? 500);
  const redisJobs = Number(a.get('redis-jobs') ?? 200);
  const workers = Number(a.get('workers') ?? 2);
  const only = new Set((a.get('only') ?? 'worker,redis,fuzz,tenants,supervisor').split(','));
  const passthrough = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => /^VOXFLEET_/.test(e[0]) && !OWN.test(e[0]) && e[1] !== undefined));
  const sections: Section[] = [];
  const print = (s: Section): void => {
    sections.push(s);
    console.log(`\n${sectionMarkdown(s)}\n`);
  };

  await writeFile(STACK_LOG, '');
  log('run')(`starting the stack (${workers} workers); its output goes to ${STACK_LOG}`);
  let stack: StackHandle = await startStack({ workers, env: passthrough });
  const stop = (): void => void stopStack(stack).finally(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    if (only.has('worker')) print(await guarded('Worker kill -9', () => workerKill(stack, { jobs, variant: 0, log: log('worker') }), 20 * 60_000));
    if (only.has('redis')) print(await guarded('Redis kill -9', () => redisKill(stack, { jobs: redisJobs, variant: 1, log: log('redis') }), 15 * 60_000));
    const ctx = (name: string): ChaosContext => ({ url: stack.url, apiKeys: stack.apiKeys, admin: stack.admin, varDir: stack.varDir, deadlineMs: MODULE_DEADLINE_MS, log: log(name) });
    for (const name of MODULES) {
      if (!only.has(name)) continue;
      const file = join(REPO_ROOT, 'chaos', `${name}.ts`);
      if (!(await access(file).then(() => true, () => false))) {
        log('run')(`chaos/${name}.ts is not there: skipped`);
        continue;
      }
      print(await guarded(`chaos/${name}.ts`, async () => ((await import(pathToFileURL(file).href)) as ChaosModule).run(ctx(name)), MODULE_DEADLINE_MS));
    }
    if (only.has('supervisor')) {
      const before = stack;
      const r = await supervisorKill(stack, { variant: 2, log: log('supervisor') }).catch((err: unknown) => ({ section: failed('Supervisor kill -9', String(err)), stack }));
      if (r.stack !== before) await keepOutput(before);
      stack = r.stack;
      print(r.section);
    }
  } finally {
    await stopStack(stack);
    await keepOutput(stack);
  }
  const compare = a.get('compare-lock');
  if (compare && only.has('worker')) {
    const [lock, stalled] = compare.split(':');
    const env = { ...passthrough, VOXFLEET_LOCK_MS: lock ?? '60000', VOXFLEET_STALLED_INTERVAL_MS: stalled ?? '30000' };
    log('run')(`again with lock ${lock} ms / stalled interval ${stalled} ms, for comparison`);
    const second = await startStack({ workers, env });
    try {
      print(await guarded('Worker kill -9 (comparison)', () => workerKill(second, { jobs, variant: 3, title: `Worker kill -9 during ${jobs} jobs, lock ${lock} ms / stalled check ${stalled} ms (comparison)`, log: log('worker') }), 20 * 60_000));
    } finally {
      await stopStack(second);
      await keepOutput(second);
    }
  }

  const w = workerConfigFromEnv({ ...passthrough }).worker;
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  const block = reportBlock(sections, {
    command: `npm run chaos${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    when: new Date(),
    machine: `${cpu} × ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}`,
    setup: `The real stack of \`npm start\` (supervisor, Redis with AOF, gateway, ${workers} workers on CPU, 1 thread each), loopback only; lock ${w.lockDurationMs} ms, stalled check ${w.stalledIntervalMs} ms unless a section says otherwise.`,
  });
  if (!a.has('no-write')) {
    await writeReport(join(REPO_ROOT, 'BENCHMARKS.md'), block);
    log('run')('written to BENCHMARKS.md (Reliability)');
  }
  const bad = sections.filter((s) => !s.pass);
  log('run')(bad.length ? `${bad.length} of ${sections.length} sections failed: ${bad.map((s) => s.title).join('; ')}` : `all ${sections.length} sections pass`);
  return bad.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`[chaos] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
