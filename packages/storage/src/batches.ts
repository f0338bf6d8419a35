/**
 * Batches in Redis (all keys under `<prefix>:batch:<id>…`, expiring with the
 * retention period; the key names are private to this class):
 * - `batch:<id>` JSON meta (status, archive, options, callback state);
 * - `batch:<id>:n` hash of counters (completed, failed, cancelled, skipped,
 *   cached, dedup, audio milliseconds, WER/CER error and length sums, …);
 * - `batch:<id>:entries` list, one JSON line per archive entry in archive order;
 * - `batch:<id>:pending` hash jobId → taskId of the batch's jobs not yet final;
 * - `batches:active` set of batches not finished (the tracker's work list);
 * - `batch:<id>:lock` short lock so one gateway at a time moves a batch's counters.
 * Every write that touches several of them is one MULTI.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ErrorInfo, JobRecord, JobStore } from './records.js';
import { RELEASE_IF_EQUAL } from './lua.js';

export type BatchStatus = 'ingesting' | 'processing' | 'completed' | 'cancelled' | 'failed';
export const FINAL_BATCH_STATUSES: readonly BatchStatus[] = ['completed', 'cancelled', 'failed'];
export const isFinalBatch = (s: BatchStatus): boolean => (FINAL_BATCH_STATUSES as readonly string[]).includes(s);

export type ArchiveFormat = 'zip' | 'tar' | 'tgz';

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
  options: { language: string | null; priority: number | null; reference: 'sidecar' | null; callbackUrl: string | null; model?: string; itn?: boolean | null; hotwords?: string[] | null };
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
export type CounterField = (typeof COUNTER_FIELDS)[number];
export type Counters = Record<CounterField, number>;
/** Increments to apply to a batch's counters. */
export type CounterDelta = Partial<Record<CounterField, number>>;

/** A job created while ingesting: its record, whether it shares a task, whether it still waits for one. */
export interface IngestedJob {
  record: JobRecord;
  attach: boolean;
}

export function newBatchId(): string {
  return `b_${randomBytes(12).toString('base64url')}`;
}

const CHUNK = 1000;

export class BatchStore {
  constructor(
    private readonly redis: Redis,
    private readonly jobs: JobStore,
    private readonly prefix: string,
    readonly retentionSec: number,
  ) {}

  private key(id: string): string {
    return `${this.prefix}:batch:${id}`;
  }
  private countersKey(id: string): string {
    return `${this.prefix}:batch:${id}:n`;
  }
  private entriesKey(id: string): string {
    return `${this.prefix}:batch:${id}:entries`;
  }
  private pendingKey(id: string): string {
    return `${this.prefix}:batch:${id}:pending`;
  }
  private get activeKey(): string {
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

  /** Overwrites the meta (keeping its expiry); a final batch leaves the tracker's work list. */
  async save(meta: BatchMeta): Promise<void> {
    const m = this.redis.multi().set(this.key(meta.id), JSON.stringify(meta), 'KEEPTTL');
    if (isFinalBatch(meta.status)) m.srem(this.activeKey, meta.id);
    await m.exec();
  }

  async counters(id: string): Promise<Counters> {
    const raw = await this.redis.hgetall(this.countersKey(id));
    return Object.fromEntries(COUNTER_FIELDS.map((f) => [f, Number(raw[f] ?? 0)])) as Counters;
  }

  async entries(id: string, start: number, count: number): Promise<EntryLine[]> {
    const raw = await this.redis.lrange(this.entriesKey(id), start, start + count - 1);
    return raw.map((r) => JSON.parse(r) as EntryLine);
  }

  async entryCount(id: string): Promise<number> {
    return this.redis.llen(this.entriesKey(id));
  }

  /** jobId → taskId of the batch's jobs that are not final yet. */
  async pending(id: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.pendingKey(id));
  }

  async pendingCount(id: string): Promise<number> {
    return this.redis.hlen(this.pendingKey(id));
  }

  /** Batches not finished yet. */
  async active(): Promise<string[]> {
    return this.redis.smembers(this.activeKey);
  }

  /** Drops a batch (final, or expired) from the tracker's work list. */
  async deactivate(id: string): Promise<void> {
    await this.redis.srem(this.activeKey, id);
  }

  /** Erases the batch: meta, counters, entry lines, pending set, work-list entry. (Its jobs are erased by the caller.) */
  async erase(id: string): Promise<void> {
    await this.redis.multi().del(this.key(id), this.countersKey(id), this.entriesKey(id), this.pendingKey(id), this.lockKey(id)).srem(this.activeKey, id).exec();
  }

  async requestCancel(id: string): Promise<void> {
    await this.redis.hset(this.countersKey(id), 'cancelRequested', 1);
  }

  async cancelRequested(id: string): Promise<boolean> {
    return Number(await this.redis.hget(this.countersKey(id), 'cancelRequested')) > 0;
  }

  /**
   * Appends entry lines in archive order, with the jobs made from them and
   * the counters they move, in one MULTI; refreshes the ingest heartbeat.
   * Jobs that are not final wait in the pending set until the tracker settles them.
   */
  async append(id: string, lines: EntryLine[], jobs: IngestedJob[], delta: CounterDelta): Promise<void> {
    const m = this.redis.multi();
    for (const { record, attach } of jobs) {
      this.jobs.createInto(m, record, { attach });
      if (!record.final) m.hset(this.pendingKey(id), record.id, record.taskId);
    }
    for (let i = 0; i < lines.length; i += CHUNK) m.rpush(this.entriesKey(id), ...lines.slice(i, i + CHUNK).map((l) => JSON.stringify(l)));
    this.addInto(m, id, delta);
    m.hset(this.countersKey(id), 'beat', Date.now());
    for (const k of [this.countersKey(id), this.entriesKey(id), this.pendingKey(id)]) m.expire(k, this.retentionSec);
    await m.exec();
  }

  /**
   * Settles pending jobs in one MULTI: saves the records that became final,
   * takes `done` out of the pending set, moves the counters and sets how many
   * pending jobs are being processed now (when given).
   */
  async settle(id: string, change: { saved: JobRecord[]; done: string[]; delta: CounterDelta; processing?: number }): Promise<void> {
    const m = this.redis.multi();
    for (const r of change.saved) this.jobs.saveInto(m, r);
    for (let i = 0; i < change.done.length; i += CHUNK) m.hdel(this.pendingKey(id), ...change.done.slice(i, i + CHUNK));
    this.addInto(m, id, change.delta);
    if (change.processing !== undefined) m.hset(this.countersKey(id), 'processing', change.processing);
    await m.exec();
  }

  private addInto(m: ReturnType<Redis['multi']>, id: string, delta: CounterDelta): void {
    for (const [k, v] of Object.entries(delta)) if (v) m.hincrby(this.countersKey(id), k, v);
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
