/**
 * Batches: an uploaded archive whose audio entries become jobs.
 *
 * `createBatch` (in the request): sniff the format, validate the whole
 * archive in a first pass that writes nothing (manifest.ts), then store the
 * batch and answer 202 `ingesting`. `ingest` (in the background): a second
 * pass over the stored archive turns entries into jobs through the job
 * service's own pieces (cache key, result cache, in-flight task claims, task
 * attach sets), so cache hits complete at once and identical audio — inside
 * the batch or already in flight elsewhere — is transcribed once. Jobs are
 * written and enqueued in chunks (one MULTI and one `addBulk` per chunk).
 *
 * A tracker (every second, and on each GET) moves the batch's counters as
 * tasks finish, finishes the batch and fires its callback. Everything is in
 * Redis (batch-store.ts), so any gateway can answer for any batch.
 */
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import type { Logger } from '@voxfleet/config';
import { cacheKeyFor, jobOptions, taskIdFor, type TranscribeJob } from '@voxfleet/queue';
import type { CachedResult, JobRecord, StoredBlob, TaskOutcome } from '@voxfleet/storage';
import yazl from 'yazl';
import { randomBytes } from 'node:crypto';
import { ArchiveBudget, EntryGuard, readEntries, sniffArchive, type ArchiveLimits } from './archive.js';
import { FINAL_BATCH_STATUSES, type BatchStore, newBatchId, type BatchMeta, type BatchStatus, type Counters, type EntryLine } from './batch-store.js';
import { checkCallbackUrl, deliverCallback } from './callback.js';
import { ApiError, notFound } from './errors.js';
import { inspectArchive, type Manifest, type ManifestEntry } from './manifest.js';
import { parseFormat, renderTranscript, type TranscriptFormat } from './render.js';
import { scoreTranscript, type Score } from './scoring.js';
import { DEFAULT_PRIORITY, cachedFields, finalRecord, newJobId, parseLanguage, parsePriority, type JobService, type ServiceDeps } from './service.js';

/** Batch jobs rank behind single uploads of default priority, so interactive requests are not stuck behind an archive. */
export const BATCH_DEFAULT_PRIORITY = 75;
const LOST_CHECK_MS = 30_000;
const INGEST_STALE_MS = 120_000;

export interface BatchDeps extends Omit<ServiceDeps, 'probe'> {
  service: JobService;
  store: BatchStore;
  /** the callback signing secret for an owner (null: callbacks unavailable) */
  secretFor: (owner: string) => string | null;
  log: Logger;
}

export interface NewBatchInput {
  blob: StoredBlob;
  filename: string;
  fields: Record<string, string | undefined>;
  owner: string;
}

export type EntryStatus = 'queued' | 'processing' | 'completed' | 'failed' | 'cancelled' | 'skipped' | 'cached';
export const ENTRY_STATUSES: readonly EntryStatus[] = ['queued', 'processing', 'completed', 'failed', 'cancelled', 'skipped', 'cached'];

export interface BatchView {
  id: string;
  status: BatchStatus;
  createdAt: string;
  ingestedAt: string | null;
  finishedAt: string | null;
  archive: BatchMeta['archive'];
  options: BatchMeta['options'];
  /** files in the archive (folders excluded) and the audio among them */
  entries: { total: number; audio: number; ingested: number };
  /** every entry is in exactly one of these; `cached`: completed from the result cache, nothing transcribed */
  counts: Record<EntryStatus, number>;
  /** entries that shared the transcription of an identical earlier entry */
  deduplicated: number;
  audio: { totalSec: number; doneSec: number };
  /** finished entries (of all statuses) over all entries, 0–100 */
  progress: number;
  throughput: { jobsPerSec: number; audioSecPerSec: number };
  etaSec: number | null;
  score?: { wer: number | null; cer: number | null; scored: number; words: { errors: number; total: number }; chars: { errors: number; total: number } };
  callback?: BatchMeta['callback'] & { url: string };
  error?: BatchMeta['error'];
  links: { self: string; jobs: string; results: string };
}

