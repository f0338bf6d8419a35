/**
 * What "acknowledged" means for a submission (`POST /v1/jobs`, `POST /v1/batches`):
 * its writes are on the Redis replicas the configuration asks for
 * (VOXFLEET_REDIS_ACK_REPLICAS; ReplicationAck in @voxfleet/queue). When they
 * are not in time, the answer is a 503 that says so: unlike the other 503s,
 * something was stored — the job is on the primary and may run — but it is not
 * guaranteed to survive a failover, so the client is not told it was accepted.
 */
import type { ReplicationAck } from '@voxfleet/queue';
import { ApiError, RETRY_AFTER_SEC } from '../errors.js';

export function acknowledgement(ack: ReplicationAck): () => Promise<void> {
  return async () => {
    try {
      await ack.wait();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new ApiError(
        503,
        'service_unavailable',
        `not acknowledged: the request was stored but has not reached the ${ack.replicas} Redis replica(s) required (${why}); it may still run, but could be lost in a failover; retry shortly`,
        { 'Retry-After': String(RETRY_AFTER_SEC) },
      );
    }
  };
}
