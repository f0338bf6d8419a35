/**
 * The second pass over a stored archive (in the background, after
 * `POST /v1/batches` answered 202): each audio entry becomes a job through
 * the task module, so cache hits complete at once and identical audio —
 * inside the batch or already in flight elsewhere — is transcribed once.
 * Jobs are written and enqueued in chunks (one MULTI and one bulk add per
 * chunk). A cancel or a failure part-way lists the entries never ingested,
 * cancels what was created and finishes the batch.
 */
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import type { GatewayAppConfig, Logger } from '@voxfleet/config';
import type { NewTask } from '@voxfleet/queue';
import type { BatchMeta, BatchStore, BlobStore, CachedResult, CounterDelta, EntryLine, IngestedJob, JobRecord } from '@voxfleet/storage';
import { ApiError } from '../errors.js';
import { probeBlob, type Probe } from '../jobs/probe.js';
import { BATCH_DEFAULT_PRIORITY, cachedFields, type TaskKey, type TaskService } from '../jobs/tasks.js';
import { ArchiveBudget, EntryGuard, readEntries, type ArchiveLimits, type RawEntry } from './archive.js';
import { blobSource } from './archive-source.js';
import type { Manifest, ManifestEntry } from './manifest.js';
import { add, countIngested } from './tally.js';
import type { BatchTracker } from './tracker.js';

export interface IngestDeps {
  config: GatewayAppConfig;
  store: BatchStore;
  blobs: BlobStore;
  tasks: TaskService;
  tracker: BatchTracker;
  limits: ArchiveLimits;
  probe?: Probe;
  log: Logger;
}

type Outcome = 'ingested' | 'cancelled' | 'failed';

/** What an earlier entry of the same batch with the same cache key became. */
type Seen = { kind: 'cached'; hit: CachedResult } | { kind: 'task'; taskId: string; blobKey: string; durationSec: number; format: string; codec: string };

interface ChunkItem {
  line: EntryLine;
  job?: IngestedJob;
  /** a task of its own to enqueue; `claimed`: give the claim back if the task is dropped */
  task?: { task: NewTask; claimed: boolean };
}

const extFormat = (path: string): string => posix.extname(path).slice(1).toLowerCase() || 'unknown';

/** One ingest of one batch. */
export class IngestRun {
  private readonly seen = new Map<string, Seen>();
  private chunk: ChunkItem[] = [];
  /** manifest entries handled (flushed or in `chunk`) */
  private done = 0;
  private lastFlush = Date.now();
  private readonly timing = { put: 0, probe: 0, lookup: 0, flush: 0, start: performance.now() };

  constructor(
    private readonly d: IngestDeps,
    private readonly meta: BatchMeta,
    private readonly manifest: Manifest,
    private readonly archiveKey: string,
    private readonly signal: AbortSignal,
    /** the gateway is shutting down (an abort then is not a cancel) */
    private readonly closing: () => boolean,
  ) {}

  private get modelName(): string {
    return this.d.tasks.modelOf({ model: this.meta.options.model });
  }

  private cancelRequested(): Promise<boolean> {
    return this.signal.aborted ? Promise.resolve(true) : this.d.store.cancelRequested(this.meta.id);
  }

  async run(): Promise<void> {
    let outcome: Outcome = 'ingested';
    let failure: Error | undefined;
    const byIndex = new Map(this.manifest.entries.map((e, i) => [e.index, i]));
    const budget = new ArchiveBudget(this.d.limits, this.meta.archive.format);
    try {
      // One model identity for the whole archive, so its entries deduplicate among themselves.
      const served = await this.d.tasks.served(this.modelName);
      for await (const raw of readEntries(blobSource(this.d.blobs, this.archiveKey), budget)) {
        if (this.signal.aborted) {
          outcome = 'cancelled';
          break;
        }
        const pos = byIndex.get(raw.index);
        if (pos === undefined) continue; // folders
        const m = this.manifest.entries[pos]!;
        if (m.kind === 'skipped') this.chunk.push({ line: { p: m.path, s: 'skipped', r: m.reason ?? 'not audio' } });
        else await this.entry(m, raw, budget, this.d.tasks.key({ md5: m.md5!, language: this.meta.options.language, itn: this.meta.options.itn ?? null, hotwords: this.meta.options.hotwords ?? null, modelName: this.modelName, served, owner: this.meta.owner }));
        this.done = pos + 1;
        if (this.chunk.length >= this.d.config.batch.enqueueChunk || Date.now() - this.lastFlush > 1000) {
          if (await this.cancelRequested()) {
            outcome = 'cancelled';
            break;
          }
          await this.flush();
        }
      }
      if (outcome === 'ingested') {
        if (await this.cancelRequested()) outcome = 'cancelled';
        else await this.flush();
      }
    } catch (err) {
      outcome = !this.closing() && (await this.cancelRequested().catch(() => false)) ? 'cancelled' : 'failed';
      failure = err as Error;
    } finally {
      await this.dropChunk().catch(() => undefined);
      await this.d.blobs.delete(this.archiveKey).catch(() => undefined);
    }
    if (outcome === 'cancelled' && this.closing()) {
      outcome = 'failed';
      failure = new Error('the gateway shut down while ingesting');
    }
    this.logTiming(outcome);
    if (outcome === 'ingested') return this.ingested();
    return this.stopped(outcome, failure);
  }

