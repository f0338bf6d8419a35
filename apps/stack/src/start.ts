/**
 * The embedded stack behind `npm start` (scripts/start.sh runs this after
 * `npm ci` and the redis-server check): Redis with its data in var/redis
 * (AOF on, noeviction, loopback only, a password kept in var/redis-password),
 * then the gateway and VOXFLEET_WORKERS workers (default 1). It prints the
 * URL, the API key and a curl example, and supervises them:
 *
 * - a child that exits on its own is restarted with backoff (logged, with
 *   its last output lines; see supervisor.ts);
 * - SIGINT / SIGTERM stop everything in order — workers (they drain), the
 *   gateway, Redis — each within its grace, then SIGKILL;
 * - killed with -9, it leaves no orphans: the Node children exit when their
 *   IPC channel closes, Redis gets SIGTERM from the kernel (setpriv
 *   --pdeathsig), and the next start stops whatever an earlier run left
 *   (var/stack.json, var/redis/redis.pid) before it starts anything;
 * - a port held by another program is reported as such, never a crash.
 *
 * VOXFLEET_REDIS_PORT (default 6390) picks the port of the embedded Redis;
 * with VOXFLEET_REDIS_URL or VOXFLEET_REDIS_SENTINELS set, an existing Redis
 * (or the primary its sentinels name) is used and none is started.
 */
