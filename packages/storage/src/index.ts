export * from './blob.js';
export * from './records.js';
export * from './batches.js';
export * from './retention.js';
export * from './s3-blob.js';
export * from './blob-select.js';
