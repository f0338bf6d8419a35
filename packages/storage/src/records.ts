/**
 * Records kept in Redis:
 * - JobStore: public job records (what `GET /v1/jobs/:id` shows), the
 *   creation-time index used for listing and retention, which records are
 *   attached to which task, and Idempotency-Key mappings;
 * - ResultStore: the outcome of each task (a BullMQ job run once for all
 *   identical uploads in flight together), written by the worker run that
 *   owns the task (`commit`);
 * - ResultCache: transcripts by cache key (MD5 + model + output options), and
 *   the task currently in flight for a cache key (in-flight dedup).
 * Every key expires: records and outcomes after the retention period, cache
 * entries after the cache TTL.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import { COMMIT_OUTCOME, RELEASE_IF_EQUAL } from './lua.js';

export type JobStatus = 'queued' | 'processing' | 'completed' | 'failed' | 'cancelled';
export const JOB_STATUSES: readonly JobStatus[] = ['queued', 'processing', 'completed', 'failed', 'cancelled'];
export const FINAL_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];

export interface Segment {
  start: number;
  end: number;
  text: string;
}

export interface TranscriptResult {
  text: string;
  /** requested language, or null when the model chose */
  language: string | null;
  segments: Segment[];
  durationSec: number;
  /** model that produced the transcript (as the engine reports it) */
  modelId: string;
  /** what the model detected, where it tags its output (SenseVoice: e.g. NEUTRAL, Speech) */
  emotion?: string;
  event?: string;
}

export interface ProcessingInfo {
  workerId: string;
  /** size of every inference batch this task's audio was part of */
  batchSizes: number[];
  inferenceMs: number;
  /** BullMQ attempts made (1 = first try) */
  attempts: number;
  /** latency split recorded by the worker (ms): enqueued → picked up, waiting for decoded audio, waiting in the batcher, picked up → done */
  queueMs?: number;
  decodeMs?: number;
  batchWaitMs?: number;
  workerMs?: number;
  /** pieces sent to the batcher (long audio: speech segments) */
  segments?: number;
}

export interface ErrorInfo {
  code: string;
  message: string;
}

export type TaskOutcome =
  | { status: 'completed'; result: TranscriptResult; startedAt: number; completedAt: number; processing: ProcessingInfo }
  | { status: 'failed'; error: ErrorInfo; startedAt: number | null; completedAt: number }
  | { status: 'cancelled'; completedAt: number };

export interface AudioInfoRecord {
  md5: string;
  bytes: number;
  durationSec: number;
  filename: string;
  format: string;
  codec: string;
}

export interface JobRecord {
  id: string;
  /** BullMQ job that transcribes this record's audio (shared by identical uploads) */
  taskId: string;
  cacheKey: string;
  blobKey: string;
  /** last known status; `final` records never change again */
  status: JobStatus;
  final: boolean;
  cached: boolean;
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
  audio: AudioInfoRecord;
  language: string | null;
  /** inverse text normalisation asked for (SenseVoice); absent or null: the model's default */
  itn?: boolean | null;
  /** hotwords for the model's prompt (Fun-ASR-Nano); absent: none */
  hotwords?: string[];
  priority: number | null;
  /** hash of the API key that created the job ('' when auth is off) */
  owner: string;
  /** the model (name) it is transcribed with; absent on records from before models were routed: the default model */
  model?: string;
  result?: TranscriptResult;
  error?: ErrorInfo;
  processing?: ProcessingInfo;
  /** set for jobs created from an archive entry (`POST /v1/batches`) */
  batch?: BatchRef;
}

export interface BatchRef {
  id: string;
  /** the entry's path inside the archive */
  path: string;
  /** reference transcript (sidecar .txt) to score the result against */
  reference?: string;
  /** shares the task of an earlier entry of the same batch with the same audio */
  dedup?: boolean;
}

export interface CachedResult {
  result: TranscriptResult;
  taskId: string;
  processing?: ProcessingInfo;
  cachedAt: number;
}

function parseJson<T>(raw: string | null): T | null {
  return raw === null ? null : (JSON.parse(raw) as T);
}

