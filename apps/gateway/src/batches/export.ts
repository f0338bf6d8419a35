/** A batch's results as a stream: JSON lines, CSV, or a zip of transcripts at the entries' paths. */
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import yazl from 'yazl';
import { renderTranscript, type TranscriptFormat } from '../jobs/render.js';
import { round, type BatchEntryView, type EntryWithRecord } from './views.js';

export type ExportFormat = 'jsonl' | 'csv' | 'zip';

export interface ExportStream {
  contentType: string;
  filename: string;
  stream: Readable;
}

/** Pages of entries in archive order, until an empty one. */
export type EntryPages = () => AsyncGenerator<EntryWithRecord[]>;

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

const CSV_COLUMNS = ['path', 'status', 'jobId', 'cached', 'deduplicated', 'durationSec', 'text', 'error', 'reason', 'reference', 'wer', 'cer'] as const;

function row(v: BatchEntryView) {
  return {
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
  };
}

async function* jsonl(pages: EntryPages): AsyncGenerator<string> {
  for await (const page of pages()) {
    yield page.map((v) => `${JSON.stringify({ ...row(v), segments: v.record?.result?.segments ?? null })}\n`).join('');
  }
}

async function* csv(pages: EntryPages): AsyncGenerator<string> {
  yield `${CSV_COLUMNS.join(',')}\n`;
  for await (const page of pages()) {
    yield page
      .map((v) => {
        const r = row(v);
        return `${CSV_COLUMNS.map((c) => csvCell(c === 'error' ? r.error?.code : r[c])).join(',')}\n`;
      })
      .join('');
  }
}

/** One transcript per completed entry; rendering pauses while the client has not read the last megabyte. */
function zip(pages: EntryPages, transcript: TranscriptFormat): Readable {
  const z = new yazl.ZipFile();
  const out = z.outputStream as Readable;
  void (async () => {
    try {
      const used = new Set<string>();
      const mtime = new Date();
      for await (const page of pages()) {
        for (const v of page) {
          const r = v.record;
          if (!r?.result || (v.status !== 'completed' && v.status !== 'cached')) continue;
          z.addBuffer(Buffer.from(renderTranscript(r.result, transcript, r.id).body), transcriptPath(v.path, transcript, used), { mtime, compress: true });
        }
        while (out.readableLength > 1024 * 1024 && !out.destroyed) await new Promise((r) => setTimeout(r, 10));
        if (out.destroyed) return;
      }
      z.end();
    } catch (err) {
      out.destroy(err as Error);
    }
  })();
  return out;
}

export function exportResults(id: string, pages: EntryPages, format: ExportFormat, transcript: TranscriptFormat | undefined): ExportStream {
  if (format === 'jsonl') return { contentType: 'application/x-ndjson; charset=utf-8', filename: `${id}.jsonl`, stream: Readable.from(jsonl(pages)) };
  if (format === 'csv') return { contentType: 'text/csv; charset=utf-8', filename: `${id}.csv`, stream: Readable.from(csv(pages)) };
  const t = transcript ?? 'txt';
  return { contentType: 'application/zip', filename: `${id}-${t}.zip`, stream: zip(pages, t) };
}
