/**
 * What clients see for a batch and its entries: the batch from its meta and
 * counters; each entry from its line and its job's current state. Reads only
 * (the tracker is what writes a job's final state).
 */
import type { BatchMeta, BatchStatus, BatchStore, Counters, JobRecord, JobStore } from '@voxfleet/storage';
import type { TaskService } from '../jobs/tasks.js';
import { iso, jobView } from '../jobs/view.js';
import type { Score } from './scoring.js';

export type EntryStatus = 'queued' | 'processing' | 'completed' | 'failed' | 'cancelled' | 'skipped' | 'cached';
export const BATCH_ENTRY_STATUSES: readonly EntryStatus[] = ['queued', 'processing', 'completed', 'failed', 'cancelled', 'skipped', 'cached'];

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

/** An entry view with the job record behind it (exports render transcripts from it). */
export type EntryWithRecord = BatchEntryView & { record?: JobRecord };

export const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

export function batchView(meta: BatchMeta, n: Counters, pendingCount: number): BatchView {
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
  const jobsPerSec = (n.completed + n.failed) / elapsedSec;
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

export class EntryViews {
  constructor(private readonly d: { store: BatchStore; jobs: JobStore; tasks: TaskService }) {}

  /** Entries `start…start+count−1` in archive order, each with its job's current state. */
  async page(id: string, start: number, count: number): Promise<EntryWithRecord[]> {
    const lines = await this.d.store.entries(id, start, count);
    const records = new Map<string, JobRecord>();
    (await this.d.jobs.getMany(lines.flatMap((l) => (l.j ? [l.j] : [])))).forEach((r) => r && records.set(r.id, r));
    const out: EntryWithRecord[] = [];
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
        const s = await this.d.tasks.state(r);
        const v = jobView(s.record, s.progress);
        out.push({
          ...base,
          status: r.cached ? 'cached' : v.status,
          jobId: r.id,
          cached: r.cached,
          deduplicated: r.batch?.dedup === true,
          durationSec: r.audio.durationSec,
          ...(v.result ? { text: v.result.text } : {}),
          ...(v.error ? { error: v.error } : {}),
          ...(r.batch?.reference !== undefined ? { reference: r.batch.reference } : {}),
          ...(v.score ? { score: v.score } : {}),
          record: s.record,
        });
      }
    }
    return out;
  }
}
