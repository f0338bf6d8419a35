/**
 * Long-poll waiters on the fleet's final-state events (FleetEvents): a
 * waiter on `task:<id>` or `job:<id>` resolves on the first matching event
 * or its timeout.
 */
import type { FleetEvents } from '@voxfleet/queue';
import type { Redis } from 'ioredis';

export class EventHub {
  private readonly waiters = new Map<string, Set<() => void>>();

  /** Subscribes on `subscriber` (a connection given over to pub/sub). */
  async start(events: FleetEvents, subscriber: Redis): Promise<void> {
    await events.subscribe(subscriber, (ev) => this.fire('taskId' in ev ? `task:${ev.taskId}` : `job:${ev.jobId}`));
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
