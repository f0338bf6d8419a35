import { describe, expect, it } from 'vitest';
import { assertJobId, cacheKeyFor, modelDecision, taskIdFor, transcribeJobSchema } from '../src/index.js';

const md5 = 'a'.repeat(32);

describe('queue contract', () => {
  it('derives the cache key from audio MD5, model, output options and the tenant scope', () => {
    const parts = { md5, modelId: 'm1', options: { language: null }, queue: 'q', scope: 'tenant-a' };
    const k = cacheKeyFor(parts);
    expect(k).toMatch(/^[0-9a-f]{40}$/);
    expect(cacheKeyFor({ ...parts })).toBe(k);
    expect(cacheKeyFor({ ...parts, modelId: 'm2' })).not.toBe(k);
    expect(cacheKeyFor({ ...parts, options: { language: 'en' } })).not.toBe(k);
    expect(cacheKeyFor({ ...parts, md5: 'b'.repeat(32) })).not.toBe(k);
    expect(cacheKeyFor({ ...parts, scope: 'tenant-b' })).not.toBe(k);
    expect(cacheKeyFor({ ...parts, options: { language: null, itn: true } })).not.toBe(k);
    // itn left at the model's default keys like before the option existed
    expect(cacheKeyFor({ ...parts, options: { language: null, itn: null } })).toBe(k);
    expect(cacheKeyFor({ ...parts, scope: '' })).not.toBe(k);
    // no model yet: keyed on the queue
    expect(cacheKeyFor({ ...parts, modelId: null })).not.toBe(cacheKeyFor({ ...parts, modelId: null, queue: 'other' }));
  });

  it('never makes job ids with ":"', () => {
    expect(taskIdFor(cacheKeyFor({ md5, modelId: 'm', options: { language: null }, queue: 'q', scope: '' }), 'gen1')).not.toContain(':');
    expect(() => assertJobId('a:b')).toThrow(/no ':'/);
  });

  it('keeps audio bytes out of job data: the payload holds a blob key', () => {
    const payload = { v: 2, itn: null, cacheScope: 'o', blobKey: 'ab/x', md5, bytes: 10, filename: 'a.wav', durationSec: 1, language: null, modelId: 'm@abc/fp32', modelName: 'm', cacheKey: 'c'.repeat(40), submittedAt: 1 };
    expect(transcribeJobSchema.parse(payload)).toEqual(payload);
    // a version-1 payload (no model name) still parses
    const { modelName: _name, ...v1 } = { ...payload, v: 1 as const };
    expect(transcribeJobSchema.parse(v1)).toEqual({ ...v1, modelName: null });
    expect(transcribeJobSchema.safeParse({ ...payload, audio: 'AAAA' }).data).not.toHaveProperty('audio');
    expect(transcribeJobSchema.safeParse({ ...payload, md5: 'nope' }).success).toBe(false);
  });

  it('decides what a worker does with a task keyed for a model: run, adopt another build, hand back another model, give up', () => {
    const own = { id: 'm@aaaaaaaaaaaa/fp32', name: 'm' };
    const now = 1_000_000;
    const task = (modelId: string | null, modelName: string | null, ageMs = 0) => ({ modelId, modelName, submittedAt: now - ageMs });
    expect(modelDecision(task(own.id, 'm'), own, now, 60_000)).toBe('run');
    expect(modelDecision(task(null, null), own, now, 60_000)).toBe('run');
    expect(modelDecision(task('m@bbbbbbbbbbbb/int8', 'm'), own, now, 60_000)).toBe('adopt');
    expect(modelDecision(task('old-format-id', null), own, now, 60_000)).toBe('adopt');
    expect(modelDecision(task('x@cccccccccccc/fp32', 'x', 59_999), own, now, 60_000)).toBe('handBack');
    expect(modelDecision(task('x@cccccccccccc/fp32', 'x', 60_000), own, now, 60_000)).toBe('unavailable');
  });
});