export interface ListPage {
  ids: string[];
  nextCursor: string | null;
}

export class JobStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly retentionSec: number,
  ) {}

  private key(id: string): string {
    return `${this.prefix}:job:${id}`;
  }
  private get indexKey(): string {
    return `${this.prefix}:jobs`;
  }
  private attachKey(taskId: string): string {
    return `${this.prefix}:task:${taskId}:jobs`;
  }

  async create(record: JobRecord, opts: { attach: boolean }): Promise<void> {
    const m = this.redis.multi();
    this.createInto(m, record, opts);
    await m.exec();
  }

  /** Queues the commands that create `record` on a MULTI/pipeline (many records in one round trip). */
  createInto(m: ChainableCommander, record: JobRecord, opts: { attach: boolean }): void {
    m.set(this.key(record.id), JSON.stringify(record), 'EX', this.retentionSec).zadd(this.indexKey, record.createdAt, record.id);
    if (opts.attach) m.sadd(this.attachKey(record.taskId), record.id).expire(this.attachKey(record.taskId), this.retentionSec);
  }

  /** Queues an overwrite of `record` (keeping its expiry) on a MULTI/pipeline. */
  saveInto(m: ChainableCommander, record: JobRecord): void {
    m.set(this.key(record.id), JSON.stringify(record), 'KEEPTTL');
  }

  async get(id: string): Promise<JobRecord | null> {
    return parseJson<JobRecord>(await this.redis.get(this.key(id)));
  }

  async getMany(ids: string[]): Promise<(JobRecord | null)[]> {
    if (ids.length === 0) return [];
    const raw = await this.redis.mget(...ids.map((id) => this.key(id)));
    return raw.map((r) => parseJson<JobRecord>(r));
  }

  /** Overwrites a record, keeping its expiry. */
  async save(record: JobRecord): Promise<void> {
    await this.redis.set(this.key(record.id), JSON.stringify(record), 'KEEPTTL');
  }

  /** Removes a record from its task; returns how many records are still attached. */
  async detach(taskId: string, id: string): Promise<number> {
    const [, count] = (await this.redis.multi().srem(this.attachKey(taskId), id).scard(this.attachKey(taskId)).exec()) ?? [];
    return Number(count?.[1] ?? 0);
  }

  /**
   * Erases a record: the record, its index entry and its place in its task's
   * attach set. Returns how many records are still attached to the task.
   */
  async erase(record: JobRecord): Promise<number> {
    const r = await this.redis
      .multi()
      .del(this.key(record.id))
      .zrem(this.indexKey, record.id)
      .srem(this.attachKey(record.taskId), record.id)
      .scard(this.attachKey(record.taskId))
      .exec();
    return Number(r?.[3]?.[1] ?? 0);
  }

  async attached(taskId: string): Promise<string[]> {
    return this.redis.smembers(this.attachKey(taskId));
  }

  /** Newest first. `cursor` is opaque (from a previous page). */
  async list(limit: number, cursor: string | null): Promise<ListPage> {
    let maxScore = '+inf';
    let afterId: string | null = null;
    if (cursor) {
      const m = /^(\d+)\.([A-Za-z0-9_-]+)$/.exec(Buffer.from(cursor, 'base64url').toString());
      if (!m) throw new RangeError('invalid cursor');
      maxScore = m[1]!;
      afterId = m[2]!;
    }
    const ids: string[] = [];
    let offset = 0;
    let last: { id: string; score: string } | null = null;
    for (;;) {
      const page = await this.redis.zrevrangebyscore(this.indexKey, maxScore, '-inf', 'WITHSCORES', 'LIMIT', offset, limit + 1);
      if (page.length === 0) break;
      offset += page.length / 2;
      for (let i = 0; i < page.length; i += 2) {
        const id = page[i]!;
        const score = page[i + 1]!;
        // Same-score entries come in descending id order; skip those up to the cursor.
        if (afterId !== null && score === maxScore && id >= afterId) continue;
        if (ids.length === limit) return { ids, nextCursor: last ? Buffer.from(`${last.score}.${last.id}`).toString('base64url') : null };
        ids.push(id);
        last = { id, score };
      }
    }
    return { ids, nextCursor: null };
  }

  /** The cursor of a page that ends with `record` (see `list`). */
  cursorAfter(record: JobRecord): string {
    return Buffer.from(`${record.createdAt}.${record.id}`).toString('base64url');
  }

  /** Drops index entries created before `cutoffMs` (their records expire on their own). */
  async pruneIndex(cutoffMs: number): Promise<number> {
    return this.redis.zremrangebyscore(this.indexKey, '-inf', `(${cutoffMs}`);
  }

  private idemKey(scope: string, key: string): string {
    return `${this.prefix}:idem:${scope}:${Buffer.from(key).toString('base64url')}`;
  }

  /** Reserves an Idempotency-Key; returns the existing value (`pending` or a job id) when already taken. */
  async claimIdempotency(scope: string, key: string, ttlSec: number): Promise<string | null> {
    const k = this.idemKey(scope, key);
    const ok = await this.redis.set(k, 'pending', 'EX', ttlSec, 'NX');
    return ok === 'OK' ? null : ((await this.redis.get(k)) ?? 'pending');
  }

  async resolveIdempotency(scope: string, key: string, jobId: string | null, ttlSec: number): Promise<void> {
    const k = this.idemKey(scope, key);
    if (jobId === null) await this.redis.del(k);
    else await this.redis.set(k, jobId, 'EX', ttlSec);
  }
}