export interface BatchEntryView {
  index: number;
  path: string;
  status: EntryStatus;
  jobId?: string;
  cached?: boolean;
  deduplicated?: boolean;
  durationSec?: number;
  text?: string;
  reason?: string;
  error?: { code: string; message: string };
  reference?: string;
  score?: Score;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;
const isFinal = (s: BatchStatus): boolean => (FINAL_BATCH_STATUSES as readonly string[]).includes(s);

type Delta = Partial<Record<keyof Counters, number>>;
function add(d: Delta, k: keyof Counters, n = 1): void {
  d[k] = (d[k] ?? 0) + n;
}
function addScore(d: Delta, r: JobRecord): void {
  if (r.status !== 'completed' || !r.result || r.batch?.reference === undefined) return;
  const s = scoreTranscript(r.result.text, r.batch.reference);
  add(d, 'werE', s.words.errors);
  add(d, 'werN', s.words.total);
  add(d, 'cerE', s.chars.errors);
  add(d, 'cerN', s.chars.total);
  add(d, 'scored');
}
/** Counters for a job leaving the pending set in its final state. */
function countFinal(d: Delta, r: JobRecord): void {
  add(d, r.status === 'completed' ? 'completed' : r.status === 'cancelled' ? 'cancelled' : 'failed');
  if (r.status === 'completed') {
    add(d, 'audioDoneMs', Math.round(r.audio.durationSec * 1000));
    addScore(d, r);
  }
}

/** Where an entry's transcript goes in the results zip: its path with the transcript's extension. */
export function transcriptPath(path: string, format: TranscriptFormat, used: Set<string>): string {
  const ext = posix.extname(path);
  let name = `${ext ? path.slice(0, -ext.length) : path}.${format}`;
  if (used.has(name)) name = `${path}.${format}`;
  for (let i = 2; used.has(name); i++) name = `${path}.${i}.${format}`;
  used.add(name);
  return name;
}

function csvCell(v: unknown): string {
  const s = v === undefined || v === null ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

type Seen = { kind: 'cached'; hit: CachedResult } | { kind: 'task'; taskId: string; blobKey: string; durationSec: number; format: string; codec: string };

interface ChunkItem {
  line: EntryLine;
  record?: JobRecord;
  attach?: boolean;
  /** own task to enqueue */
  task?: { taskId: string; payload: TranscribeJob; claimed: boolean };
}

export class BatchService {
  private readonly ingests = new Map<string, { ctrl: AbortController; done: Promise<void> }>();
  private readonly deliveries = new Set<AbortController>();
  private readonly lostCheckedAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private closing = false;
  private ticking = false;

  constructor(private readonly d: BatchDeps) {}

  private get limits(): ArchiveLimits {
    const b = this.d.config.batch;
    return { maxEntries: b.maxEntries, maxTotalBytes: b.maxTotalBytes, maxEntryBytes: this.d.config.gateway.maxUploadBytes, maxRatio: b.maxRatio, ratioMinBytes: b.ratioMinBytes };
  }

  /** Starts the tracker (every `intervalMs`). */
  start(intervalMs = 1000): void {
    this.timer = setInterval(() => void this.tick(), intervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.closing = true;
    for (const { ctrl } of this.ingests.values()) ctrl.abort(new Error('gateway shutting down'));
    for (const c of this.deliveries) c.abort();
    await Promise.all([...this.ingests.values()].map((i) => i.done.catch(() => undefined)));
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      for (const id of await this.d.store.active()) await this.reconcile(id, false);
    } catch (err) {
      this.d.log.warn('batch tracker failed', { message: (err as Error).message });
    } finally {
      this.ticking = false;
    }
  }

  // ── create ────────────────────────────────────────────────────────────

  async createBatch(input: NewBatchInput): Promise<BatchView> {
    const { blob, fields } = input;
    const { blobs, config, store } = this.d;
    let meta: BatchMeta;
    let manifest: Manifest;
    try {
      const language = parseLanguage(fields.language);
      const priority = parsePriority(fields.priority);
      const refField = (fields.reference ?? '').trim().toLowerCase();
      if (refField !== '' && refField !== 'sidecar' && refField !== 'none') throw new ApiError(400, 'invalid_reference', 'reference must be "sidecar" (a same-named .txt beside each audio file) or "none"');
      const callbackRaw = (fields.callback_url ?? '').trim();
      let callbackUrl: string | null = null;
      if (callbackRaw !== '') {
        callbackUrl = (await checkCallbackUrl(callbackRaw, config.batch.callbackAllowPrivate)).toString();
        if (this.d.secretFor(input.owner) === null) {
          throw new ApiError(400, 'callback_unavailable', 'callbacks need a signing secret: set VOXFLEET_CALLBACK_SECRET on the gateway (auth is off)');
        }
      }
      if (blob.bytes === 0) throw new ApiError(400, 'empty_archive', 'the uploaded archive is empty (0 bytes)');
      if (!blobs.localPath) throw new ApiError(500, 'internal', 'blob store has no local files to read archives from');
      const path = blobs.localPath(blob.key);
      const format = await sniffArchive(path);
      if (!format) throw new ApiError(415, 'not_an_archive', 'the upload is not a zip, tar or tar.gz archive (recognised by content)');
      manifest = await inspectArchive(path, format, this.limits, { sidecar: refField === 'sidecar' });
      meta = {
        id: newBatchId(),
        owner: input.owner,
        status: 'ingesting',
        createdAt: Date.now(),
        ingestedAt: null,
        finishedAt: null,
        archive: { filename: input.filename, bytes: blob.bytes, format, uncompressedBytes: manifest.totalBytes },
        entries: { total: manifest.entries.length, audio: manifest.audio },
        options: { language, priority, reference: refField === 'sidecar' ? 'sidecar' : null, callbackUrl },
      };
      await store.create(meta);
    } catch (err) {
      await blobs.delete(blob.key);
      throw err;
    }
    const ctrl = new AbortController();
    const done = this.ingest(meta, manifest, blob.key, ctrl.signal)
      .catch((err: Error) => this.d.log.error('batch ingest failed', { batch: meta.id, message: err.stack ?? err.message }))
      .finally(() => this.ingests.delete(meta.id));
    this.ingests.set(meta.id, { ctrl, done });
    return this.toView(meta, await store.counters(meta.id), 0);
  }

  // ── ingest (second pass) ──────────────────────────────────────────────

  private async ingest(meta: BatchMeta, manifest: Manifest, archiveKey: string, signal: AbortSignal): Promise<void> {
    const { blobs, cache, config, jobs, queue, store, service, redis } = this.d;
    const modelId = config.queue.modelId;
    const { language, priority } = meta.options;
    const opts = jobOptions(config.queue, config.storage.retentionSec, priority ?? BATCH_DEFAULT_PRIORITY);
    const byIndex = new Map(manifest.entries.map((e, i) => [e.index, i]));
    const seen = new Map<string, Seen>();
    let chunk: ChunkItem[] = [];
    let done = 0; // manifest entries handled (flushed or in `chunk`)
    let lastFlush = Date.now();
    let outcome: 'ingested' | 'cancelled' | 'failed' = 'ingested';
    let failure: Error | undefined;

    const cancelRequested = async (): Promise<boolean> => signal.aborted || Number(await redis.hget(store.countersKey(meta.id), 'cancelRequested')) > 0;

    const timing = { put: 0, probe: 0, lookup: 0, flush: 0, start: performance.now() };
    const flush = async (): Promise<void> => {
      const tFlush = performance.now();
      try {
        await flushNow();
      } finally {
        timing.flush += performance.now() - tFlush;
      }
    };
    const flushNow = async (): Promise<void> => {
      const items = chunk;
      chunk = [];
      lastFlush = Date.now();
      if (items.length === 0) return;
      const tasks = items.filter((i) => i.task);
      if (tasks.length > 0) {
        await queue.addBulk(tasks.map((i) => ({ name: 'transcribe', data: i.task!.payload, opts: { ...opts, jobId: i.task!.taskId } })));
      }
      const delta: Delta = { ingested: items.length };
      const m = redis.multi();
      for (const it of items) {
        if (it.line.s === 'skipped') add(delta, 'skipped');
        else if (it.line.s === 'failed') add(delta, 'failed');
        if (!it.record) continue;
        const r = it.record;
        jobs.createInto(m, r, { attach: it.attach === true });
        add(delta, 'jobs');
        add(delta, 'audioMs', Math.round(r.audio.durationSec * 1000));
        if (r.batch?.dedup) add(delta, 'dedup');
        if (r.final) {
          add(delta, 'cached');
          add(delta, 'audioDoneMs', Math.round(r.audio.durationSec * 1000));
          addScore(delta, r);
        } else m.hset(store.pendingKey(meta.id), r.id, r.taskId);
      }
      m.rpush(store.entriesKey(meta.id), ...items.map((i) => JSON.stringify(i.line)));
      for (const [k, v] of Object.entries(delta)) if (v) m.hincrby(store.countersKey(meta.id), k, v);
      m.hset(store.countersKey(meta.id), 'beat', Date.now());
      store.touchInto(m, meta.id);
      await m.exec();
    };

    /** Unflushed own tasks: give back their claims and blobs. */
    const dropChunk = async (): Promise<void> => {
      for (const it of chunk) {
        if (!it.task) continue;
        if (it.task.claimed) await cache.releaseInflight(it.record!.cacheKey, it.task.taskId);
        await blobs.delete(it.task.payload.blobKey);
      }
      done -= chunk.length;
      chunk = [];
    };

    const entryRecord = (m: ManifestEntry, cacheKey: string, durationSec: number, format: string, codec: string, now: number): JobRecord => ({
      id: newJobId(),
      taskId: '',
      cacheKey,
      blobKey: '',
      status: 'queued',
      final: false,
      cached: false,
      createdAt: now,
      startedAt: null,
      completedAt: null,
      audio: { md5: m.md5!, bytes: m.bytes, durationSec: round(durationSec), filename: posix.basename(m.path), format, codec },
      language,
      priority,
      owner: meta.owner,
      batch: { id: meta.id, path: m.path, ...(m.reference !== undefined ? { reference: m.reference } : {}) },
    });
    const cachedRecord = (m: ManifestEntry, cacheKey: string, hit: CachedResult, now: number, dedup: boolean): JobRecord => {
      const r = entryRecord(m, cacheKey, hit.result.durationSec, posix.extname(m.path).slice(1).toLowerCase() || 'unknown', 'unknown', now);
      return { ...r, ...cachedFields(hit, now), batch: { ...r.batch!, ...(dedup ? { dedup: true } : {}) } };
    };

    const pushJob = (record: JobRecord, attach = false, task?: ChunkItem['task']): void => {
      chunk.push({ line: { p: record.batch!.path, s: 'job', j: record.id }, record, attach, ...(task ? { task } : {}) });
    };

    const budget = new ArchiveBudget(this.limits, meta.archive.format);
    try {
      for await (const raw of readEntries(blobs.localPath!(archiveKey), budget)) {
        if (signal.aborted) {
          outcome = 'cancelled';
          break;
        }
        const pos = byIndex.get(raw.index);
        if (pos === undefined) continue; // folders
        const m = manifest.entries[pos]!;
        if (m.kind === 'skipped') {
          chunk.push({ line: { p: m.path, s: 'skipped', r: m.reason ?? 'not audio' } });
        } else {
          const now = Date.now();
          const cacheKey = cacheKeyFor(m.md5!, modelId, { language });
          const prior = seen.get(cacheKey);
          if (prior?.kind === 'cached') {
            pushJob(cachedRecord(m, cacheKey, prior.hit, now, true));
          } else if (prior?.kind === 'task') {
            const r = entryRecord(m, cacheKey, prior.durationSec, prior.format, prior.codec, now);
            pushJob({ ...r, taskId: prior.taskId, blobKey: prior.blobKey, batch: { ...r.batch!, dedup: true } }, true);
          } else {
            const tLookup = performance.now();
            const candidate = taskIdFor(cacheKey, `${now.toString(36)}${randomBytes(3).toString('hex')}`);
            const found = await cache.lookupOrClaim(cacheKey, candidate, config.storage.retentionSec);
            const hit = found.hit;
            const taskId = found.hit ? '' : found.taskId;
            const existing = found.hit || found.claimed ? undefined : await queue.getJob(taskId);
            timing.lookup += performance.now() - tLookup;
            if (hit) {
              seen.set(cacheKey, { kind: 'cached', hit });
              pushJob(cachedRecord(m, cacheKey, hit, now, false));
            } else if (existing) {
              // Already in flight elsewhere (another batch or a single upload): attach to it.
              const data = existing.data;
              const format = posix.extname(m.path).slice(1).toLowerCase() || 'unknown';
              seen.set(cacheKey, { kind: 'task', taskId, blobKey: data.blobKey, durationSec: data.durationSec, format, codec: 'unknown' });
              const r = entryRecord(m, cacheKey, data.durationSec, format, 'unknown', now);
              pushJob({ ...r, taskId, blobKey: data.blobKey }, true);
            } else {
              // Ours to transcribe: extract the entry into the blob store, probe it, enqueue it with the chunk.
              const guard = new EntryGuard(budget, m.path, raw.compressedSize);
              const tPut = performance.now();
              const blob = await blobs.put(Readable.from(guard.pass(raw.chunks())), { maxBytes: config.gateway.maxUploadBytes });
              timing.put += performance.now() - tPut;
              if (blob.md5 !== m.md5) {
                await blobs.delete(blob.key);
                throw new Error(`entry ${m.path} changed between passes`);
              }
              let info;
              try {
                const tProbe = performance.now();
                info = await service.probeBlob(blob.key);
                timing.probe += performance.now() - tProbe;
              } catch (err) {
                await blobs.delete(blob.key);
                if (taskId === candidate) await cache.releaseInflight(cacheKey, candidate);
                if (!(err instanceof ApiError)) throw err;
                chunk.push({ line: { p: m.path, s: 'failed', e: { code: err.code, message: err.message } } });
                info = undefined;
              }
              if (info) {
                const r = { ...entryRecord(m, cacheKey, info.durationSec, info.format, info.codec, now), taskId, blobKey: blob.key };
                seen.set(cacheKey, { kind: 'task', taskId, blobKey: blob.key, durationSec: r.audio.durationSec, format: info.format, codec: info.codec });
                const payload: TranscribeJob = {
                  v: 1,
                  blobKey: blob.key,
                  md5: blob.md5,
                  bytes: blob.bytes,
                  filename: r.audio.filename,
                  durationSec: r.audio.durationSec,
                  language,
                  modelId,
                  cacheKey,
                  submittedAt: now,
                };
                pushJob(r, true, { taskId, payload, claimed: taskId === candidate });
              }
            }
          }
        }
        done = pos + 1;
        if (chunk.length >= config.batch.enqueueChunk || Date.now() - lastFlush > 1000) {
          if (await cancelRequested()) {
            outcome = 'cancelled';
            break;
          }
          await flush();
        }
      }
      if (outcome === 'ingested') {
        if (await cancelRequested()) outcome = 'cancelled';
        else await flush();
      }
    } catch (err) {
      outcome = !this.closing && (signal.aborted || (await cancelRequested().catch(() => false))) ? 'cancelled' : 'failed';
      failure = err as Error;
    } finally {
      await dropChunk().catch(() => undefined);
      await blobs.delete(archiveKey).catch(() => undefined);
    }
    if (outcome === 'cancelled' && this.closing) {
      outcome = 'failed';
      failure = new Error('the gateway shut down while ingesting');
    }

    const ms = (x: number): number => Math.round(x);
    this.d.log.info('batch ingest pass done', { batch: meta.id, outcome, entries: manifest.entries.length, ms: ms(performance.now() - timing.start), putMs: ms(timing.put), probeMs: ms(timing.probe), lookupMs: ms(timing.lookup), flushMs: ms(timing.flush) });
    if (outcome === 'ingested') {
      await store.withLock(meta.id, async () => {
        const cur = (await store.get(meta.id)) ?? meta;
        await store.save({ ...cur, status: 'processing', ingestedAt: Date.now() });
      });
      await this.reconcile(meta.id, true);
      return;
    }
    // Cancelled or failed part-way: list the entries never ingested, cancel what was created.
    const rest = manifest.entries.slice(done);
    const e = failure ? { code: 'ingest_failed', message: failure instanceof ApiError ? failure.message : `ingest failed: ${failure.message}` } : undefined;
    if (rest.length > 0) {
      const m = redis.multi();
      for (let i = 0; i < rest.length; i += 1000) {
        const lines = rest.slice(i, i + 1000).map((r): EntryLine => (outcome === 'failed' ? { p: r.path, s: 'failed', e: e! } : { p: r.path, s: 'cancelled' }));
        m.rpush(store.entriesKey(meta.id), ...lines.map((l) => JSON.stringify(l)));
      }
      m.hincrby(store.countersKey(meta.id), outcome === 'failed' ? 'failed' : 'cancelled', rest.length);
      m.hincrby(store.countersKey(meta.id), 'ingested', rest.length);
      store.touchInto(m, meta.id);
      await m.exec();
    }
    if (failure && outcome === 'failed') this.d.log.error('batch ingest failed', { batch: meta.id, message: failure.message });
    await this.sweep(meta.id);
    await store.withLock(meta.id, async () => {
      const cur = (await store.get(meta.id)) ?? meta;
      const next: BatchMeta = { ...cur, status: outcome === 'failed' ? 'failed' : 'cancelled', ingestedAt: cur.ingestedAt ?? Date.now(), ...(e && outcome === 'failed' ? { error: e } : {}) };
      await this.finish(next);
    });
  }

  // ── tracking ──────────────────────────────────────────────────────────

  /** Moves the batch's counters for the tasks that finished; finishes the batch when nothing is pending. */
  async reconcile(id: string, wait: boolean): Promise<void> {
    const { store, results, jobs, queue, redis } = this.d;
    await store.withLock(
      id,
      async () => {
        const meta = await store.get(id);
        if (!meta) {
          await redis.srem(store.activeKey, id);
          return;
        }
        if (isFinal(meta.status)) {
          await redis.srem(store.activeKey, id);
          return;
        }
        const pending = await store.pending(id);
        const jobIds = Object.keys(pending);
        let left = jobIds.length;
        if (jobIds.length > 0) {
          const taskIds = [...new Set(Object.values(pending))];
          const outcomes = new Map<string, TaskOutcome>();
          for (let i = 0; i < taskIds.length; i += 1000) {
            const part = taskIds.slice(i, i + 1000);
            (await results.getMany(part)).forEach((o, k) => o && outcomes.set(part[k]!, o));
          }
          const lost = new Set<string>();
          const now = Date.now();
          if (now - (this.lostCheckedAt.get(id) ?? 0) > LOST_CHECK_MS) {
            this.lostCheckedAt.set(id, now);
            const open = taskIds.filter((t) => !outcomes.has(t));
            for (let i = 0; i < open.length; i += 1000) {
              const part = open.slice(i, i + 1000);
              const p = redis.pipeline();
              for (const t of part) p.exists(queue.toKey(t));
              const r = (await p.exec()) ?? [];
              r.forEach(([, n], k) => Number(n) === 0 && lost.add(part[k]!));
            }
            // A task may finish between the two reads: its outcome exists now.
            if (lost.size > 0) (await results.getMany([...lost])).forEach((o, k) => o && (outcomes.set([...lost][k]!, o), lost.delete([...lost][k]!)));
          }
          const doneIds = jobIds.filter((j) => outcomes.has(pending[j]!) || lost.has(pending[j]!));
          const delta: Delta = {};
          const m = redis.multi();
          for (let i = 0; i < doneIds.length; i += 1000) {
            const part = doneIds.slice(i, i + 1000);
            const records = await jobs.getMany(part);
            records.forEach((r) => {
              if (!r) {
                add(delta, 'failed');
                return;
              }
              let next = r;
              if (!r.final) {
                const o = outcomes.get(r.taskId);
                next = o
                  ? finalRecord(r, o)
                  : { ...r, status: 'failed', final: true, completedAt: now, error: { code: 'lost', message: 'the task disappeared from the queue before finishing' } };
                jobs.saveInto(m, next);
              }
              countFinal(delta, next);
            });
          }
          if (doneIds.length > 0) m.hdel(store.pendingKey(id), ...doneIds);
          for (const [k, v] of Object.entries(delta)) if (v) m.hincrby(store.countersKey(id), k, v);
          left = jobIds.length - doneIds.length;
          let processing = 0;
          if (left > 0) {
            const active = new Set(await queue.getRanges(['active'], 0, -1));
            const done = new Set(doneIds);
            for (const j of jobIds) if (!done.has(j) && active.has(pending[j]!)) processing++;
          }
          m.hset(store.countersKey(id), 'processing', processing);
          await m.exec();
        }
        if (meta.status === 'processing' && left === 0) {
          await this.finish({ ...meta, status: Number(await redis.hget(store.countersKey(id), 'cancelRequested')) > 0 ? 'cancelled' : 'completed' });
        } else if (meta.status === 'ingesting' && !this.ingests.has(id)) {
          const beat = Number(await redis.hget(store.countersKey(id), 'beat'));
          if (Date.now() - beat > INGEST_STALE_MS) {
            // The gateway ingesting it stopped (crash or restart): give up on it.
            this.d.log.warn('batch ingest interrupted', { batch: id });
            await redis.hset(store.countersKey(id), 'cancelRequested', 1);
            void this.failInterrupted(id);
          }
        }
      },
      { wait },
    );
  }

  private async failInterrupted(id: string): Promise<void> {
    const { store, redis } = this.d;
    await this.sweep(id);
    await store.withLock(id, async () => {
      const meta = await store.get(id);
      if (!meta || isFinal(meta.status)) return;
      const n = await store.counters(id);
      const rest = meta.entries.total - n.ingested;
      if (rest > 0) await redis.multi().hincrby(store.countersKey(id), 'failed', rest).hincrby(store.countersKey(id), 'ingested', rest).exec();
      await this.finish({ ...meta, status: 'failed', error: { code: 'ingest_interrupted', message: 'the gateway ingesting this archive stopped before it finished' } });
    });
  }

  /** Marks the batch final (caller holds the lock) and starts its callback. */
  private async finish(meta: BatchMeta): Promise<void> {
    const next: BatchMeta = {
      ...meta,
      finishedAt: Date.now(),
      ...(meta.options.callbackUrl ? { callback: { status: 'pending', attempts: 0, lastError: null, deliveredAt: null } } : {}),
    };
    await this.d.store.save(next);
    this.lostCheckedAt.delete(meta.id);
    if (next.options.callbackUrl) void this.sendCallback(next);
  }

  private async sendCallback(meta: BatchMeta): Promise<void> {
    const { config, store } = this.d;
    const secret = this.d.secretFor(meta.owner);
    const url = meta.options.callbackUrl;
    if (!secret || !url) return;
    const ctrl = new AbortController();
    this.deliveries.add(ctrl);
    try {
      const view = await this.toView(meta, await store.counters(meta.id), 0);
      const body = JSON.stringify({ event: 'batch.finished', batch: view });
      const updateState = async (state: NonNullable<BatchMeta['callback']>): Promise<void> => {
        const cur = await store.get(meta.id);
        if (cur) await store.save({ ...cur, callback: state });
      };
      const r = await deliverCallback(url, body, {
        secret,
        attempts: config.batch.callbackAttempts,
        backoffMs: config.batch.callbackBackoffMs,
        timeoutMs: config.batch.callbackTimeoutMs,
        allowPrivate: config.batch.callbackAllowPrivate,
        event: 'batch.finished',
        signal: ctrl.signal,
        onAttempt: (attempt, error) =>
          updateState({ status: error === null ? 'delivered' : attempt >= config.batch.callbackAttempts ? 'failed' : 'pending', attempts: attempt, lastError: error, deliveredAt: error === null ? Date.now() : null }),
      });
      if (!r.delivered) this.d.log.warn('batch callback failed', { batch: meta.id, attempts: r.attempts, error: r.lastError });
    } catch (err) {
      this.d.log.warn('batch callback failed', { batch: meta.id, message: (err as Error).message });
    } finally {
      this.deliveries.delete(ctrl);
    }
  }

  /** Cancels every pending job of the batch (idempotent). */
  private async sweep(id: string): Promise<void> {
    const { store, jobs, redis, service } = this.d;
    const toCancel: JobRecord[] = [];
    await store.withLock(id, async () => {
      const pending = await store.pending(id);
      const ids = Object.keys(pending);
      if (ids.length === 0) return;
      const delta: Delta = {};
      const m = redis.multi();
      const now = Date.now();
      for (let i = 0; i < ids.length; i += 1000) {
        const part = ids.slice(i, i + 1000);
        (await jobs.getMany(part)).forEach((r) => {
          if (!r) return add(delta, 'cancelled');
          if (r.final) return countFinal(delta, r);
          const cancelled: JobRecord = { ...r, status: 'cancelled', final: true, completedAt: now };
          jobs.saveInto(m, cancelled);
          countFinal(delta, cancelled);
          toCancel.push(r);
        });
      }
      m.hdel(store.pendingKey(id), ...ids);
      for (const [k, v] of Object.entries(delta)) if (v) m.hincrby(store.countersKey(id), k, v);
      m.hset(store.countersKey(id), 'processing', 0);
      await m.exec();
    });
    // Tasks nobody else wants any more leave the queue (or are aborted on their worker).
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < toCancel.length) {
        const r = toCancel[next++]!;
        if ((await jobs.detach(r.taskId, r.id)) === 0) await service.cancelTask(r.taskId, r.cacheKey);
      }
    };
    await Promise.all(Array.from({ length: 8 }, lane));
    if (toCancel.length > 0) await redis.publish(this.d.keys.eventsChannel, JSON.stringify({ batchId: id }));
  }

