/**
 * What the supervisor needs to know about other processes: is a pid alive,
 * is it still the process we started (pid + start time, so a recycled pid is
 * never mistaken for ours), what is its command line, who holds a TCP port,
 * and stopping one with a bounded wait. Linux /proc where available; on
 * other systems the identity checks degrade to "alive".
 */
import { access, constants, readFile, readdir, readlink } from 'node:fs/promises';
import { createServer } from 'node:net';

export interface ProcessIdentity {
  pid: number;
  /** start time in clock ticks since boot (/proc/<pid>/stat field 22); null where /proc is not available */
  start: number | null;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Start time of `pid` (clock ticks since boot), or null (gone, or no /proc). */
export async function startTime(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields after it follow the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[19]);
    return Number.isFinite(ticks) ? ticks : null;
  } catch {
    return null;
  }
}

export async function identify(pid: number): Promise<ProcessIdentity> {
  return { pid, start: await startTime(pid) };
}

/** Whether the process `id` describes is still running (same pid and, where known, the same start time). */
export async function stillRunning(id: ProcessIdentity): Promise<boolean> {
  if (!isAlive(id.pid)) return false;
  if (id.start === null) return true;
  return (await startTime(id.pid)) === id.start;
}

/** The command line of `pid` ([] when unknown). */
export async function commandLine(pid: number): Promise<string[]> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** Whether 127.0.0.1:`port` can be bound now. */
export function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/**
 * The process listening on TCP `port` (any local address), best effort:
 * finds the socket in /proc/net/tcp{,6}, then the process holding it.
 * Null when none is found (or /proc does not tell, e.g. another user's process).
 */
export async function portHolder(port: number): Promise<{ pid: number; command: string } | null> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1];
      // state 0A = LISTEN
      if (!local || f[3] !== '0A') continue;
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port && f[9]) inodes.add(f[9]);
    }
  }
  if (inodes.size === 0) return null;
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((d) => /^\d+$/.test(d));
  for (const p of pids) {
    const fds = await readdir(`/proc/${p}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${p}/fd/${fd}`).catch(() => '');
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1]!)) {
        const command = (await commandLine(Number(p))).join(' ').replace(/\s+/g, ' ').trim();
        return { pid: Number(p), command: command.length > 120 ? `${command.slice(0, 120)}…` : command || '?' };
      }
    }
  }
  return null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `id` has exited or `timeoutMs` passed; true if it exited. */
export async function waitExit(id: ProcessIdentity, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (await stillRunning(id)) {
    if (Date.now() >= until) return false;
    await sleep(50);
  }
  return true;
}

/** SIGTERM, then SIGKILL after `graceMs`: a process that is not our child (we cannot wait on it). */
export async function terminate(id: ProcessIdentity, graceMs: number): Promise<'exited' | 'killed'> {
  if (!(await stillRunning(id))) return 'exited';
  try {
    process.kill(id.pid, 'SIGTERM');
  } catch {
    return 'exited';
  }
  if (await waitExit(id, graceMs)) return 'exited';
  try {
    process.kill(id.pid, 'SIGKILL');
  } catch {
    /* gone meanwhile */
  }
  await waitExit(id, 5000);
  return 'killed';
}

/** Whether `cmd` is an executable on PATH. */
export async function onPath(cmd: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    try {
      await access(`${dir}/${cmd}`, constants.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}
