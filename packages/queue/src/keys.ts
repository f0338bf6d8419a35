/**
 * The fleet's own Redis key names and pub/sub channels. Private to this
 * package: the gateway and the workers use the typed operations around them
 * (CancelSignals, FleetEvents, FleetStats, Heartbeats), never the names.
 */
export function fleetKeys(prefix: string) {
  return {
    /** per-worker heartbeat (JSON WorkerHeartbeat, with a TTL) */
    worker: (id: string) => `${prefix}:workers:${id}`,
    /** sorted set of worker ids by heartbeat expiry (ms): lists live workers without scanning the keyspace */
    workerIndex: `${prefix}:workers`,
    /** the model identity a queue's workers last announced (no TTL: survives a restart of the fleet) */
    served: (queue: string) => `${prefix}:served:${queue}`,
    /** fleet-wide counters (hash) */
    stats: `${prefix}:stats`,
    /** histogram of inference batch sizes (hash: size → count) */
    batchSizes: `${prefix}:stats:batch_sizes`,
    /** runs started per task (a task that runs twice shows 2) */
    taskRuns: (taskId: string) => `${prefix}:task-runs:${taskId}`,
    /** FleetEvent JSON: a task or a job reached a final state */
    eventsChannel: `${prefix}:events`,
    /** `{"taskId","reason"}`: abort the task wherever it is running */
    cancelChannel: `${prefix}:cancel`,
    /** set before the cancel message is published: a worker that missed the message (it had fetched the
     * task but not started it yet) still sees the cancel before it completes the task */
    cancelled: (taskId: string) => `${prefix}:cancelled:${taskId}`,
    /** a counter the gateway bumps before Redis `WAIT`, so the wait covers every write that finished before it (ReplicationAck) */
    ackMarker: `${prefix}:ack-marker`,
  };
}
export type FleetKeys = ReturnType<typeof fleetKeys>;
