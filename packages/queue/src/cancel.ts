/**
 * Cancelling a task wherever it runs. The gateway sets a marker and then
 * publishes; the worker running the task aborts it on the message, and a
 * worker that fetched the task before the message (so never saw it) finds
 * the marker before it starts and again before it completes.
 */
import type { Redis } from 'ioredis';
import { fleetKeys, type FleetKeys } from './keys.js';

export class CancelSignals {
  private readonly keys: FleetKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    /** how long a marker is kept (the task's retention) */
    private readonly ttlSec: number,
  ) {
    this.keys = fleetKeys(prefix);
  }

  async request(taskId: string, reason: string): Promise<void> {
    await this.redis.set(this.keys.cancelled(taskId), '1', 'EX', this.ttlSec);
    await this.redis.publish(this.keys.cancelChannel, JSON.stringify({ taskId, reason }));
  }

  async isCancelled(taskId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.cancelled(taskId))) > 0;
  }

  /** Calls `onCancel` for every cancel request, on `subscriber` (a connection given over to pub/sub). */
  async subscribe(subscriber: Redis, onCancel: (taskId: string, reason: string) => void): Promise<void> {
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.keys.cancelChannel) return;
      try {
        const { taskId, reason } = JSON.parse(message) as { taskId?: unknown; reason?: unknown };
        if (typeof taskId === 'string') onCancel(taskId, typeof reason === 'string' ? reason : 'cancelled');
      } catch {
        /* ignore malformed messages */
      }
    });
    await subscriber.subscribe(this.keys.cancelChannel);
  }
}