  /** One audio entry: answered by an earlier identical entry, the cache, a task in flight, or a task of its own. */
  private async entry(m: ManifestEntry, raw: RawEntry, budget: ArchiveBudget, key: TaskKey): Promise<void> {
    const now = Date.now();
    const prior = this.seen.get(key.cacheKey);
    if (prior?.kind === 'cached') return this.pushJob(this.cachedRecord(m, key, prior.hit, now, true), false);
    if (prior?.kind === 'task') {
      const r = this.record(m, key, prior.durationSec, prior.format, prior.codec, now);
      return this.pushJob({ ...r, taskId: prior.taskId, blobKey: prior.blobKey, batch: { ...r.batch!, dedup: true } }, true);
    }
    const t0 = performance.now();
    const claim = await this.d.tasks.claim(key);
    this.timing.lookup += performance.now() - t0;
    if (claim.kind === 'hit') {
      this.seen.set(key.cacheKey, { kind: 'cached', hit: claim.hit });
      return this.pushJob(this.cachedRecord(m, key, claim.hit, now, false), false);
    }
    if (claim.kind === 'attach') {
      // Already in flight elsewhere (another batch or a single upload): attach to it.
      const durationSec = claim.audio?.durationSec ?? 0;
      const blobKey = claim.audio?.blobKey ?? '';
      this.seen.set(key.cacheKey, { kind: 'task', taskId: claim.taskId, blobKey, durationSec, format: extFormat(m.path), codec: 'unknown' });
      return this.pushJob({ ...this.record(m, key, durationSec, extFormat(m.path), 'unknown', now), taskId: claim.taskId, blobKey }, true);
    }
    // Ours to transcribe: extract the entry into the blob store, probe it, enqueue it with the chunk.
    const guard = new EntryGuard(budget, m.path, raw.compressedSize);
    const t1 = performance.now();
    const blob = await this.d.blobs.put(Readable.from(guard.pass(raw.chunks())), { maxBytes: this.d.config.gateway.maxUploadBytes });
    this.timing.put += performance.now() - t1;
    if (blob.md5 !== m.md5) {
      await this.d.blobs.delete(blob.key);
      if (claim.claimed) await this.d.tasks.release(key.cacheKey, claim.taskId);
      throw new Error(`entry ${m.path} changed between passes`);
    }
    let info;
    try {
      const t2 = performance.now();
      info = await probeBlob(this.d.blobs, blob.key, this.d.config.gateway.maxAudioSec, this.d.probe);
      this.timing.probe += performance.now() - t2;
    } catch (err) {
      await this.d.blobs.delete(blob.key);
      if (claim.claimed) await this.d.tasks.release(key.cacheKey, claim.taskId);
      if (!(err instanceof ApiError)) throw err;
      this.chunk.push({ line: { p: m.path, s: 'failed', e: { code: err.code, message: err.message } } });
      return;
    }
    const r: JobRecord = { ...this.record(m, key, info.durationSec, info.format, info.codec, now), taskId: claim.taskId, blobKey: blob.key };
    this.seen.set(key.cacheKey, { kind: 'task', taskId: claim.taskId, blobKey: blob.key, durationSec: r.audio.durationSec, format: info.format, codec: info.codec });
    this.pushJob(r, true, { task: this.d.tasks.task(r, key, BATCH_DEFAULT_PRIORITY), claimed: claim.claimed });
  }

