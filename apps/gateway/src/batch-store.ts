/**
 * Batches in Redis (all keys under `<prefix>:batch:<id>…`, expiring with the retention period):
 * - `batch:<id>` JSON meta (status, archive, options, callback state);
 * - `batch:<id>:n` hash of counters (completed, failed, cancelled, skipped,
 *   cached, dedup, audio milliseconds, WER/CER error and length sums, …);
 * - `batch:<id>:entries` list, one JSON line per archive entry in archive order;
 * - `batch:<id>:pending` hash jobId → taskId of the batch's jobs not yet final;
 * - `batches:active` set of batches not finished (the tracker's work list);
 * - `batch:<id>:lock` short lock so one gateway at a time moves a batch's counters.
 */
import { randomBytes } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import type { ErrorInfo } from '@voxfleet/storage';
import type { ArchiveFormat } from './archive.js';

export type BatchStatus = 'ingesting' | 'processing' | 'completed' | 'cancelled' | 'failed';
export const FINAL_BATCH_STATUSES: readonly BatchStatus[] = ['completed', 'cancelled', 'failed'];

export interface BatchMeta {
  id: string;
  owner: string;
  status: BatchStatus;
  createdAt: number;
  ingestedAt: number | null;
  finishedAt: number | null;
  archive: { filename: string; bytes: number; format: ArchiveFormat; uncompressedBytes: number };
  /** entries listed (files; folders are not entries), audio among them */
  entries: { total: number; audio: number };
  options: { language: string | null; priority: number | null; reference: 'sidecar' | null; callbackUrl: string | null };
  error?: ErrorInfo;
  callback?: { status: 'pending' | 'delivered' | 'failed'; attempts: number; lastError: string | null; deliveredAt: number | null };
}

/** One archive entry as listed (`s`: how it was ingested; a job's own status lives in its record). */
export interface EntryLine {
  /** path inside the archive */
  p: string;
  s: 'job' | 'skipped' | 'failed' | 'cancelled';
  /** job id */
  j?: string;
  /** skip reason */
  r?: string;
  /** error (failed at ingest) */
  e?: ErrorInfo;
}

export const COUNTER_FIELDS = ['ingested', 'jobs', 'completed', 'failed', 'cancelled', 'skipped', 'cached', 'dedup', 'processing', 'audioMs', 'audioDoneMs', 'werE', 'werN', 'cerE', 'cerN', 'scored', 'cancelRequested', 'beat'] as const;
export type Counters = Record<(typeof COUNTER_FIELDS)[number], number>;

export function newBatchId(): string {
  return `b_${randomBytes(12).toString('base64url')}`;
}

const RELEASE_IF_EQUAL = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export class BatchStore {
  constructor(
    readonly redis: Redis,
    private readonly prefix: string,
    readonly retentionSec: number,
  ) {}

  key(id: string): string {
    return `${this.prefix}:batch:${id}`;
  }
  countersKey(id: string): string {
    return `${this.prefix}:batch:${id}:n`;
  }
  entriesKey(id: string): string {
    return `${this.prefix}:batch:${id}:entries`;
  }
  pendingKey(id: string): string {
    return `${this.prefix}:batch:${id}:pending`;
  }
  get activeKey(): string {
    return `${this.prefix}:batches:active`;
  }
  private lockKey(id: string): string {
    return `${this.prefix}:batch:${id}:lock`;
  }

  async create(meta: BatchMeta): Promise<void> {
    await this.redis
      .multi()
      .set(this.key(meta.id), JSON.stringify(meta), 'EX', this.retentionSec)
      .hset(this.countersKey(meta.id), 'beat', Date.now())
      .expire(this.countersKey(meta.id), this.retentionSec)
      .sadd(this.activeKey, meta.id)
      .exec();
  }

  async get(id: string): Promise<BatchMeta | null> {
    const raw = await this.redis.get(this.key(id));
    return raw === null ? null : (JSON.parse(raw) as BatchMeta);
  }

  saveInto(m: ChainableCommander, meta: BatchMeta): void {
    m.set(this.key(meta.id), JSON.stringify(meta), 'KEEPTTL');
    if ((FINAL_BATCH_STATUSES as readonly string[]).includes(meta.status)) m.srem(this.activeKey, meta.id);
  }

  async save(meta: BatchMeta): Promise<void> {
    const m = this.redis.multi();
    this.saveInto(m, meta);
    await m.exec();
  }

  async counters(id: string): Promise<Counters> {
    const raw = await this.redis.hgetall(this.countersKey(id));
    return Object.fromEntries(COUNTER_FIELDS.map((f) => [f, Number(raw[f] ?? 0)])) as Counters;
  }

  /** Keys written per chunk keep the batch's retention. */
  touchInto(m: ChainableCommander, id: string): void {
    for (const k of [this.countersKey(id), this.entriesKey(id), this.pendingKey(id)]) m.expire(k, this.retentionSec);
  }

  async entries(id: string, start: number, count: number): Promise<EntryLine[]> {
    const raw = await this.redis.lrange(this.entriesKey(id), start, start + count - 1);
    return raw.map((r) => JSON.parse(r) as EntryLine);
  }

  async pending(id: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.pendingKey(id));
  }

  async active(): Promise<string[]> {
    return this.redis.smembers(this.activeKey);
  }

  /**
   * Runs `fn` holding the batch's lock. With `wait: false`, returns undefined
   * at once when another holder has it.
   */
  async withLock<T>(id: string, fn: () => Promise<T>, opts: { wait: boolean } = { wait: true }): Promise<T | undefined> {
    const token = randomBytes(8).toString('hex');
    for (let i = 0; ; i++) {
      const ok = await this.redis.set(this.lockKey(id), token, 'PX', 60_000, 'NX');
      if (ok === 'OK') break;
      if (!opts.wait || i > 3000) return undefined;
      await new Promise((r) => setTimeout(r, 20));
    }
    try {
      return await fn();
    } finally {
      await this.redis.eval(RELEASE_IF_EQUAL, 1, this.lockKey(id), token);
    }
  }
}
