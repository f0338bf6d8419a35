/**
 * Final-state signals over Redis pub/sub, for long polls: workers publish
 * `{taskId}` when a task ends, gateways publish `{jobId}` when a job is
 * cancelled. A waiter resolves on the first matching event or its timeout.
 */
import type { FleetEvent } from '@voxfleet/queue';
import type { Redis } from 'ioredis';

export class EventHub {
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(
    private readonly subscriber: Redis,
    private readonly channel: string,
  ) {}

  async start(): Promise<void> {
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      try {
        const ev = JSON.parse(message) as FleetEvent;
        if (ev.taskId) this.fire(`task:${ev.taskId}`);
        if (ev.jobId) this.fire(`job:${ev.jobId}`);
      } catch {
        /* ignore malformed messages */
      }
    });
    await this.subscriber.subscribe(this.channel);
  }

  private fire(key: string): void {
    const set = this.waiters.get(key);
    if (!set) return;
    this.waiters.delete(key);
    for (const fn of set) fn();
  }

  /**
   * Registers interest in `keys` now (so nothing published from here on is
   * missed); `wait` resolves true on an event, false on timeout or abort.
   */
  listen(keys: string[]): { wait: (ms: number, signal?: AbortSignal) => Promise<boolean>; dispose: () => void } {
    let hit = false;
    let wake: (() => void) | undefined;
    const fn = (): void => {
      hit = true;
      wake?.();
    };
    for (const k of keys) {
      let set = this.waiters.get(k);
      if (!set) this.waiters.set(k, (set = new Set()));
      set.add(fn);
    }
    const dispose = (): void => {
      for (const k of keys) {
        const set = this.waiters.get(k);
        set?.delete(fn);
        if (set?.size === 0) this.waiters.delete(k);
      }
    };
    const wait = (ms: number, signal?: AbortSignal): Promise<boolean> =>
      new Promise<boolean>((resolve) => {
        if (hit) return resolve(true);
        const done = (v: boolean): void => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(v);
        };
        const onAbort = (): void => done(false);
        const timer = setTimeout(() => done(false), ms);
        signal?.addEventListener('abort', onAbort, { once: true });
        wake = () => done(true);
      });
    return { wait, dispose };
  }
}