/**
 * A key that must still hold `token` for a write to land: a run's hold on its
 * task (the worker passes BullMQ's job lock and its run's lock token; opaque here).
 */
export interface WriteFence {
  key: string;
  token: string;
}

/** A cache entry as a write that a script makes together with others (`ResultCache.entry`). */
export interface CacheEntryWrite {
  key: string;
  value: string;
  ttlSec: number;
}

/**
 * What `ResultStore.commit` did: `written`; `replaced`: written over a failed
 * outcome another run wrote (a later attempt succeeded: the task moves from
 * failed to completed); `lost`: the fence holds another run's token (the task
 * was taken over), nothing written; `done`: the task has a final outcome
 * already (completed, or failed/cancelled by another run), nothing written.
 * The run whose write landed gets `written`/`replaced` again if its command
 * is sent again (a reply lost, re-sent after a reconnect).
 */
export type CommitResult = 'written' | 'replaced' | 'lost' | 'done';

const COMMIT_RESULTS: Record<number, CommitResult> = { 1: 'written', 2: 'replaced', 0: 'lost', [-1]: 'done' };

export class ResultStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly retentionSec: number,
  ) {}

  private key(taskId: string): string {
    return `${this.prefix}:outcome:${taskId}`;
  }
  /** which run wrote the outcome (its token) and what its write answered (COMMIT_OUTCOME); expires with the outcome */
  private runKey(taskId: string): string {
    return `${this.key(taskId)}:run`;
  }

  /** Writes an outcome unfenced (the gateway: a task taken back from the queue before any run), forgetting which run wrote the one before. */
  async set(taskId: string, outcome: TaskOutcome): Promise<void> {
    await this.redis.multi().set(this.key(taskId), JSON.stringify(outcome), 'EX', this.retentionSec).del(this.runKey(taskId)).exec();
  }

  /**
   * Writes a run's outcome (and, with `cache`, its transcript's cache entry)
   * only while `fence` holds the run's token or is gone with no outcome
   * written (a lock that lapsed with nobody taking the task over), and never
   * over a final outcome another run wrote, but a completed one over a failed
   * one (`replaced`): a run that lost its task (a worker cut off until its
   * lock expired, whose task another worker ran again) must not replace what
   * the task's owner wrote. The same write sent twice answers the same.
   * Checks and writes are one script (COMMIT_OUTCOME), so nothing lands in
   * between. `fence` null: not fenced (a run outside BullMQ, e.g. a test).
   * `counters`: a hash (FleetStats' counters) the landed write counts itself in, in the same script.
   */
  async commit(taskId: string, outcome: TaskOutcome, opts: { fence: WriteFence | null; cache?: CacheEntryWrite; counters?: string }): Promise<CommitResult> {
    const { fence, cache, counters } = opts;
    const keys = [this.key(taskId), this.runKey(taskId), ...(counters ? [counters] : []), ...(fence ? [fence.key] : []), ...(cache ? [cache.key] : [])];
    const args = [JSON.stringify(outcome), this.retentionSec, fence?.token ?? '', cache?.value ?? '', cache?.ttlSec ?? 0, outcome.status, counters ? '1' : ''];
    const r = Number(await this.redis.eval(COMMIT_OUTCOME, keys.length, ...keys, ...args));
    const result = COMMIT_RESULTS[r];
    if (!result) throw new Error(`unexpected answer from the outcome script: ${r}`);
    return result;
  }

  async get(taskId: string): Promise<TaskOutcome | null> {
    return parseJson<TaskOutcome>(await this.redis.get(this.key(taskId)));
  }

  async getMany(taskIds: string[]): Promise<(TaskOutcome | null)[]> {
    if (taskIds.length === 0) return [];
    const raw = await this.redis.mget(...taskIds.map((id) => this.key(id)));
    return raw.map((r) => parseJson<TaskOutcome>(r));
  }

  async delete(taskId: string): Promise<void> {
    await this.redis.del(this.key(taskId), this.runKey(taskId));
  }
}