  // ── API ───────────────────────────────────────────────────────────────

  private async load(id: string, owner: string): Promise<BatchMeta> {
    if (!/^b_[A-Za-z0-9_-]{8,64}$/.test(id)) throw notFound('batch');
    const meta = await this.d.store.get(id);
    if (!meta || meta.owner !== owner) throw notFound('batch');
    return meta;
  }

  async getBatch(id: string, owner: string): Promise<BatchView> {
    let meta = await this.load(id, owner);
    if (!isFinal(meta.status)) {
      await this.reconcile(id, false);
      meta = (await this.d.store.get(id)) ?? meta;
    }
    return this.toView(meta, await this.d.store.counters(id), await this.d.redis.hlen(this.d.store.pendingKey(id)));
  }

  async cancelBatch(id: string, owner: string): Promise<BatchView> {
    const meta = await this.load(id, owner);
    if (isFinal(meta.status)) throw new ApiError(409, 'already_finished', `batch ${id} is already ${meta.status}`);
    const { store, redis } = this.d;
    await redis.hset(store.countersKey(id), 'cancelRequested', 1);
    const local = this.ingests.get(id);
    if (meta.status === 'ingesting' && local) {
      // The ingest stops at its next entry and cancels what it created; wait for it.
      local.ctrl.abort();
      await local.done;
    } else {
      await this.sweep(id);
      await store.withLock(id, async () => {
        const cur = await store.get(id);
        if (cur && cur.status === 'processing') await this.finish({ ...cur, status: 'cancelled' });
      });
    }
    return this.getBatch(id, owner);
  }

