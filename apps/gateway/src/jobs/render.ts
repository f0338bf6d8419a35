/** Transcript renderings: JSON, plain text, SubRip (SRT) and WebVTT. */
import type { TranscriptResult } from '@voxfleet/storage';

export const TRANSCRIPT_FORMATS = ['json', 'txt', 'srt', 'vtt'] as const;
export type TranscriptFormat = (typeof TRANSCRIPT_FORMATS)[number];

export interface Rendered {
  contentType: string;
  body: string;
}

function clock(sec: number, sep: ',' | '.'): string {
  const ms = Math.max(0, Math.round(sec * 1000));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${sep}${pad(ms % 1000, 3)}`;
}

/** Cues with text; an empty transcript has none. */
function cues(result: TranscriptResult): { start: number; end: number; text: string }[] {
  return result.segments
    .map((s) => ({ start: s.start, end: Math.max(s.end, s.start + 0.001), text: s.text.replace(/\s+/g, ' ').trim() }))
    .filter((s) => s.text.length > 0);
}

export function renderSrt(result: TranscriptResult): string {
  return cues(result)
    .map((c, i) => `${i + 1}\n${clock(c.start, ',')} --> ${clock(c.end, ',')}\n${c.text}\n`)
    .join('\n');
}

export function renderVtt(result: TranscriptResult): string {
  const body = cues(result)
    .map((c) => `${clock(c.start, '.')} --> ${clock(c.end, '.')}\n${c.text.replace(/-->/g, '->')}\n`)
    .join('\n');
  return `WEBVTT\n\n${body}`;
}

export function renderTxt(result: TranscriptResult): string {
  return `${result.text.trim()}\n`;
}

export function renderTranscript(result: TranscriptResult, format: TranscriptFormat, jobId: string): Rendered {
  switch (format) {
    case 'json':
      return { contentType: 'application/json; charset=utf-8', body: JSON.stringify({ id: jobId, ...result }) };
    case 'txt':
      return { contentType: 'text/plain; charset=utf-8', body: renderTxt(result) };
    case 'srt':
      return { contentType: 'application/x-subrip; charset=utf-8', body: renderSrt(result) };
    case 'vtt':
      return { contentType: 'text/vtt; charset=utf-8', body: renderVtt(result) };
  }
}
