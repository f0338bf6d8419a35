import { describe, expect, it } from 'vitest';
import { assertJobId, cacheKeyFor, taskIdFor, transcribeJobSchema } from '../src/index.js';

const md5 = 'a'.repeat(32);

describe('queue contract', () => {
  it('derives the cache key from audio MD5, model and output options', () => {
    const k = cacheKeyFor(md5, 'm1', { language: null });
    expect(k).toMatch(/^[0-9a-f]{40}$/);
    expect(cacheKeyFor(md5, 'm1', { language: null })).toBe(k);
    expect(cacheKeyFor(md5, 'm2', { language: null })).not.toBe(k);
    expect(cacheKeyFor(md5, 'm1', { language: 'en' })).not.toBe(k);
    expect(cacheKeyFor('b'.repeat(32), 'm1', { language: null })).not.toBe(k);
  });

  it('never makes job ids with ":"', () => {
    expect(taskIdFor(cacheKeyFor(md5, 'm', { language: null }), 'gen1')).not.toContain(':');
    expect(() => assertJobId('a:b')).toThrow(/no ':'/);
  });

  it('keeps audio bytes out of job data: the payload holds a blob key', () => {
    const payload = { v: 2, blobKey: 'ab/x', md5, bytes: 10, filename: 'a.wav', durationSec: 1, language: null, modelId: 'm@abc/fp32', modelName: 'm', cacheKey: 'c'.repeat(40), submittedAt: 1 };
    expect(transcribeJobSchema.parse(payload)).toEqual(payload);
    // a version-1 payload (no model name) still parses
    const { modelName: _name, ...v1 } = { ...payload, v: 1 as const };
    expect(transcribeJobSchema.parse(v1)).toEqual({ ...v1, modelName: null });
    expect(transcribeJobSchema.safeParse({ ...payload, audio: 'AAAA' }).data).not.toHaveProperty('audio');
    expect(transcribeJobSchema.safeParse({ ...payload, md5: 'nope' }).success).toBe(false);
  });
});
