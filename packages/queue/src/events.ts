/**
 * Final-state events over Redis pub/sub, for long polls: a worker announces
 * `{taskId}` when a task ends, a gateway `{jobId}` when it finalises a job
 * itself (a cancel). Subscribers get typed events; malformed messages are
 * dropped.
 */
import type { Redis } from 'ioredis';
import { fleetKeys } from './keys.js';

export type FleetEvent = { taskId: string } | { jobId: string };

export class FleetEvents {
  private readonly channel: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.channel = fleetKeys(prefix).eventsChannel;
  }

  async taskFinished(taskId: string): Promise<void> {
    await this.redis.publish(this.channel, JSON.stringify({ taskId } satisfies FleetEvent));
  }

  async jobFinished(jobId: string): Promise<void> {
    await this.redis.publish(this.channel, JSON.stringify({ jobId } satisfies FleetEvent));
  }

  /** Delivers every event on `subscriber` (a connection given over to pub/sub) to `handler`. */
  async subscribe(subscriber: Redis, handler: (event: FleetEvent) => void): Promise<void> {
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      const ev = parseEvent(message);
      if (ev) handler(ev);
    });
    await subscriber.subscribe(this.channel);
  }
}

function parseEvent(message: string): FleetEvent | null {
  try {
    const v = JSON.parse(message) as Record<string, unknown>;
    if (typeof v.taskId === 'string') return { taskId: v.taskId };
    if (typeof v.jobId === 'string') return { jobId: v.jobId };
  } catch {
    /* not JSON */
  }
  return null;
}