import { ManifestError } from '@voxfleet/asr/manifest';
import { mkdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

import {
  ConfigError,
  LAST_WORDS_MS,
  REPO_ROOT,
  gatewayConfigFromEnv,
  redisConfigFromEnv,
  redact,
  stackConfigFromEnv,
  workerConfigFromEnv,
} from '@voxfleet/config';
import { describeRedis } from '@voxfleet/queue';
import { servedModelNames } from './models.js';
import { identify, onPath, portFree, portHolder } from './procs.js';
import { StackError, clearLeftoverRedis, prepareRedis, redisAnswers } from './redis.js';
import { AlreadyRunningError, clearLeftovers, removeState, writeState, type StackState } from './state.js';
import { SupervisedChild, type ChildSpec } from './supervisor.js';

/** A path as short as possible for printing: relative inside the repository, else absolute. */
function shown(p: string): string {
  const r = relative(REPO_ROOT, p);
  return r && !r.startsWith('..') ? r : p;
}

function say(msg: string): void {
  console.log(`[stack] ${msg}`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const children = new Map<string, SupervisedChild>();
let stopping: Promise<never> | undefined;
let state: StackState | undefined;
let varDir = '';

/** Stops everything in order (workers, gateway, Redis), each bounded by its grace, then exits. */
function shutdown(code: number): Promise<never> {
  return (stopping ??= (async () => {
    say('stopping…');
    const of = (pred: (name: string) => boolean): SupervisedChild[] => [...children.values()].filter((c) => pred(c.spec.name));
    await Promise.all(of((n) => n.startsWith('worker')).map((c) => c.stop()));
    await Promise.all(of((n) => n === 'gateway').map((c) => c.stop()));
    await Promise.all(of((n) => n === 'redis').map((c) => c.stop()));
    if (state) await removeState(varDir).catch(() => undefined);
    say('stopped');
    process.exit(code);
  })());
}

/** Polls `check` until it holds; false if the stack started stopping meanwhile. Says `slow` once if that takes a while. */
async function waitFor(check: () => Promise<boolean>, slow?: string): Promise<boolean> {
  for (let i = 0; ; i++) {
    if (stopping) return false;
    if (await check().catch(() => false)) return true;
    if (slow && i === 40) say(slow);
    await sleep(250);
  }
}

const urlOk = async (url: string): Promise<boolean> => (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;

async function main(): Promise<void> {
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  // Started by a program with an IPC channel (the chaos suite, a test): stop when that program goes away.
  if (process.send) {
    process.channel?.unref();
    process.on('disconnect', () => void shutdown(0));
  }
  // A reader of our output that went away must not take the supervisor down.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  process.on('uncaughtException', (err) => {
    console.error(`[stack] unexpected error: ${err.stack ?? err.message}`);
    void shutdown(1);
  });
  // Last resort if the supervisor exits without a stop: no child outlives it.
  process.on('exit', () => children.forEach((c) => c.killNow()));

  const env: NodeJS.ProcessEnv = { ...process.env };
  if (env.VOXFLEET_MODEL && !env.VOXFLEET_MODELS) {
    env.VOXFLEET_MODELS = (await servedModelNames(env)).join(',');
    say(`serving ${env.VOXFLEET_MODELS} (set VOXFLEET_MODELS to choose the names the gateway accepts)`);
  }
  // Validates the environment before anything starts.
  const cfg = gatewayConfigFromEnv(env);
  const workerCfg = workerConfigFromEnv(env);
  const stack = stackConfigFromEnv(env);
  varDir = cfg.storage.varDir;
  await mkdir(varDir, { recursive: true });

  await clearLeftovers(varDir, 10_000, say);
  const current: StackState = { supervisor: await identify(process.pid), children: {} };
  state = current;
  // One write at a time (children may restart while one is under way).
  let saving = Promise.resolve();
  const save = (): Promise<void> => (saving = saving.then(() => writeState(varDir, current)).catch((err: Error) => say(`could not write the state file: ${err.message}`)));
  await save();
  const events = {
    say,
    spawned: (name: string, pid: number) => {
      void identify(pid).then((id) => {
        current.children[name] = id;
        return save();
      });
    },
  };
  const add = (spec: ChildSpec): SupervisedChild => {
    const c = new SupervisedChild(spec, stack, events);
    children.set(spec.name, c);
    c.start();
    return c;
  };

  if (!env.VOXFLEET_REDIS_URL && !env.VOXFLEET_REDIS_SENTINELS) {
    const port = stack.redisPort;
    const redis = await prepareRedis(varDir, port);
    if (redis.generated) say(`generated a Redis password and stored it in ${shown(redis.paths.passwordFile)} (mode 0600)`);
    await clearLeftoverRedis(redis.paths, port, redis.password, say);
    env.VOXFLEET_REDIS_URL = redis.url;
    const pdeath = await onPath('setpriv');
    if (!pdeath) say('setpriv (util-linux) is not installed: if this supervisor is killed, Redis runs on until the next start stops it');
    say(`starting Redis on 127.0.0.1:${port} (data in ${shown(redis.paths.dataDir)}, password in ${shown(redis.paths.passwordFile)})`);
    add({
      name: 'redis',
      command: pdeath ? 'setpriv' : 'redis-server',
      args: pdeath ? ['--pdeathsig', 'TERM', '--', 'redis-server', redis.paths.conf] : [redis.paths.conf],
      env: process.env,
      ipc: false,
      umask: 0o077, // the AOF and RDB files hold transcripts: 0600
      stopGraceMs: 15_000,
    });
  }
  const redisCfg = redisConfigFromEnv(env);
  if (!(await waitFor(() => redisAnswers(redisCfg), `still waiting for Redis at ${redisCfg.sentinel ? describeRedis(redisCfg) : String(redact(redisCfg.url))}…`))) return;

  const g = cfg.gateway;
  const host = g.host === '0.0.0.0' ? '127.0.0.1' : g.host.includes(':') ? `[${g.host}]` : g.host;
  const url = `http://${host}:${g.port}`;
  if (g.port !== 0 && !(await portFree(g.port, g.host))) {
    const holder = await portHolder(g.port);
    throw new StackError(`port ${g.port} (the gateway, VOXFLEET_PORT) is in use by ${holder ? `pid ${holder.pid} (${holder.command})` : 'another program'}. Stop it, or start with another port: VOXFLEET_PORT=<port> npm start`);
  }
  const node = (name: string, script: string, graceMs: number, extraEnv: NodeJS.ProcessEnv = {}): ChildSpec => ({
    name,
    command: process.execPath,
    args: ['--import', 'tsx', script],
    env: { ...env, ...extraEnv },
    ipc: true,
    stopGraceMs: graceMs + LAST_WORDS_MS + 2000,
  });
  add(node('gateway', 'apps/gateway/src/main.ts', g.drainTimeoutMs));
  if (!(await waitFor(() => urlOk(`${url}/healthz`)))) return;

  // Prometheus listeners: the gateway's on VOXFLEET_METRICS_PORT (9464), worker i's on the i-th port after it (9465, …)
  const metricsPort = cfg.telemetry.metricsPort;
  for (let i = 1; i <= stack.workers; i++) {
    const own = metricsPort === null ? { VOXFLEET_METRICS_PORT: 'off' } : { VOXFLEET_METRICS_PORT: String(metricsPort + i) };
    add(node(i === 1 ? 'worker' : `worker-${i}`, 'apps/worker/src/main.ts', workerCfg.worker.drainTimeoutMs, own));
  }
  if (!(await waitFor(() => urlOk(`${url}/readyz`)))) return;
  current.url = url;
  await save();
  await banner(url, cfg);
}

async function banner(url: string, cfg: ReturnType<typeof gatewayConfigFromEnv>): Promise<void> {
  const g = cfg.gateway;
  let key = g.apiKeys[0] ?? '';
  if (!key && g.authEnabled) key = (await readFile(join(varDir, 'api-key'), 'utf8')).trim();
  // The gateway writes the admin password at its first start (it is never the API key).
  const adminFile = join(varDir, 'admin-password');
  const adminPassword = g.adminPassword
    ? '(VOXFLEET_ADMIN_PASSWORD)'
    : await readFile(adminFile, 'utf8').then(
        (p) => `${p.trim()}  (stored in ${shown(adminFile)})`,
        () => `(in ${shown(adminFile)})`,
      );
  const auth = g.authEnabled ? `-H "Authorization: Bearer ${key}" ` : '';
  const clip = 'fixtures/audio/en-funasr-example.wav';
  console.log(`
────────────────────────────────────────────────────────────────────────
 VoxFleet is running

   URL        ${url}
   API key    ${g.authEnabled ? key : '(authentication off)'}${g.authEnabled && !g.apiKeys.length ? `  (stored in ${shown(join(varDir, 'api-key'))})` : ''}
   Bull Board ${url}/admin/queues  (user "${g.adminUser}")
   Password   ${adminPassword}

 Transcribe a clip:

   JOB=$(curl -s ${auth}-F file=@${clip} ${url}/v1/jobs | sed -E 's/.*"id":"([^"]+)".*/\\1/')
   curl -s ${auth}"${url}/v1/jobs/$JOB?wait=30"
   curl -s ${auth}"${url}/v1/jobs/$JOB/transcript?format=srt"

 Ctrl-C stops everything. A process that exits on its own is restarted.
────────────────────────────────────────────────────────────────────────
`);
}

main().catch((err: unknown) => {
  const known = err instanceof ConfigError || err instanceof ManifestError || err instanceof StackError || err instanceof AlreadyRunningError;
  console.error(`[stack] ${known ? (err as Error).message : err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  void shutdown(1);
});
