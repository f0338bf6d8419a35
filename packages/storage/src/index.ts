export * from './blob.js';
export * from './records.js';
export * from './batches.js';
export * from './retention.js';