export class ResultCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly ttlSec: number,
  ) {}

  private key(cacheKey: string): string {
    return `${this.prefix}:cache:${cacheKey}`;
  }
  private inflightKey(cacheKey: string): string {
    return `${this.prefix}:inflight:${cacheKey}`;
  }

  async get(cacheKey: string): Promise<CachedResult | null> {
    return parseJson<CachedResult>(await this.redis.get(this.key(cacheKey)));
  }

  async set(cacheKey: string, value: CachedResult): Promise<void> {
    const e = this.entry(cacheKey, value);
    await this.redis.set(e.key, e.value, 'EX', e.ttlSec);
  }

  /** The write of a cached transcript, for `ResultStore.commit` to make together with the task's outcome. */
  entry(cacheKey: string, value: CachedResult): CacheEntryWrite {
    return { key: this.key(cacheKey), value: JSON.stringify(value), ttlSec: this.ttlSec };
  }

  /** Forgets a cached transcript (an erased job's). */
  async delete(cacheKey: string): Promise<void> {
    await this.redis.del(this.key(cacheKey));
  }

  /** The task transcribing this cache key right now, if any. */
  async inflight(cacheKey: string): Promise<string | null> {
    return this.redis.get(this.inflightKey(cacheKey));
  }

  /** Registers `taskId` as the in-flight task unless another one is; returns the winner. */
  async claimInflight(cacheKey: string, taskId: string, ttlSec: number): Promise<string> {
    const ok = await this.redis.set(this.inflightKey(cacheKey), taskId, 'EX', ttlSec, 'NX');
    if (ok === 'OK') return taskId;
    return (await this.redis.get(this.inflightKey(cacheKey))) ?? (await this.claimInflight(cacheKey, taskId, ttlSec));
  }

  /**
   * The cached result, or else the in-flight task for this key: `candidate`
   * when this caller won the claim (it must create the task), or the task
   * another upload already runs (attach to it).
   */
  async lookupOrClaim(
    cacheKey: string,
    candidate: string,
    ttlSec: number,
  ): Promise<{ hit: CachedResult } | { hit: null; taskId: string; claimed: boolean }> {
    const cached = await this.get(cacheKey);
    if (cached) return { hit: cached };
    const taskId = await this.claimInflight(cacheKey, candidate, ttlSec);
    if (taskId === candidate) {
      // A task that finished between the lookup and the claim wrote the cache before it let go of the claim.
      const late = await this.get(cacheKey);
      if (late) {
        await this.releaseInflight(cacheKey, candidate);
        return { hit: late };
      }
    }
    return { hit: null, taskId, claimed: taskId === candidate };
  }

  /** Clears the in-flight marker if it still names `taskId`. */
  async releaseInflight(cacheKey: string, taskId: string): Promise<void> {
    await this.redis.eval(RELEASE_IF_EQUAL, 1, this.inflightKey(cacheKey), taskId);
  }
}
