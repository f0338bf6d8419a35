import { describe, expect, it } from 'vitest';
import { parseRequest, transcriptQuery } from '../src/api/schemas.js';
import { renderSrt, renderTxt, renderVtt } from '../src/jobs/render.js';

const result = {
  text: 'hello world again',
  language: 'en',
  modelId: 'm',
  durationSec: 3725.5,
  segments: [
    { start: 0.5, end: 1.25, text: 'hello world' },
    { start: 3723.004, end: 3725.5, text: ' again ' },
    { start: 3725.5, end: 3725.5, text: '' },
  ],
};

describe('transcript rendering', () => {
  it('writes SRT with 1-based cues and comma milliseconds', () => {
    expect(renderSrt(result)).toBe('1\n00:00:00,500 --> 00:00:01,250\nhello world\n\n2\n01:02:03,004 --> 01:02:05,500\nagain\n');
  });

  it('writes WebVTT with a header and dot milliseconds', () => {
    expect(renderVtt(result)).toBe('WEBVTT\n\n00:00:00.500 --> 00:00:01.250\nhello world\n\n01:02:03.004 --> 01:02:05.500\nagain\n');
  });

  it('writes plain text and handles an empty transcript', () => {
    expect(renderTxt(result)).toBe('hello world again\n');
    const empty = { ...result, text: '', segments: [] };
    expect(renderSrt(empty)).toBe('');
    expect(renderVtt(empty)).toBe('WEBVTT\n\n');
  });

  it('accepts json/txt/srt/vtt only', () => {
    const format = (v: unknown): string => parseRequest(transcriptQuery, { format: v }).format;
    expect(format(undefined)).toBe('json');
    expect(format('SRT')).toBe('srt');
    expect(() => format('docx')).toThrow(/format must be one of/);
  });
});
