/**
 * Retention: job records and task outcomes expire in Redis on their own (TTL
 * = retention); this removes what has no TTL — the job index entries and the
 * blobs on disk — once they are older than the retention period.
 */
import type { Redis } from 'ioredis';
import type { BlobStore } from './blob.js';
import type { JobStore } from './records.js';

export interface CleanupReport {
  indexEntries: number;
  blobs: number;
  blobBytes: number;
}

export async function cleanupExpired(opts: {
  jobs: JobStore;
  blobs: BlobStore;
  retentionSec: number;
  now?: number;
}): Promise<CleanupReport> {
  const cutoff = (opts.now ?? Date.now()) - opts.retentionSec * 1000;
  const indexEntries = await opts.jobs.pruneIndex(cutoff);
  let blobs = 0;
  let blobBytes = 0;
  for (;;) {
    const old = await opts.blobs.listOlderThan(cutoff, 500);
    for (const b of old) {
      await opts.blobs.delete(b.key);
      blobs++;
      blobBytes += b.bytes;
    }
    if (old.length < 500) break;
  }
  return { indexEntries, blobs, blobBytes };
}

/** One process at a time runs the retention sweep (a short Redis lock; the others skip that round). */
export class RetentionLock {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async run(fn: () => Promise<void>): Promise<boolean> {
    const key = `${this.prefix}:lock:cleanup`;
    if ((await this.redis.set(key, String(process.pid), 'EX', 300, 'NX')) !== 'OK') return false;
    try {
      await fn();
      return true;
    } finally {
      await this.redis.del(key);
    }
  }
}
