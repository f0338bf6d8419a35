/**
 * var/stack.json: which supervisor runs on this var directory and the
 * processes it started (pid + start time). The next start reads it to refuse
 * a second supervisor on the same directory and to stop what a killed one
 * left behind; tools (the chaos suite) read it to find the processes.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stillRunning, terminate, type ProcessIdentity } from './procs.js';

export const STATE_FILE = 'stack.json';

export interface StackState {
  supervisor: ProcessIdentity;
  /** child name (redis, gateway, worker, worker-2, …) → its current process */
  children: Record<string, ProcessIdentity>;
  /** the gateway's URL once it listens */
  url?: string;
}

export async function readState(varDir: string): Promise<StackState | null> {
  try {
    return JSON.parse(await readFile(join(varDir, STATE_FILE), 'utf8')) as StackState;
  } catch {
    return null;
  }
}

/** Writes the state file atomically (0600). */
export async function writeState(varDir: string, state: StackState): Promise<void> {
  const file = join(varDir, STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}

export async function removeState(varDir: string): Promise<void> {
  await rm(join(varDir, STATE_FILE), { force: true });
}

/**
 * What an earlier supervisor on `varDir` left: throws if it is still running;
 * otherwise stops the children it recorded that still run (they stop on
 * their own once their supervisor is gone; this bounds the wait). Returns the
 * names of those it had to stop.
 */
export async function clearLeftovers(varDir: string, graceMs: number, say: (msg: string) => void): Promise<string[]> {
  const prior = await readState(varDir);
  if (!prior) return [];
  if (prior.supervisor.pid !== process.pid && (await stillRunning(prior.supervisor))) {
    throw new AlreadyRunningError(prior.supervisor.pid);
  }
  const left = (await Promise.all(Object.entries(prior.children).map(async ([name, id]) => ((await stillRunning(id)) ? name : null)))).filter((n): n is string => n !== null);
  if (left.length) say(`an earlier start ended without stopping ${left.join(', ')}: stopping ${left.length > 1 ? 'them' : 'it'}`);
  await Promise.all(left.map((name) => terminate(prior.children[name]!, graceMs)));
  await removeState(varDir);
  return left;
}

export class AlreadyRunningError extends Error {
  override readonly name = 'AlreadyRunningError';
  constructor(readonly pid: number) {
    super(`VoxFleet is already running on this var directory (supervisor pid ${pid}); stop it first (kill ${pid}), or use another VOXFLEET_VAR_DIR`);
  }
}
