/** What clients see for a job (`GET /v1/jobs/:id`): a pure function of its record and progress. */
import type { JobRecord, JobStatus } from '@voxfleet/storage';
import { scoreTranscript, type Score } from '../batches/scoring.js';

export interface JobView {
  id: string;
  status: JobStatus;
  progress: number;
  createdAt: string;
  startedAt: string | null;
  completedAt: string | null;
  cached: boolean;
  audio: JobRecord['audio'];
  language: string | null;
  /** the hotwords asked for (Fun-ASR-Nano), when there were some */
  hotwords?: string[];
  priority: number | null;
  result?: JobRecord['result'];
  error?: JobRecord['error'];
  processing?: JobRecord['processing'];
  /** the archive entry this job was made from (batches) */
  batch?: { id: string; path: string; deduplicated: boolean; reference?: string };
  /** WER/CER against the entry's reference transcript (`reference=sidecar`), once completed */
  score?: Score;
  links: { self: string; transcript: string };
}

export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function jobView(r: JobRecord, progress: number): JobView {
  return {
    id: r.id,
    status: r.status,
    progress,
    createdAt: iso(r.createdAt)!,
    startedAt: iso(r.startedAt),
    completedAt: iso(r.completedAt),
    cached: r.cached,
    audio: r.audio,
    language: r.language,
    ...(r.hotwords?.length ? { hotwords: r.hotwords } : {}),
    priority: r.priority,
    ...(r.result ? { result: r.result } : {}),
    ...(r.error ? { error: r.error } : {}),
    ...(r.processing ? { processing: r.processing } : {}),
    ...(r.batch
      ? { batch: { id: r.batch.id, path: r.batch.path, deduplicated: r.batch.dedup === true, ...(r.batch.reference !== undefined ? { reference: r.batch.reference } : {}) } }
      : {}),
    ...(r.batch?.reference !== undefined && r.status === 'completed' && r.result ? { score: scoreTranscript(r.result.text, r.batch.reference) } : {}),
    links: { self: `/v1/jobs/${r.id}`, transcript: `/v1/jobs/${r.id}/transcript` },
  };
}
