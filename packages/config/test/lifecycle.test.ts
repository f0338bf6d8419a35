/**
 * ProcessLifecycle with real child processes: SIGTERM stops it cleanly (exit 0); a stop that never
 * finishes is cut at its timeout (exit 1, after onTimeout); the parent closing the IPC channel
 * (what a supervisor killed with -9 does) stops it like SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../src/index.js';

const CHILD = join(REPO_ROOT, 'packages/config/test/fixtures/lifecycle-child.ts');

function start(mode: 'ok' | 'hang', ipc: boolean): { proc: ChildProcess; out: () => string; running: Promise<void>; exit: Promise<number | null> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, mode], { cwd: REPO_ROOT, stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const running = new Promise<void>((resolve) => {
    const seen = (b: Buffer): void => {
      out += b.toString();
      if (out.includes('running')) resolve();
    };
    proc.stdout!.on('data', seen);
    proc.stderr!.on('data', seen);
  });
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, out: () => out, running, exit };
}

describe('ProcessLifecycle', () => {
  it('SIGTERM runs the stop and exits 0', async () => {
    const c = start('ok', false);
    await c.running;
    c.proc.kill('SIGTERM');
    expect(await c.exit).toBe(0);
    expect(c.out()).toMatch(/SIGTERM received: stopping/);
  });

  it('a stop that never finishes is cut at its timeout: onTimeout runs, exit 1', async () => {
    const c = start('hang', false);
    await c.running;
    c.proc.kill('SIGTERM');
    expect(await c.exit).toBe(1);
    expect(c.out()).toMatch(/did not stop within/);
    expect(c.out()).toMatch(/last words/);
  });

  it('the parent closing the IPC channel stops the process (no orphan when a supervisor dies)', async () => {
    const c = start('ok', true);
    await c.running;
    c.proc.disconnect();
    expect(await c.exit).toBe(0);
    expect(c.out()).toMatch(/the supervisor went away: stopping/);
  });
});
