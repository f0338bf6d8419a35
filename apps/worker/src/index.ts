export { MicroBatcher, type BatcherOptions, type Batched } from './batcher.js';
export { createProcessor, type ProcessorDeps } from './processor.js';
export { pieceLimitSec, startWorker, type RunningWorker, type WorkerOptions } from './worker.js';
