/**
 * Batches: an uploaded archive whose audio entries become jobs.
 *
 * `createBatch` (in the request): check the options, sniff the format,
 * validate the whole archive in a first pass that writes nothing
 * (manifest.ts), store the batch and answer 202 `ingesting`; the second pass
 * (ingest.ts) runs in the background. The tracker (tracker.ts) moves the
 * counters as tasks finish; views.ts and export.ts read. Everything lives in
 * Redis (BatchStore), so any gateway can answer for any batch.
 */
import type { GatewayAppConfig, Logger } from '@voxfleet/config';
import { isFinalBatch, newBatchId, type BatchMeta, type BatchStore, type BlobStore, type JobRecord, type JobStore, type ResultStore, type StoredBlob } from '@voxfleet/storage';
import type { TaskQueue } from '@voxfleet/queue';
import { ApiError, notFound } from '../errors.js';
import type { Probe } from '../jobs/probe.js';
import type { TranscriptFormat } from '../jobs/render.js';
import type { TaskService } from '../jobs/tasks.js';
import { sniffArchive, type ArchiveLimits } from './archive.js';
import { blobSource } from './archive-source.js';
import { checkCallbackUrl } from './callback.js';
import { exportResults, type ExportFormat, type ExportStream } from './export.js';
import { IngestRun } from './ingest.js';
import { inspectArchive, type Manifest } from './manifest.js';
import { BatchTracker } from './tracker.js';
import { EntryViews, batchView, type BatchEntryView, type BatchView, type EntryStatus, type EntryWithRecord } from './views.js';

export interface BatchServiceDeps {
  config: GatewayAppConfig;
  store: BatchStore;
  blobs: BlobStore;
  jobs: JobStore;
  results: ResultStore;
  /** a model's queue */
  queue: (model: string) => TaskQueue;
  tasks: TaskService;
  /** the callback signing secret for an owner (null: callbacks unavailable) */
  secretFor: (owner: string) => string | null;
  /** a batch's `model` (a name or alias; null: the default) → the model's name, or 400 unknown_model */
  resolveModel: (requested: string | null) => Promise<string>;
  /** 400 when the model's live workers say it cannot honour these options */
  checkOptions: (model: string, options: { language: string | null; itn: boolean | null; hotwords?: string[] | null }) => Promise<void>;
  probe?: Probe;
  log: Logger;
}

export interface BatchOptions {
  language: string | null;
  priority: number | null;
  reference: 'sidecar' | null;
  callbackUrl: string | null;
  /** the model asked for (a name or alias), null for the default */
  model: string | null;
  itn: boolean | null;
  /** Fun-ASR-Nano's hotwords for every entry, null for none */
  hotwords?: string[] | null;
}

export interface NewBatchInput {
  blob: StoredBlob;
  filename: string;
  options: BatchOptions;
  owner: string;
}

export class BatchService {
  private readonly ingests = new Map<string, { ctrl: AbortController; done: Promise<void> }>();
  private readonly tracker: BatchTracker;
  private readonly entries: EntryViews;
  private closing = false;

  constructor(private readonly d: BatchServiceDeps) {
    this.tracker = new BatchTracker({
      store: d.store,
      jobs: d.jobs,
      results: d.results,
      queue: d.queue,
      tasks: d.tasks,
      batch: d.config.batch,
      secretFor: d.secretFor,
      ingestingHere: (id) => this.ingests.has(id),
      viewOf: async (meta) => batchView(meta, await d.store.counters(meta.id), 0),
      log: d.log,
    });
    this.entries = new EntryViews(d);
  }

  private get limits(): ArchiveLimits {
    const b = this.d.config.batch;
    return { maxEntries: b.maxEntries, maxTotalBytes: b.maxTotalBytes, maxEntryBytes: this.d.config.gateway.maxUploadBytes, maxRatio: b.maxRatio, ratioMinBytes: b.ratioMinBytes };
  }

  /** Starts the tracker (every `intervalMs`). */
  start(intervalMs = 1000): void {
    this.tracker.start(intervalMs);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.tracker.close();
    for (const { ctrl } of this.ingests.values()) ctrl.abort(new Error('gateway shutting down'));
    await Promise.all([...this.ingests.values()].map((i) => i.done.catch(() => undefined)));
  }

  async createBatch(input: NewBatchInput): Promise<BatchView> {
    const { blob, options } = input;
    const { blobs, config, store } = this.d;
    let meta: BatchMeta;
    let manifest: Manifest;
    try {
      const model = await this.d.resolveModel(options.model);
      await this.d.checkOptions(model, { language: options.language, itn: options.itn, hotwords: options.hotwords ?? null });
      let callbackUrl: string | null = null;
      if (options.callbackUrl !== null) {
        callbackUrl = (await checkCallbackUrl(options.callbackUrl, config.batch.callbackAllowPrivate)).toString();
        if (this.d.secretFor(input.owner) === null) {
          throw new ApiError(400, 'callback_unavailable', 'callbacks need a signing secret: set VOXFLEET_CALLBACK_SECRET on the gateway (auth is off)');
        }
      }
      if (blob.bytes === 0) throw new ApiError(400, 'empty_archive', 'the uploaded archive is empty (0 bytes)');
      // read in place by byte ranges (zip) or one stream (tar): no local copy, whichever store holds it
      const source = blobSource(blobs, blob.key);
      const format = await sniffArchive(source);
      if (!format) throw new ApiError(415, 'not_an_archive', 'the upload is not a zip, tar or tar.gz archive (recognised by content)');
      manifest = await inspectArchive(source, format, this.limits, { sidecar: options.reference === 'sidecar' });
      meta = {
        id: newBatchId(),
        owner: input.owner,
        status: 'ingesting',
        createdAt: Date.now(),
        ingestedAt: null,
        finishedAt: null,
        archive: { filename: input.filename, bytes: blob.bytes, format, uncompressedBytes: manifest.totalBytes },
        entries: { total: manifest.entries.length, audio: manifest.audio },
        options: { ...options, callbackUrl, model },
      };
      await store.create(meta);
    } catch (err) {
      await blobs.delete(blob.key);
      throw err;
    }
    const ctrl = new AbortController();
    const run = new IngestRun({ ...this.d, tracker: this.tracker, limits: this.limits }, meta, manifest, blob.key, ctrl.signal, () => this.closing);
    const done = run
      .run()
      .catch((err: Error) => this.d.log.error('batch ingest failed', { batch: meta.id, message: err.stack ?? err.message }))
      .finally(() => this.ingests.delete(meta.id));
    this.ingests.set(meta.id, { ctrl, done });
    return batchView(meta, await store.counters(meta.id), 0);
  }

