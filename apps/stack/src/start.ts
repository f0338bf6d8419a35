/**
 * The embedded stack behind `npm start` (scripts/start.sh runs this after
 * `npm ci` and the redis-server check): starts Redis with its data in
 * var/redis (AOF on, noeviction, loopback only), then the gateway and one
 * worker, prints the URL, the API key and a curl example, and stops all of
 * them on Ctrl-C / SIGTERM.
 *
 * VOXFLEET_REDIS_PORT (default 6390) picks the port of the embedded Redis;
 * with VOXFLEET_REDIS_URL set, an existing Redis is used and none is started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

import { DEFAULT_REDIS_PORT, REPO_ROOT, gatewayConfigFromEnv, ConfigError } from '@voxfleet/config';
import { Redis } from 'ioredis';

/** A path as short as possible for printing: relative inside the repository, else absolute. */
function shown(p: string): string {
  const r = relative(REPO_ROOT, p);
  return r && !r.startsWith('..') ? r : p;
}

interface Child {
  name: string;
  proc: ChildProcess;
}

const children: Child[] = [];
let stopping = false;

function say(msg: string): void {
  console.log(`[stack] ${msg}`);
}

function prefixLines(name: string, stream: NodeJS.ReadableStream, to: NodeJS.WriteStream): void {
  let buf = '';
  stream.on('data', (b: Buffer) => {
    buf += b.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      to.write(`[${name}] ${buf.slice(0, nl)}\n`);
      buf = buf.slice(nl + 1);
    }
  });
}

function start(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  // Own process group: a terminal's Ctrl-C reaches only this supervisor, which stops the children in order.
  const proc = spawn(cmd, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  prefixLines(name, proc.stdout!, process.stdout);
  prefixLines(name, proc.stderr!, process.stderr);
  children.push({ name, proc });
  proc.on('exit', (code, signal) => {
    if (stopping) return;
    console.error(`[stack] ${name} exited unexpectedly (${signal ?? code}); stopping everything`);
    void shutdown(1);
  });
  proc.on('error', (err) => {
    console.error(`[stack] could not start ${name}: ${err.message}`);
    void shutdown(1);
  });
  return proc;
}

function stop(child: Child, timeoutMs: number): Promise<void> {
  const { proc } = child;
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say('stopping…');
    // Worker first (it drains its jobs), then the gateway, Redis last.
    const order = ['worker', 'gateway', 'redis'];
    for (const name of order) {
      const c = children.find((x) => x.name === name);
      if (c) await stop(c, name === 'worker' ? 120_000 : 15_000);
    }
    say('stopped');
  }
  process.exit(code);
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (stopping) return;
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main(): Promise<void> {
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  // Last resort if the supervisor dies without a clean shutdown.
  process.on('exit', () => children.forEach((c) => c.proc.exitCode === null && c.proc.kill('SIGTERM')));

  const env: NodeJS.ProcessEnv = { ...process.env };
  const cfg = gatewayConfigFromEnv(env); // validates the environment before anything starts
  const varDir = cfg.storage.varDir;

  if (!env.VOXFLEET_REDIS_URL) {
    const port = Number(env.VOXFLEET_REDIS_PORT || DEFAULT_REDIS_PORT);
    const dataDir = join(varDir, 'redis');
    await mkdir(dataDir, { recursive: true });
    env.VOXFLEET_REDIS_URL = `redis://127.0.0.1:${port}`;
    say(`starting Redis on 127.0.0.1:${port} (data in ${shown(dataDir)})`);
    start('redis', 'redis-server', [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--protected-mode', 'yes',
      '--dir', dataDir,
      '--appendonly', 'yes',
      '--maxmemory-policy', 'noeviction',
      '--daemonize', 'no',
    ], env);
  }
  const redis = new Redis(env.VOXFLEET_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => {});
  await waitFor('Redis', async () => {
    if (redis.status !== 'ready') await redis.connect().catch(() => undefined);
    return (await redis.ping()) === 'PONG';
  }, 30_000);
  redis.disconnect();

  const tsx = ['--import', 'tsx'];
  start('gateway', process.execPath, [...tsx, 'apps/gateway/src/main.ts'], env);
  const host = cfg.gateway.host === '0.0.0.0' ? '127.0.0.1' : cfg.gateway.host.includes(':') ? `[${cfg.gateway.host}]` : cfg.gateway.host;
  const url = `http://${host}:${cfg.gateway.port}`;
  await waitFor('the gateway', async () => (await fetch(`${url}/healthz`)).ok, 60_000);

  start('worker', process.execPath, [...tsx, 'apps/worker/src/main.ts'], env);
  await waitFor('the worker to load its model', async () => (await fetch(`${url}/readyz`)).ok, 300_000);
  if (stopping) return;

  let key = cfg.gateway.apiKeys[0] ?? '';
  if (!key && cfg.gateway.authEnabled) key = (await readFile(join(varDir, 'api-key'), 'utf8')).trim();
  const auth = cfg.gateway.authEnabled ? `-H "Authorization: Bearer ${key}" ` : '';
  const clip = 'fixtures/audio/en-funasr-example.wav';
  console.log(`
────────────────────────────────────────────────────────────────────────
 VoxFleet is running

   URL        ${url}
   API key    ${cfg.gateway.authEnabled ? key : '(authentication off)'}${cfg.gateway.authEnabled && !cfg.gateway.apiKeys.length ? `  (stored in ${shown(join(varDir, 'api-key'))})` : ''}
   Bull Board ${url}/admin/queues  (user "${cfg.gateway.adminUser}", password: ${cfg.gateway.adminPassword ? 'VOXFLEET_ADMIN_PASSWORD' : 'the API key'})

 Transcribe a clip:

   JOB=$(curl -s ${auth}-F file=@${clip} ${url}/v1/jobs | sed -E 's/.*"id":"([^"]+)".*/\\1/')
   curl -s ${auth}"${url}/v1/jobs/$JOB?wait=30"
   curl -s ${auth}"${url}/v1/jobs/$JOB/transcript?format=srt"

 Ctrl-C stops everything.
────────────────────────────────────────────────────────────────────────
`);
}

main().catch((err: unknown) => {
  console.error(`[stack] ${err instanceof ConfigError ? err.message : err instanceof Error ? err.message : String(err)}`);
  void shutdown(1);
});
