/**
 * The supervisor's parts with real processes: a child that keeps failing at start is restarted with a
 * doubling delay up to the cap and the log says why (its error line); stop() ends a running child and
 * no restart follows; the Redis password file and data directory are private; a port held by another
 * process names that process.
 */
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { portFree, portHolder } from '../src/procs.js';
import { loadOrCreatePassword, prepareRedis } from '../src/redis.js';
import { SupervisedChild, restartDelay } from '../src/supervisor.js';

const policy = { restartDelayMs: 20, restartDelayMaxMs: 80, stableAfterMs: 60_000 };

async function until(check: () => boolean, polls = 400): Promise<boolean> {
  for (let i = 0; i < polls; i++) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

describe('restart policy', () => {
  it('doubles while a child keeps failing soon after start, up to the cap', () => {
    expect([1, 2, 3, 4, 5, 40].map((n) => restartDelay(policy, n))).toEqual([20, 40, 80, 80, 80, 80]);
  });
});

describe('SupervisedChild', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('restarts a child that crashes at start, with backoff, and says why', async () => {
    const said: string[] = [];
    const child = new SupervisedChild(
      { name: 'crasher', command: process.execPath, args: ['-e', 'console.log("loading"); console.error("Error: cannot open the model"); process.exit(3)'], env: process.env, ipc: false, stopGraceMs: 1000 },
      policy,
      { say: (m) => said.push(m) },
    );
    child.start();
    expect(await until(() => child.restarts >= 3)).toBe(true);
    await child.stop();
    const exits = said.filter((m) => m.startsWith('crasher exited with code 3'));
    expect(exits.length).toBeGreaterThanOrEqual(3);
    expect(exits[0]).toMatch(/restarting in 0\.0 s/);
    expect(exits[2]).toMatch(/keeps exiting soon after it starts \(3 times in a row/);
    for (const m of exits) expect(m).toMatch(/Error: cannot open the model/);
    const after = child.restarts;
    await new Promise((r) => setTimeout(r, 200));
    expect(child.restarts).toBe(after); // stopped for good
  });

  it('retries a command that cannot be started at all (ENOENT), saying so', async () => {
    const said: string[] = [];
    const child = new SupervisedChild({ name: 'missing', command: '/nonexistent/voxfleet-test-binary', args: [], env: process.env, ipc: false, stopGraceMs: 1000 }, policy, { say: (m) => said.push(m) });
    child.start();
    expect(await until(() => child.restarts >= 2)).toBe(true);
    await child.stop();
    expect(said.find((m) => m.startsWith('missing could not be started'))).toMatch(/ENOENT/);
  });

  it('stop() ends a running child (SIGTERM) without a restart', async () => {
    const said: string[] = [];
    const child = new SupervisedChild({ name: 'sleeper', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'], env: process.env, ipc: true, stopGraceMs: 5000 }, policy, { say: (m) => said.push(m) });
    child.start();
    expect(child.running).toBe(true);
    await child.stop();
    expect(child.running).toBe(false);
    expect(child.restarts).toBe(0);
    expect(said.filter((m) => /restarting/.test(m))).toEqual([]);
  });

  it('keeps the Redis password and data private, and the password out of the command line', async () => {
    const varDir = await mkdtemp(join(tmpdir(), 'voxfleet-stack-'));
    dirs.push(varDir);
    // an earlier run's files with the old, open modes
    await mkdir(join(varDir, 'redis', 'appendonlydir'), { recursive: true, mode: 0o755 });
    await writeFile(join(varDir, 'redis', 'appendonlydir', 'appendonly.aof.1.incr.aof'), 'x', { mode: 0o644 });
    const r = await prepareRedis(varDir, 6399);
    const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;
    expect(await mode(r.paths.dataDir)).toBe(0o700);
    expect(await mode(join(r.paths.dataDir, 'appendonlydir'))).toBe(0o700);
    expect(await mode(join(r.paths.dataDir, 'appendonlydir', 'appendonly.aof.1.incr.aof'))).toBe(0o600);
    expect(await mode(r.paths.passwordFile)).toBe(0o600);
    expect(await mode(r.paths.conf)).toBe(0o600);
    expect(r.generated).toBe(true);
    expect(r.password.length).toBeGreaterThanOrEqual(24);
    expect(await readFile(r.paths.conf, 'utf8')).toContain(`requirepass ${r.password}`);
    expect(r.url).toBe(`redis://:${r.password}@127.0.0.1:6399`);
    // kept across starts
    expect(await loadOrCreatePassword(r.paths.passwordFile)).toEqual({ password: r.password, generated: false });
  });

  it('names the process holding a port', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    expect(await portFree(port)).toBe(false);
    const holder = await portHolder(port);
    server.close();
    expect(holder?.pid).toBe(process.pid);
  });
});
