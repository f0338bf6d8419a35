/**
 * The fleet protocol: everything the gateway and the workers must agree on,
 * as typed operations — the task payload and ids, the queue, cancel signals,
 * final-state events, fleet statistics, worker heartbeats and error codes.
 * Redis key names and BullMQ's key layout stay inside this package.
 */
export * from './payload.js';
export * from './errors.js';
export { createRedis, createWorker, describeRedis, withTimeout, isRedisUnavailable, RedisUnavailableError, type RedisRole } from './connections.js';
export { ReplicationAck } from './replication.js';
export { TaskQueue, jobOptions, runFence, QUEUE_STATES, type RunFence, type TaskQueueOptions, type NewTask, type QueueState, type TaskSnapshot, type TaskState } from './tasks.js';
export { CancelSignals } from './cancel.js';
export { FleetEvents, type FleetEvent } from './events.js';
export { FleetStats, type BatchStat, type FleetStatsSnapshot, type TaskOutcomeStatus } from './stats.js';
export { Heartbeats, modelDecision, type HeldModel, type ServedModel, type WorkerHeartbeat } from './heartbeats.js';