  /** One page of entries with their current status. */
  async listEntries(id: string, owner: string, q: { status?: string; limit?: string; cursor?: string }): Promise<{ entries: BatchEntryView[]; nextCursor: string | null }> {
    const meta = await this.load(id, owner);
    const status = q.status && q.status !== '' ? q.status : undefined;
    if (status && !(ENTRY_STATUSES as readonly string[]).includes(status)) throw new ApiError(400, 'invalid_status', `status must be one of ${ENTRY_STATUSES.join(', ')}`);
    const limit = q.limit === undefined || q.limit === '' ? 100 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ApiError(400, 'invalid_limit', 'limit must be an integer from 1 to 1000');
    let start = 0;
    if (q.cursor) {
      const n = Number(Buffer.from(q.cursor, 'base64url').toString());
      if (!Number.isInteger(n) || n < 0) throw new ApiError(400, 'invalid_cursor', 'cursor is not valid; use nextCursor from a previous page');
      start = n;
    }
    if (!isFinal(meta.status)) await this.reconcile(id, false);
    const out: BatchEntryView[] = [];
    // Bounded scan per request when filtering, like GET /v1/jobs.
    for (let pages = 0; pages < 20; pages++) {
      const views = await this.entryViews(id, start, Math.max(limit, 200));
      if (views.length === 0) return { entries: out, nextCursor: null };
      for (const v of views) {
        start = v.index + 1;
        if (status && v.status !== status) continue;
        out.push(v);
        if (out.length === limit) {
          const more = start < meta.entries.total || (await this.d.redis.llen(this.d.store.entriesKey(id))) > start;
          return { entries: out, nextCursor: more ? Buffer.from(String(start)).toString('base64url') : null };
        }
      }
    }
    return { entries: out, nextCursor: Buffer.from(String(start)).toString('base64url') };
  }

