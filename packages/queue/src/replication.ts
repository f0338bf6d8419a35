/**
 * "Acknowledged" means replicated: the gateway answers 202/200 for a
 * submission only once its writes are on `replicas` replicas (Redis `WAIT`).
 * Replication is asynchronous, so without this a job acknowledged just before
 * the primary dies can be missing on the replica Sentinel promotes (Sentinel
 * promotes the replica with the largest replication offset, so a write one
 * replica acknowledged survives a failover while that replica can be promoted).
 *
 * `WAIT` covers the writes of the connection it runs on, up to that
 * connection's last write. A submission writes through two connections (our
 * records, BullMQ's adds), and both are shared by concurrent requests, where a
 * blocking `WAIT` would hold up everyone's commands. So the wait runs on a
 * connection of its own and first bumps a marker key there: Redis orders all
 * writes in one replication stream, so once the marker is replicated, so is
 * every write that had finished before it was sent.
 *
 * Concurrent callers share rounds (group commit): a caller arriving while a
 * round is under way cannot use it (that round's marker may have gone out
 * before the caller's writes finished) and joins the next one, which starts as
 * soon as the current one ends. Under load that is one `WAIT` per round trip,
 * not one per request.
 */
import type { Redis } from 'ioredis';
import { RedisUnavailableError } from './connections.js';
import { fleetKeys } from './keys.js';

export class ReplicationAck {
  private current: Promise<void> | null = null;
  private next: Promise<void> | null = null;
  private readonly marker: string;

  /** `redis`: a connection for this alone (a `client` role one: its command timeout must exceed `timeoutMs`). */
  constructor(
    private readonly redis: Redis | null,
    prefix: string,
    readonly replicas: number,
    private readonly timeoutMs: number,
  ) {
    if (replicas > 0 && !redis) throw new Error('ReplicationAck: waiting for replicas needs a connection');
    this.marker = fleetKeys(prefix).ackMarker;
  }

  /**
   * Resolves once every write this process finished before the call is on at
   * least `replicas` replicas; at once when `replicas` is 0. Rejects with
   * RedisUnavailableError when fewer acknowledge within the timeout (the
   * writes stay on the primary: they are merely not guaranteed to survive a
   * failover), or with the connection's error when Redis is away.
   */
  wait(): Promise<void> {
    if (this.replicas === 0) return Promise.resolve();
    if (!this.current) return (this.current = this.round());
    this.next ??= this.current
      .catch(() => undefined)
      .then(() => {
        this.next = null;
        return (this.current = this.round());
      });
    return this.next;
  }

  private round(): Promise<void> {
    const redis = this.redis!;
    const p = (async () => {
      // Sent in this order on one connection: WAIT's offset is the marker's (or later).
      const [, acked] = await Promise.all([redis.incr(this.marker), redis.wait(this.replicas, this.timeoutMs)]);
      if (acked < this.replicas) {
        throw new RedisUnavailableError(`${acked} of ${this.replicas} replica(s) acknowledged the write within ${this.timeoutMs} ms`);
      }
    })();
    const done = p.finally(() => {
      if (this.current === done) this.current = null;
    });
    // `done` rejects like `p`; whoever awaits it handles that, and the `next` chain catches it.
    return done;
  }
}