  private record(m: ManifestEntry, key: TaskKey, durationSec: number, format: string, codec: string, now: number): JobRecord {
    const { language, priority, itn, hotwords } = this.meta.options;
    return this.d.tasks.newRecord({
      key,
      audio: { md5: m.md5!, bytes: m.bytes, durationSec, filename: posix.basename(m.path), format, codec },
      language,
      itn: itn ?? null,
      hotwords: hotwords ?? null,
      priority,
      owner: this.meta.owner,
      batch: { id: this.meta.id, path: m.path, ...(m.reference !== undefined ? { reference: m.reference } : {}) },
      now,
    });
  }

  private cachedRecord(m: ManifestEntry, key: TaskKey, hit: CachedResult, now: number, dedup: boolean): JobRecord {
    const r = this.record(m, key, hit.result.durationSec, extFormat(m.path), 'unknown', now);
    return { ...r, ...cachedFields(hit, now), batch: { ...r.batch!, ...(dedup ? { dedup: true } : {}) } };
  }

  private pushJob(record: JobRecord, attach: boolean, task?: ChunkItem['task']): void {
    this.chunk.push({ line: { p: record.batch!.path, s: 'job', j: record.id }, job: { record, attach }, ...(task ? { task } : {}) });
  }

  /** Enqueues the chunk's own tasks, then writes its lines, jobs and counters (one MULTI). */
  private async flush(): Promise<void> {
    const t0 = performance.now();
    const items = this.chunk;
    this.chunk = [];
    this.lastFlush = Date.now();
    try {
      if (items.length === 0) return;
      await this.d.tasks.enqueue(this.modelName, items.flatMap((i) => (i.task ? [i.task.task] : [])));
      const delta: CounterDelta = { ingested: items.length };
      const jobs: IngestedJob[] = [];
      for (const it of items) {
        if (it.line.s === 'skipped') add(delta, 'skipped');
        else if (it.line.s === 'failed') add(delta, 'failed');
        if (!it.job) continue;
        jobs.push(it.job);
        countIngested(delta, it.job.record);
      }
      await this.d.store.append(this.meta.id, items.map((i) => i.line), jobs, delta);
    } finally {
      this.timing.flush += performance.now() - t0;
    }
  }

  /** Unflushed own tasks: give back their claims and blobs. */
  private async dropChunk(): Promise<void> {
    for (const it of this.chunk) {
      if (!it.task) continue;
      if (it.task.claimed) await this.d.tasks.release(it.task.task.payload.cacheKey, it.task.task.id);
      await this.d.blobs.delete(it.task.task.payload.blobKey);
    }
    this.done -= this.chunk.length;
    this.chunk = [];
  }

  private logTiming(outcome: Outcome): void {
    const ms = (x: number): number => Math.round(x);
    const t = this.timing;
    this.d.log.info('batch ingest pass done', { batch: this.meta.id, outcome, entries: this.manifest.entries.length, ms: ms(performance.now() - t.start), putMs: ms(t.put), probeMs: ms(t.probe), lookupMs: ms(t.lookup), flushMs: ms(t.flush) });
  }

  private async ingested(): Promise<void> {
    const { store, tracker } = this.d;
    await store.withLock(this.meta.id, async () => {
      const cur = (await store.get(this.meta.id)) ?? this.meta;
      await store.save({ ...cur, status: 'processing', ingestedAt: Date.now() });
    });
    await tracker.reconcile(this.meta.id, true);
  }

  /** Cancelled or failed part-way: list the entries never ingested, cancel what was created, finish the batch. */
  private async stopped(outcome: 'cancelled' | 'failed', failure: Error | undefined): Promise<void> {
    const rest = this.manifest.entries.slice(this.done);
    const e = failure ? { code: 'ingest_failed', message: failure instanceof ApiError ? failure.message : `ingest failed: ${failure.message}` } : undefined;
    if (rest.length > 0) {
      const lines = rest.map((r): EntryLine => (outcome === 'failed' ? { p: r.path, s: 'failed', e: e! } : { p: r.path, s: 'cancelled' }));
      await this.d.store.append(this.meta.id, lines, [], { [outcome]: rest.length, ingested: rest.length });
    }
    if (failure && outcome === 'failed') this.d.log.error('batch ingest failed', { batch: this.meta.id, message: failure.message });
    await this.d.tracker.sweep(this.meta.id);
    await this.d.tracker.finishLocked(this.meta.id, (cur) => ({
      ...cur,
      status: outcome,
      ingestedAt: cur.ingestedAt ?? Date.now(),
      ...(e && outcome === 'failed' ? { error: e } : {}),
    }));
  }
}