  private async entryViews(id: string, start: number, count: number): Promise<(BatchEntryView & { record?: JobRecord })[]> {
    const lines = await this.d.store.entries(id, start, count);
    const jobIds = lines.filter((l) => l.j).map((l) => l.j!);
    const records = new Map<string, JobRecord>();
    (await this.d.jobs.getMany(jobIds)).forEach((r) => r && records.set(r.id, r));
    const out: (BatchEntryView & { record?: JobRecord })[] = [];
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i]!;
      const base = { index: start + i, path: l.p };
      if (l.s === 'skipped') out.push({ ...base, status: 'skipped', reason: l.r ?? '' });
      else if (l.s === 'failed') out.push({ ...base, status: 'failed', ...(l.e ? { error: l.e } : {}) });
      else if (l.s === 'cancelled') out.push({ ...base, status: 'cancelled' });
      else {
        const r = l.j ? records.get(l.j) : undefined;
        if (!r) {
          out.push({ ...base, status: 'failed', error: { code: 'expired', message: 'the job record expired' } });
          continue;
        }
        const v = r.final ? this.d.service.toView(r, 100) : await this.d.service.view(r);
        const st: EntryStatus = r.cached ? 'cached' : v.status;
        out.push({
          ...base,
          status: st,
          jobId: r.id,
          cached: r.cached,
          deduplicated: r.batch?.dedup === true,
          durationSec: r.audio.durationSec,
          ...(v.result ? { text: v.result.text } : {}),
          ...(v.error ? { error: v.error } : {}),
          ...(r.batch?.reference !== undefined ? { reference: r.batch.reference } : {}),
          ...(v.score ? { score: v.score } : {}),
          record: { ...r, ...(v.result ? { result: v.result } : {}) },
        });
      }
    }
    return out;
  }

  /** The batch's results as a stream: JSON lines, CSV, or a zip of transcripts at the entries' paths. */
  async results(id: string, owner: string, q: { format?: string; transcript?: string }): Promise<{ contentType: string; filename: string; stream: Readable }> {
    const meta = await this.load(id, owner);
    const format = (q.format ?? 'jsonl').toLowerCase();
    if (!['jsonl', 'csv', 'zip'].includes(format)) throw new ApiError(400, 'invalid_format', 'format must be one of jsonl, csv, zip');
    const transcript = parseFormat(q.transcript ?? (format === 'zip' ? 'txt' : 'json'));
    if (!isFinal(meta.status)) await this.reconcile(id, false);
    const entryViews = (start: number, count: number) => this.entryViews(id, start, count);
    async function* pages(): AsyncGenerator<(BatchEntryView & { record?: JobRecord })[]> {
      for (let start = 0; ; start += 500) {
        const views = await entryViews(start, 500);
        if (views.length === 0) return;
        yield views;
      }
    }
    const row = (v: BatchEntryView) => ({
      path: v.path,
      status: v.status,
      jobId: v.jobId ?? null,
      cached: v.cached ?? false,
      deduplicated: v.deduplicated ?? false,
      durationSec: v.durationSec ?? null,
      text: v.text ?? null,
      error: v.error ?? null,
      reason: v.reason ?? null,
      reference: v.reference ?? null,
      wer: v.score ? round(v.score.wer, 4) : null,
      cer: v.score ? round(v.score.cer, 4) : null,
    });
    if (format === 'jsonl') {
      async function* jsonl(): AsyncGenerator<string> {
        for await (const page of pages()) {
          yield page.map((v) => `${JSON.stringify({ ...row(v), segments: v.record?.result?.segments ?? null })}\n`).join('');
        }
      }
      return { contentType: 'application/x-ndjson; charset=utf-8', filename: `${id}.jsonl`, stream: Readable.from(jsonl()) };
    }
    if (format === 'csv') {
      const cols = ['path', 'status', 'jobId', 'cached', 'deduplicated', 'durationSec', 'text', 'error', 'reason', 'reference', 'wer', 'cer'] as const;
      async function* csv(): AsyncGenerator<string> {
        yield `${cols.join(',')}\n`;
        for await (const page of pages()) {
          yield page
            .map((v) => {
              const r = row(v);
              return `${cols.map((c) => csvCell(c === 'error' ? r.error?.code : r[c])).join(',')}\n`;
            })
            .join('');
        }
      }
      return { contentType: 'text/csv; charset=utf-8', filename: `${id}.csv`, stream: Readable.from(csv()) };
    }
    const zip = new yazl.ZipFile();
    const out = zip.outputStream as Readable;
    void (async () => {
      try {
        const used = new Set<string>();
        const mtime = new Date();
        for await (const page of pages()) {
          for (const v of page) {
            const r = v.record;
            if (!r?.result || (v.status !== 'completed' && v.status !== 'cached')) continue;
            const body = renderTranscript(r.result, transcript, r.id).body;
            zip.addBuffer(Buffer.from(body), transcriptPath(v.path, transcript, used), { mtime, compress: true });
          }
          // Backpressure: let the client read before rendering the next page.
          while (out.readableLength > 1024 * 1024 && !out.destroyed) await new Promise((r) => setTimeout(r, 10));
          if (out.destroyed) return;
        }
        zip.end();
      } catch (err) {
        out.destroy(err as Error);
      }
    })();
    return { contentType: 'application/zip', filename: `${id}-${transcript}.zip`, stream: out };
  }

  toView(meta: BatchMeta, n: Counters, pendingCount: number): BatchView {
    const total = meta.entries.total;
    const notIngested = meta.status === 'ingesting' ? Math.max(0, total - n.ingested) : 0;
    const processing = Math.min(n.processing, pendingCount);
    const counts: Record<EntryStatus, number> = {
      queued: pendingCount - processing + notIngested,
      processing,
      completed: n.completed,
      failed: n.failed,
      cancelled: n.cancelled,
      skipped: n.skipped,
      cached: n.cached,
    };
    const open = counts.queued + counts.processing;
    const end = meta.finishedAt ?? Date.now();
    const elapsedSec = Math.max(0.001, (end - meta.createdAt) / 1000);
    const worked = n.completed + n.failed;
    const jobsPerSec = worked / elapsedSec;
    const view: BatchView = {
      id: meta.id,
      status: meta.status,
      createdAt: iso(meta.createdAt)!,
      ingestedAt: iso(meta.ingestedAt),
      finishedAt: iso(meta.finishedAt),
      archive: meta.archive,
      options: meta.options,
      entries: { total, audio: meta.entries.audio, ingested: Math.min(total, n.ingested) },
      counts,
      deduplicated: n.dedup,
      audio: { totalSec: round(n.audioMs / 1000), doneSec: round(n.audioDoneMs / 1000) },
      progress: total === 0 ? 100 : round(((total - open) / total) * 100, 1),
      throughput: { jobsPerSec: round(jobsPerSec), audioSecPerSec: round(n.audioDoneMs / 1000 / elapsedSec) },
      etaSec: open === 0 ? 0 : jobsPerSec > 0 ? Math.round(open / jobsPerSec) : null,
      links: { self: `/v1/batches/${meta.id}`, jobs: `/v1/batches/${meta.id}/jobs`, results: `/v1/batches/${meta.id}/results` },
    };
    if (meta.options.reference) {
      view.score = {
        wer: n.werN > 0 ? round(n.werE / n.werN, 4) : null,
        cer: n.cerN > 0 ? round(n.cerE / n.cerN, 4) : null,
        scored: n.scored,
        words: { errors: n.werE, total: n.werN },
        chars: { errors: n.cerE, total: n.cerN },
      };
    }
    if (meta.options.callbackUrl) view.callback = { url: meta.options.callbackUrl, ...(meta.callback ?? { status: 'pending', attempts: 0, lastError: null, deliveredAt: null }) };
    if (meta.error) view.error = meta.error;
    return view;
  }
}

export { DEFAULT_PRIORITY };
