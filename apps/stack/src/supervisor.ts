/**
 * One supervised child process: started, its output prefixed with its name,
 * restarted with backoff when it exits on its own, stopped (SIGTERM, then
 * SIGKILL after its grace) when the stack stops.
 *
 * Restart policy: a child that ran at least `stableAfterMs` is restarted after
 * `restartDelayMs`; one that keeps exiting sooner (crashing at start) waits
 * twice as long each time, up to `restartDelayMaxMs`. Every restart is logged
 * with how the child ended and its last output lines, so the reason shows.
 *
 * Node children get an IPC channel: when the supervisor dies (even by
 * kill -9) the channel closes and they stop themselves (ProcessLifecycle in
 * @voxfleet/config). Others (redis-server) are started under
 * `setpriv --pdeathsig TERM` where available, so the kernel signals them
 * when the supervisor dies; and the next start stops any that remain.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { REPO_ROOT } from '@voxfleet/config';

export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** a Node process with an IPC channel (it exits when the channel closes) */
  ipc: boolean;
  /** umask the child starts with (e.g. 0o077: the files it creates are private) */
  umask?: number;
  /** how long SIGTERM may take before SIGKILL */
  stopGraceMs: number;
}

export interface RestartPolicy {
  restartDelayMs: number;
  restartDelayMaxMs: number;
  stableAfterMs: number;
}

export interface ChildEvents {
  /** the child (re)started with this pid */
  spawned?: (name: string, pid: number) => void;
  say: (msg: string) => void;
}

/** Delay before restart number `failuresInARow` (1 = the first quick failure) of a child that keeps failing soon after start. */
export function restartDelay(policy: RestartPolicy, failuresInARow: number): number {
  const n = Math.max(1, failuresInARow);
  return Math.min(policy.restartDelayMaxMs, policy.restartDelayMs * 2 ** Math.min(n - 1, 30));
}

const TAIL_LINES = 5;
const ERRORISH = /\b(error|failed|fatal|cannot|EADDRINUSE)\b|Error\b/i;

export class SupervisedChild {
  private proc: ChildProcess | null = null;
  private startedAt = 0;
  private quickFailures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartPending = false;
  private stopping = false;
  private readonly tail: string[] = [];
  /** the first line of this run's output that reads like an error (a stack trace's tail says less) */
  private firstError: string | null = null;
  /** how many times it was restarted */
  restarts = 0;

  constructor(
    readonly spec: ChildSpec,
    private readonly policy: RestartPolicy,
    private readonly events: ChildEvents,
  ) {}

  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  start(): void {
    if (this.stopping) return;
    const { spec } = this;
    const stdio: StdioOptions = spec.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'];
    const previous = spec.umask === undefined ? undefined : process.umask(spec.umask);
    let proc: ChildProcess;
    try {
      // Own process group: a terminal's Ctrl-C reaches only the supervisor, which stops the children in order.
      proc = spawn(spec.command, spec.args, { cwd: REPO_ROOT, env: spec.env, stdio, detached: true });
    } finally {
      if (previous !== undefined) process.umask(previous);
    }
    this.proc = proc;
    this.startedAt = Date.now();
    this.follow(proc.stdout!, process.stdout);
    this.follow(proc.stderr!, process.stderr);
    // The IPC channel carries no messages; a write error on it (the child gone) must not throw here.
    proc.on('error', (err) => {
      this.remember(`could not start: ${err.message}`);
      this.events.say(`${spec.name}: ${err.message}`);
      // A spawn that failed (e.g. ENOENT) may never emit 'exit': restart it the same way.
      if (proc.pid === undefined) this.exited(proc, null, null);
    });
    proc.once('exit', (code, signal) => this.exited(proc, code, signal));
    if (proc.pid !== undefined) this.events.spawned?.(spec.name, proc.pid);
  }

  /** Stops it for good: SIGTERM, SIGKILL after the grace; resolves once it has exited. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => {
        this.events.say(`${this.spec.name} did not stop within ${Math.round(this.spec.stopGraceMs / 1000)} s: killing it`);
        proc.kill('SIGKILL');
      }, this.spec.stopGraceMs);
      proc.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      proc.kill('SIGTERM');
    });
  }

  /** SIGKILL now (the supervisor is going down without a stop). */
  killNow(): void {
    if (this.running) this.proc!.kill('SIGKILL');
  }

  private exited(proc: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (proc !== this.proc || this.stopping || this.restartPending) return;
    this.restartPending = true;
    const ranMs = Date.now() - this.startedAt;
    this.quickFailures = ranMs < this.policy.stableAfterMs ? this.quickFailures + 1 : 1;
    const delay = restartDelay(this.policy, this.quickFailures);
    const how = signal ? `was killed (${signal})` : code === null ? 'could not be started' : `exited with code ${code}`;
    const lines = this.firstError && !this.tail.includes(this.firstError) ? [this.firstError, '…', ...this.tail] : this.tail;
    const why = lines.length ? `; its output ended:\n${lines.map((l) => `    ${l}`).join('\n')}` : '';
    const pattern = this.quickFailures > 1 ? ` — it keeps exiting soon after it starts (${this.quickFailures} times in a row, each within ${Math.round(this.policy.stableAfterMs / 1000)} s of starting), so the wait doubles up to ${Math.round(this.policy.restartDelayMaxMs / 1000)} s` : '';
    this.events.say(`${this.spec.name} ${how} after ${(ranMs / 1000).toFixed(1)} s; restarting in ${(delay / 1000).toFixed(1)} s${pattern}${why}`);
    this.restartTimer = setTimeout(() => {
      this.restartPending = false;
      this.restarts++;
      this.tail.length = 0;
      this.firstError = null;
      this.start();
    }, delay);
  }

  private remember(raw: string): void {
    const line = raw.length > 400 ? `${raw.slice(0, 400)}…` : raw;
    if (this.firstError === null && ERRORISH.test(line)) this.firstError = line;
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
  }

  private follow(stream: NodeJS.ReadableStream, to: NodeJS.WriteStream): void {
    let buf = '';
    stream.on('error', () => {}); // the pipe of a child that died: nothing more to read
    stream.on('data', (b: Buffer) => {
      buf += b.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) this.remember(line);
        to.write(`[${this.spec.name}] ${line}\n`);
      }
    });
  }
}