  /** 404 unless the batch exists and belongs to `owner`. */
  async assertVisible(id: string, owner: string): Promise<void> {
    await this.load(id, owner);
  }

  private async load(id: string, owner: string): Promise<BatchMeta> {
    const meta = await this.d.store.get(id);
    if (!meta || meta.owner !== owner) throw notFound('batch');
    return meta;
  }

  /** The batch's meta after moving its counters (unless it is final). */
  private async current(id: string, owner: string): Promise<BatchMeta> {
    const meta = await this.load(id, owner);
    if (isFinalBatch(meta.status)) return meta;
    await this.tracker.reconcile(id, false);
    return (await this.d.store.get(id)) ?? meta;
  }

  async getBatch(id: string, owner: string): Promise<BatchView> {
    const meta = await this.current(id, owner);
    return batchView(meta, await this.d.store.counters(id), await this.d.store.pendingCount(id));
  }

  async cancelBatch(id: string, owner: string): Promise<BatchView> {
    const meta = await this.load(id, owner);
    if (isFinalBatch(meta.status)) throw new ApiError(409, 'already_finished', `batch ${id} is already ${meta.status}`);
    await this.d.store.requestCancel(id);
    const local = this.ingests.get(id);
    if (meta.status === 'ingesting' && local) {
      // The ingest stops at its next entry and cancels what it created; wait for it.
      local.ctrl.abort();
      await local.done;
    } else {
      await this.tracker.sweep(id);
      await this.tracker.finishLocked(id, (cur) => (cur.status === 'processing' ? { ...cur, status: 'cancelled' } : null));
    }
    return this.getBatch(id, owner);
  }

  /**
   * `DELETE /v1/batches/:id`: a batch still running is cancelled (the batch);
   * a finished one is erased with all its jobs — records, transcripts,
   * cached results, audio — and answers null (204).
   */
  async deleteBatch(id: string, owner: string, eraseJob: (r: JobRecord) => Promise<void>): Promise<BatchView | null> {
    const meta = await this.load(id, owner);
    if (!isFinalBatch(meta.status)) return this.cancelBatch(id, owner);
    for (let start = 0; ; start += 500) {
      const lines = await this.d.store.entries(id, start, 500);
      if (lines.length === 0) break;
      const records = await this.d.jobs.getMany(lines.flatMap((l) => (l.j ? [l.j] : [])));
      for (const r of records) if (r) await eraseJob(r);
    }
    await this.d.store.erase(id);
    return null;
  }

  /** One page of entries with their current status. */
  async listEntries(id: string, owner: string, q: { status: EntryStatus | undefined; limit: number; cursor: string | null }): Promise<{ entries: BatchEntryView[]; nextCursor: string | null }> {
    const { status, limit } = q;
    let start = 0;
    if (q.cursor !== null) {
      const n = Number(Buffer.from(q.cursor, 'base64url').toString());
      if (!Number.isInteger(n) || n < 0) throw new ApiError(400, 'invalid_cursor', 'cursor is not valid; use nextCursor from a previous page');
      start = n;
    }
    const meta = await this.current(id, owner);
    const out: BatchEntryView[] = [];
    const cursorAt = (n: number): string => Buffer.from(String(n)).toString('base64url');
    // Bounded scan per request when filtering, like GET /v1/jobs.
    for (let pages = 0; pages < 20; pages++) {
      const views = await this.entries.page(id, start, Math.max(limit, 200));
      if (views.length === 0) return { entries: out, nextCursor: null };
      for (const { record: _record, ...v } of views) {
        start = v.index + 1;
        if (status && v.status !== status) continue;
        out.push(v);
        if (out.length === limit) {
          const more = start < meta.entries.total || (await this.d.store.entryCount(id)) > start;
          return { entries: out, nextCursor: more ? cursorAt(start) : null };
        }
      }
    }
    return { entries: out, nextCursor: cursorAt(start) };
  }

  async results(id: string, owner: string, q: { format: ExportFormat; transcript: TranscriptFormat | undefined }): Promise<ExportStream> {
    await this.current(id, owner);
    const entries = this.entries;
    async function* pages(): AsyncGenerator<EntryWithRecord[]> {
      for (let start = 0; ; start += 500) {
        const views = await entries.page(id, start, 500);
        if (views.length === 0) return;
        yield views;
      }
    }
    return exportResults(id, pages, q.format, q.transcript);
  }
}
