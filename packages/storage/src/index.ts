export * from './blob.js';
export * from './records.js';
export * from './retention.js';
