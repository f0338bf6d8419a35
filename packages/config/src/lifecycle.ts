/**
 * How a long-running process (gateway, worker) ends: SIGTERM / SIGINT, or its
 * supervisor going away, start one bounded stop. Create the lifecycle first
 * thing in `main`; until `running()` hands it the stop function, an end
 * request exits at once (nothing to drain yet).
 *
 * The supervisor (`npm start`) gives each Node child an IPC channel; when the
 * supervisor dies — even by kill -9 — the channel closes and the child stops
 * as if sent SIGTERM, so no process outlives it. A process started without a
 * channel (a terminal, a container, a test) is not affected.
 */
import type { Logger } from './log.js';

export interface RunningProcess {
  /** a clean stop: drain, close connections */
  stop: () => Promise<void>;
  /** the process exits by then even if `stop` has not finished (exit code 1) */
  timeoutMs: number;
  /** when `stop` overran: last things to do before exiting (given `lastWordsMs` at most), e.g. stop the engine */
  onTimeout?: () => Promise<void>;
}

/** How long `onTimeout` may take before the process exits anyway. */
export const LAST_WORDS_MS = 5000;

export class ProcessLifecycle {
  private target: RunningProcess | null = null;
  private ending = false;

  constructor(
    private readonly log: Logger,
    private readonly exit: (code: number) => void = (code) => process.exit(code),
  ) {
    process.on('SIGTERM', () => this.end('SIGTERM received'));
    process.on('SIGINT', () => this.end('SIGINT received'));
    if (process.send) {
      // The channel alone must not keep the process alive.
      process.channel?.unref();
      process.on('disconnect', () => this.end('the supervisor went away'));
      if (!process.connected) queueMicrotask(() => this.end('the supervisor went away'));
    }
  }

  /** From now on an end request runs `p.stop`, bounded by `p.timeoutMs`. */
  running(p: RunningProcess): void {
    this.target = p;
  }

  /** Ends the process: a second request while stopping exits at once. */
  end(reason: string): void {
    if (this.ending) {
      this.log.warn(`${reason} again: exiting without waiting`);
      this.exit(1);
      return;
    }
    this.ending = true;
    const p = this.target;
    if (!p) {
      this.log.info(`${reason} while starting: exiting`);
      this.exit(0);
      return;
    }
    this.log.info(`${reason}: stopping (at most ${Math.round(p.timeoutMs / 1000)} s)`);
    const timer = setTimeout(() => {
      this.log.warn(`did not stop within ${Math.round(p.timeoutMs / 1000)} s (is Redis reachable?): exiting`);
      const last = setTimeout(() => this.exit(1), LAST_WORDS_MS);
      (p.onTimeout ?? (async () => {}))().then(
        () => this.exit(1),
        () => this.exit(1),
      ).finally(() => clearTimeout(last));
    }, p.timeoutMs);
    p.stop().then(
      () => {
        clearTimeout(timer);
        this.exit(0);
      },
      (err: unknown) => {
        clearTimeout(timer);
        this.log.error('shutdown failed', { message: err instanceof Error ? err.message : String(err) });
        this.exit(1);
      },
    );
  }
}
