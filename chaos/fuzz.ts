/**
 * Chaos module: hostile requests from a seeded generator against the
 * running stack. Families: random and mutated audio, truncated and
 * unterminated multipart, oversized headers and names, slow and lying bodies
 * (stalls, byte-at-a-time, Content-Length larger or smaller than the body),
 * bad parameters, hostile archives (overlapping zip entries, bombs,
 * traversal, links, corrupt), bad credentials.
 *
 * Every answer must be JSON, never 5xx; a hostile request's a 4xx; each
 * within a time bound (slow cases: the body or header timeout plus slack);
 * no process may exit (`/healthz` green, the same workers in `/readyz`) and
 * no partial upload may be left in the blob store's `.tmp`. Prints counts by
 * status and code and the slowest answer.
 *
 * `fuzz(ctx, opts)` is the same run with its per-request outcomes, for the
 * vitest test (apps/gateway/test/e2e.chaos.test.ts).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gatewayConfigFromEnv } from '@voxfleet/config';
import {
  filePartHeaders,
  multipartBody,
  overlappingZip,
  patchBytes,
  rawHttp,
  rng,
  tarOf,
  wavBytes,
  zipOf,
  type RawRequest,
  type RawResponse,
  type RawStep,
} from '@voxfleet/testkit';
import { allOk, type ChaosContext, type Row, type Section } from './types.js';

/** `reject`: must be a JSON 4xx; `any`: may also be accepted (2xx), never 5xx; `maybe-none`: the client hung up, an answer is optional. */
type Expectation = 'reject' | 'any' | 'maybe-none';

interface FuzzCase {
  family: string;
  name: string;
  req: Omit<RawRequest, 'giveUpMs'>;
  expect: Expectation;
  /** waits out a server timeout */
  slow?: boolean;
  boundMs: number;
}

export interface FuzzOutcome {
  family: string;
  name: string;
  expect: Expectation;
  status: number | null;
  code: string | null;
  ms: number;
  ok: boolean;
  /** why it is not ok */
  problem?: string;
}

export interface FuzzOptions {
  seed?: number;
  /** the gateway's body idle and header timeouts (default: what the environment would configure) */
  bodyIdleTimeoutMs?: number;
  headersTimeoutMs?: number;
  /** requests in flight at once (slow cases run beside them) */
  concurrency?: number;
  /**
   * false: answer times are measured but not judged (the vitest run: no timed
   * assertions there), and a request is given a minute more before it counts
   * as unanswered
   */
  timeBounds?: boolean;
}

const BOUNDARY = 'fuzz7MA4YWxkTrZu0gW';
const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`;
const QUICK_BOUND_MS = 20_000;
const MiB = 1024 * 1024;

function head(method: string, path: string, headers: Record<string, string | number>): string {
  return [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)].join('\r\n');
}

class Generator {
  readonly cases: FuzzCase[] = [];
  private readonly r: () => number;

  constructor(
    seed: number,
    private readonly keys: [string, string],
    private readonly slowBound: { body: number; headers: number },
    private readonly timeouts: { body: number },
  ) {
    this.r = rng(seed);
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255);
    return b;
  }
  key(): string {
    return this.pick(this.keys);
  }

  add(family: string, name: string, req: Omit<RawRequest, 'giveUpMs'>, expect: Expectation = 'reject', slow?: 'body' | 'headers'): void {
    this.cases.push({ family, name, req, expect, ...(slow ? { slow: true } : {}), boundMs: slow ? this.slowBound[slow] : QUICK_BOUND_MS });
  }

  /** A POST whose Content-Length is the whole body, sent at once unless `steps` are given. */
  post(path: string, body: Buffer, o: { type?: string; key?: string | null; headers?: Record<string, string | number>; steps?: RawStep[]; length?: number } = {}): Omit<RawRequest, 'giveUpMs'> {
    const auth: Record<string, string> = o.key === null ? {} : { Authorization: `Bearer ${o.key ?? this.key()}` };
    return {
      head: head('POST', path, { ...auth, 'Content-Type': o.type ?? MULTIPART, 'Content-Length': o.length ?? body.length, ...o.headers }),
      body: o.steps ?? [body],
    };
  }
  get(path: string, headers: Record<string, string> = { Authorization: `Bearer ${this.key()}` }, method = 'GET'): Omit<RawRequest, 'giveUpMs'> {
    return { head: head(method, path, headers) };
  }
  form(data: Buffer, filename = 'clip.wav', fields: Record<string, string> = {}): Buffer {
    return multipartBody(BOUNDARY, [
      ...Object.entries(fields).map(([k, v]) => ({ headers: [`Content-Disposition: form-data; name="${k}"`], data: v })),
      { headers: filePartHeaders(filename), data },
    ]);
  }

  randomAudio(n: number): void {
    const magics = [Buffer.alloc(0), Buffer.from('RIFF\0\0\0\0WAVE'), Buffer.from('ID3\x04\0\0\0\0\0\0'), Buffer.from('OggS'), Buffer.from('fLaC'), Buffer.from([0xff, 0xfb, 0x90, 0x64])];
    for (let i = 0; i < n; i++) {
      const magic = this.pick(magics);
      const data = Buffer.concat([magic, this.bytes(this.int(1, 48 * 1024))]);
      this.add('random audio', `random bytes after ${JSON.stringify(magic.subarray(0, 4).toString('latin1'))}`, this.post('/v1/jobs', this.form(data, this.pick(['a.wav', 'b.mp3', 'c.flac', 'd.ogg', 'e']))), 'any');
    }
  }

  mutatedWav(wav: Buffer, n: number): void {
    const absurd: Array<[string, (b: Buffer) => Buffer]> = [
      ['65535 channels', (b) => (b.writeUInt16LE(65535, 22), b)],
      ['0 channels', (b) => (b.writeUInt16LE(0, 22), b)],
      ['sample rate 0', (b) => (b.writeUInt32LE(0, 24), b)],
      ['sample rate 4e9', (b) => (b.writeUInt32LE(4_000_000_000, 24), b)],
      ['block align 3', (b) => (b.writeUInt16LE(3, 32), b)],
      ['0 bits', (b) => (b.writeUInt16LE(0, 34), b)],
      ['truncated data', (b) => b.subarray(0, this.int(45, b.length - 64))],
      ['header only', (b) => b.subarray(0, 44)],
      ['no data chunk', (b) => patchBytes(b, 'data', 'junk')],
    ];
    for (let i = 0; i < n; i++) {
      if (i % 3 === 2) {
        // Random bytes of the header changed: may still be a valid file.
        const b = Buffer.from(wav);
        for (let k = this.int(1, 4); k > 0; k--) b[this.int(0, 43)] = this.int(0, 255);
        this.add('mutated audio', 'WAV header bytes flipped', this.post('/v1/jobs', this.form(b)), 'any');
      } else {
        const [what, mutate] = this.pick(absurd);
        this.add('mutated audio', `WAV: ${what}`, this.post('/v1/jobs', this.form(mutate(Buffer.from(wav)))));
      }
    }
  }

  multipart(wav: Buffer, n: number): void {
    const good = this.form(wav);
    const variants: Array<() => [string, Omit<RawRequest, 'giveUpMs'>]> = [
      () => {
        const cut = this.int(1, good.length - 1);
        return [`body cut at byte ${cut} of ${good.length}`, this.post('/v1/jobs', good.subarray(0, cut))];
      },
      () => ['unterminated (no closing boundary)', this.post(this.pick(['/v1/jobs', '/v1/batches']), multipartBody(BOUNDARY, [{ headers: filePartHeaders('a.wav'), data: wav }], { unterminated: true }))],
      () => ['part headers cut off', this.post('/v1/jobs', Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filena`))],
      () => ['no boundary parameter', this.post('/v1/jobs', good, { type: 'multipart/form-data' })],
      () => ['wrong boundary', this.post('/v1/jobs', good, { type: 'multipart/form-data; boundary=other' })],
      () => ['no file field', this.post('/v1/jobs', multipartBody(BOUNDARY, [{ headers: ['Content-Disposition: form-data; name="language"'], data: 'en' }]))],
      () => ['empty file', this.post('/v1/jobs', this.form(Buffer.alloc(0)))],
      () => ['field of 5000 bytes', this.post('/v1/jobs', this.form(wav, 'a.wav', { language: 'e'.repeat(5000) }))],
      () => ['45 parts', this.post(this.pick(['/v1/jobs', '/v1/batches']), multipartBody(BOUNDARY, [...Array.from({ length: 44 }, (_, i) => ({ headers: [`Content-Disposition: form-data; name="f${i}"`], data: 'x' })), { headers: filePartHeaders('a.wav'), data: wav }]))],
      () => ['7 file parts', this.post('/v1/jobs', multipartBody(BOUNDARY, Array.from({ length: 7 }, (_, i) => ({ headers: filePartHeaders(`a${i}.wav`, `f${i}`), data: 'x' }))))],
      () => [`file name of ${(this.int(2, 12) * 1000).toLocaleString('en')} chars`, this.post('/v1/jobs', this.form(this.bytes(2000), `${'名'.repeat(this.int(2000, 12_000))}.wav`))],
      () => ['traversal and NUL in the file name', this.post('/v1/jobs', this.form(this.bytes(500), '../../etc/\u0000passwd.wav'))],
      () => ['not multipart (text/plain) on /v1/jobs', this.post('/v1/jobs', wav, { type: 'text/plain' })],
      () => ['multipart garbage', this.post('/v1/jobs', this.bytes(this.int(10, 5000)))],
    ];
    for (let i = 0; i < n; i++) {
      const [name, req] = this.pick(variants)();
      this.add('multipart', name, req);
    }
  }

  headers(n: number): void {
    const key = (): string => `Bearer ${this.key()}`;
    const variants: Array<() => [string, Omit<RawRequest, 'giveUpMs'>]> = [
      () => ['a 20 KB header', this.get('/v1/jobs', { Authorization: key(), 'X-Big': 'x'.repeat(20_000) })],
      () => ['3 000 headers', this.get('/v1/jobs', { Authorization: key(), ...Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`X-H${i}`, 'v'])) })],
      () => ['a 15 KB URL', this.get(`/v1/jobs?cursor=${'a'.repeat(15_000)}`)],
      () => ['malformed request line', { head: 'GARBAGE\r\nHost: x' }],
      () => ['unknown method', { head: 'FOO /v1/jobs HTTP/1.1\r\nHost: x' }],
      () => ['HTTP/2.0 request line', { head: 'GET /v1/jobs HTTP/2.0\r\nHost: x' }],
      () => ['Content-Length: abc', { head: head('POST', '/v1/jobs', { Authorization: key(), 'Content-Length': 'abc' }) }],
      () => ['two Content-Lengths', { head: `${head('POST', '/v1/jobs', { Authorization: key(), 'Content-Length': 10 })}\r\nContent-Length: 20`, body: ['0123456789'] }],
      () => ['Content-Length and chunked', { head: head('POST', '/v1/jobs', { Authorization: key(), 'Content-Length': 10, 'Transfer-Encoding': 'chunked' }), body: ['0\r\n\r\n'] }],
      () => ['Transfer-Encoding: gzip', { head: head('POST', '/v1/jobs', { Authorization: key(), 'Transfer-Encoding': 'gzip' }), body: ['abc'] }],
      () => ['control character in a header', { head: head('GET', '/v1/jobs', { Authorization: key(), 'X-Bad': 'a\u0001b' }) }],
      () => ['Expect: something-else', this.post('/v1/jobs', Buffer.from('x'), { headers: { Expect: 'something-else' } })],
      () => [`Content-Length 1e15`, { head: head('POST', this.pick(['/v1/jobs', '/v1/batches']), { Authorization: key(), 'Content-Type': MULTIPART, 'Content-Length': 1e15 }) }],
      () => ['Content-Length 10 GB raw archive', { head: head('POST', '/v1/batches', { Authorization: key(), 'Content-Type': 'application/zip', 'Content-Length': 10 * 1024 * MiB + 1 }) }],
    ];
    for (let i = 0; i < n; i++) {
      const [name, req] = this.pick(variants)();
      this.add('headers', name, req);
    }
  }

  lyingLength(wav: Buffer, n: number): void {
    const good = this.form(wav);
    const variants: Array<() => void> = [
      // (cut before the closing boundary: a cut in its last CRLF would be a complete form)
      () => this.add('lying length', 'Content-Length smaller than the body', this.post('/v1/jobs', good, { length: this.int(1, good.length - 40) })),
      () => this.add('lying length', 'Content-Length 0 with a body', this.post('/v1/jobs', good, { length: 0 })),
      () => this.add('lying length', 'Content-Length larger, then the client hangs up', { ...this.post('/v1/jobs', good, { length: good.length + this.int(1, 10_000) }), endAfterBody: true }, 'maybe-none'),
      () => this.add('lying length', 'raw archive: Content-Length smaller than the body', this.post('/v1/batches', good, { type: 'application/zip', length: this.int(1, 100) })),
    ];
    for (let i = 0; i < n; i++) this.pick(variants)();
  }

  slow(wav: Buffer, zip: Buffer): void {
    const good = this.form(wav);
    const stall = this.timeouts.body + 5000;
    this.add('slow', 'multipart body stalls mid-file', this.post('/v1/jobs', good, { steps: [good.subarray(0, 3000), { pauseMs: stall }, good.subarray(3000)] }), 'reject', 'body');
    this.add('slow', 'Content-Length larger than the body, then silence', this.post('/v1/jobs', good, { length: good.length + 5000, steps: [good, { pauseMs: stall }] }), 'reject', 'body');
    this.add('slow', 'raw archive stalls', this.post('/v1/batches?filename=a.zip', zip, { type: 'application/zip', steps: [zip.subarray(0, 50), { pauseMs: stall }, zip.subarray(50)] }), 'reject', 'body');
    const drip: RawStep[] = [];
    for (let i = 0; i < Math.min(good.length, Math.ceil(stall / 250)); i++) drip.push(good.subarray(i, i + 1), { pauseMs: 250 });
    this.add('slow', 'body dribbled a byte every 250 ms', this.post('/v1/jobs', good, { steps: drip }), 'reject', 'body');
    this.add('slow', 'headers that never end', { head: 'POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ', incompleteHead: true, body: [{ pauseMs: this.slowBound.headers }] }, 'reject', 'headers');
    this.add('slow', 'upload waiting for 100 Continue that is refused', { ...this.post('/v1/jobs', good, { key: 'wrong-key-0123456789abcdef', headers: { Expect: '100-continue' } }), waitForContinue: true }, 'reject');
  }

  params(wav: Buffer, n: number): void {
    const id = (): string => this.pick(['j_', 'b_', '', 'x']) + this.bytes(this.int(4, 20)).toString('hex');
    const variants: Array<() => [string, Omit<RawRequest, 'giveUpMs'>]> = [
      () => ['status=bogus', this.get('/v1/jobs?status=bogus')],
      () => ['limit out of range', this.get(`/v1/jobs?limit=${this.pick(['0', '-1', '100000', 'abc', '1e3'])}`)],
      () => ['cursor garbage', this.get(`/v1/jobs?cursor=${encodeURIComponent(this.bytes(12).toString('latin1'))}`)],
      () => ['wait out of range', this.get(`/v1/jobs/${id()}?wait=${this.pick(['-1', 'abc', '1e9', 'NaN'])}`)],
      () => ['unknown job id', this.get(`/v1/jobs/${id()}`)],
      () => ['traversal in a job id', this.get(`/v1/jobs/..%2F..%2F..%2Fetc%2Fpasswd`)],
      () => ['NUL in a job id', this.get(`/v1/jobs/%00${id()}`)],
      () => ['transcript format=exe', this.get(`/v1/jobs/${id()}/transcript?format=exe`)],
      () => ['cancel an unknown job', this.get(`/v1/jobs/${id()}/cancel`, { Authorization: `Bearer ${this.key()}` }, 'POST')],
      () => ['delete an unknown job', this.get(`/v1/jobs/${id()}`, { Authorization: `Bearer ${this.key()}` }, 'DELETE')],
      () => ['unknown batch', this.get(`/v1/batches/${id()}`)],
      () => ['batch results format=exe', this.get(`/v1/batches/${id()}/results?format=exe`)],
      () => ['batch entries status=bogus', this.get(`/v1/batches/${id()}/jobs?status=bogus`)],
      () => ['unknown endpoint', this.get(`/v1/${this.pick(['jobz', 'admin', '../etc/passwd', 'jobs/a/b/c'])}`)],
      () => ['PUT /v1/jobs', this.get('/v1/jobs', { Authorization: `Bearer ${this.key()}` }, 'PUT')],
      () => ['language=xx-YY-zz', this.post('/v1/jobs', this.form(wav, 'a.wav', { language: this.pick(['xx-YY-zz', '💥', 'en'.repeat(50), 'e']) }))],
      () => ['priority out of range', this.post('/v1/jobs', this.form(wav, 'a.wav', { priority: this.pick(['0', '101', '-5', 'abc', '1e9', '2.5']) }))],
      () => ['Idempotency-Key of 300 chars', this.post('/v1/jobs', this.form(wav), { headers: { 'Idempotency-Key': 'k'.repeat(300) } })],
      () => ['batch callback_url to loopback', this.post('/v1/batches?callback_url=http://127.0.0.1:1/x', this.form(wav, 'a.zip'))],
      () => ['batch reference=bogus', this.post('/v1/batches?reference=bogus', this.form(wav, 'a.zip'))],
    ];
    for (let i = 0; i < n; i++) {
      const [name, req] = this.pick(variants)();
      this.add('parameters', name, req);
    }
  }

  archives(archives: Array<[string, Buffer, string]>, n: number): void {
    for (let i = 0; i < n; i++) {
      const [name, bytes, type] = this.pick(archives);
      if (this.r() < 0.5) this.add('archives', `${name} (multipart)`, this.post('/v1/batches', this.form(bytes, 'archive.zip')));
      else this.add('archives', `${name} (raw ${type})`, this.post(`/v1/batches?filename=${encodeURIComponent('a/../b.zip')}`, bytes, { type }));
    }
  }

  auth(n: number): void {
    const variants: Array<() => [string, Record<string, string>]> = [
      () => ['no Authorization', {}],
      () => ['Bearer without a key', { Authorization: 'Bearer' }],
      () => ['two tokens', { Authorization: `Bearer ${this.key()} extra` }],
      () => ['Basic on /v1', { Authorization: `Basic ${Buffer.from(`admin:${this.key()}`).toString('base64')}` }],
      () => ['a wrong key', { Authorization: `Bearer vf_${this.bytes(24).toString('base64url')}` }],
      () => ['a key of 10 KB', { Authorization: `Bearer ${'k'.repeat(10_000)}` }],
      () => ['a key prefix', { Authorization: `Bearer ${this.key().slice(0, 10)}` }],
      () => ['non-ASCII key', { Authorization: 'Bearer ключ-🔑-0123456789' }],
    ];
    for (let i = 0; i < n; i++) {
      const [name, headers] = this.pick(variants)();
      this.add('credentials', name, this.get(this.pick(['/v1/jobs', '/metrics', '/v1/batches/b_x']), headers));
    }
  }
}

/** Compressible about 90× (each entry of an overlapping zip under the ratio limit on its own). */
function kernel(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 90) b[i] = (i * 2654435761) >>> 24;
  return b;
}

async function hostileArchives(wav: Buffer): Promise<Array<[string, Buffer, string]>> {
  const zero = Buffer.alloc(MiB);
  const goodZip = await zipOf([
    { name: 'a/clip.wav', data: wav },
    { name: 'a/b.txt', data: 'hello' },
  ]);
  const list: Array<[string, Buffer, string]> = [
    ['500 entries over one deflate stream', overlappingZip({ entries: 500, kernel: kernel(MiB), layout: 'shared' }), 'application/zip'],
    ['chained overlapping stored entries', overlappingZip({ entries: 40, kernel: wav, layout: 'chained' }), 'application/zip'],
    ['one 20 MiB entry of zeros', await zipOf([{ name: 'big.wav', data: Buffer.alloc(20 * MiB) }]), 'application/zip'],
    ['120 entries of 1 MiB of zeros', await zipOf(Array.from({ length: 120 }, (_, i) => ({ name: `s/${i}.wav`, data: zero }))), 'application/zip'],
    ['tar.gz of 40 MiB of zeros', await tarOf(Array.from({ length: 40 }, (_, i) => ({ name: `s/${i}.wav`, data: zero })), { gzip: true }), 'application/gzip'],
    ['../ traversal', patchBytes(await zipOf([{ name: 'aa/x.wav', data: wav }]), 'aa/', '../'), 'application/zip'],
    ['absolute path', patchBytes(await zipOf([{ name: 'Xetc/x.wav', data: wav }]), 'Xetc', '/etc'), 'application/zip'],
    ['symlink entry', await zipOf([{ name: 'link.wav', data: '/etc/passwd', mode: 0o120777 }, { name: 'a.wav', data: wav }]), 'application/zip'],
    ['tar hard link', await tarOf([{ name: 'l.wav', type: 'link', linkname: '/etc/passwd' }, { name: 'a.wav', data: wav }]), 'application/x-tar'],
    ['tar device entry', await tarOf([{ name: 'dev', type: 'character-device' }, { name: 'a.wav', data: wav }]), 'application/x-tar'],
    ['only a nested zip', await zipOf([{ name: 'inner.zip', data: goodZip }]), 'application/zip'],
    ['no audio entries', await zipOf([{ name: 'a.pdf', data: 'x' }, { name: 'b.txt', data: 'y' }]), 'application/zip'],
    ['not an archive', Buffer.from(wav), 'application/octet-stream'],
    ['empty body', Buffer.alloc(0), 'application/zip'],
    ['truncated zip', goodZip.subarray(0, Math.floor(goodZip.length / 2)), 'application/zip'],
    ['zip central directory only', goodZip.subarray(goodZip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]))), 'application/zip'],
  ];
  return list;
}

async function readyWorkers(url: string): Promise<string[]> {
  try {
    const r = await fetch(`${url}/readyz`);
    const body = (await r.json()) as { workers?: Array<{ id: string }> };
    return (body.workers ?? []).map((w) => w.id).sort();
  } catch {
    return [];
  }
}

async function tmpFiles(varDir: string): Promise<number> {
  const entries = await readdir(join(varDir, 'blobs', '.tmp')).catch(() => []);
  return entries.length;
}

function judge(c: FuzzCase, r: RawResponse, timeBounds: boolean): FuzzOutcome {
  const code = (r.json as { error?: { code?: unknown } } | null)?.error?.code;
  const out: FuzzOutcome = { family: c.family, name: c.name, expect: c.expect, status: r.status, code: typeof code === 'string' ? code : null, ms: Math.round(r.ms), ok: true };
  const bad = (problem: string): FuzzOutcome => ({ ...out, ok: false, problem });
  if (r.status === null) return c.expect === 'maybe-none' ? out : bad(r.gaveUp ? 'no answer (gave up)' : 'connection closed without an answer');
  if (r.status >= 500) return bad(`${r.status}`);
  if (r.json === null) return bad(`${r.status} without a JSON body`);
  if (r.status >= 400 && out.code === null) return bad(`${r.status} without an error code`);
  if (c.expect !== 'any' && (r.status < 400 || r.status >= 500)) return bad(`${r.status}: a hostile request was accepted`);
  if (timeBounds && r.ms > c.boundMs) return bad(`answered after ${Math.round(r.ms)} ms (bound ${c.boundMs} ms)`);
  return out;
}

async function runPool<T, R>(items: readonly T[], concurrency: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

function envTimeouts(): { body: number; headers: number } {
  try {
    const h = gatewayConfigFromEnv(process.env).http;
    return { body: h.bodyIdleTimeoutMs, headers: h.headersTimeoutMs };
  } catch {
    return { body: 30_000, headers: 30_000 };
  }
}

export async function fuzz(ctx: ChaosContext, opts: FuzzOptions = {}): Promise<{ section: Section; outcomes: FuzzOutcome[] }> {
  const seed = opts.seed ?? 20261201;
  const env = envTimeouts();
  const bodyMs = opts.bodyIdleTimeoutMs ?? env.body;
  const headersMs = opts.headersTimeoutMs ?? env.headers;
  // A stall is cut within the idle timeout plus the watch's tick; a slow header within the timeout plus Node's 1 s check.
  const slowBound = { body: bodyMs + 15_000, headers: headersMs + 15_000 };

  // The tenants and the admin authenticate first, so the failed-credential cases below (which throttle this
  // address) never lock them out for the modules that follow.
  for (const key of ctx.apiKeys) await fetch(`${ctx.url}/v1/jobs?limit=1`, { headers: { authorization: `Bearer ${key}` } });
  await fetch(`${ctx.url}/admin/queues/api/queues`, { headers: { authorization: `Basic ${Buffer.from(`${ctx.admin.user}:${ctx.admin.password}`).toString('base64')}` } });

  const samples = new Float32Array(8000).map((_, i) => 0.3 * Math.sin(i / 7) * Math.sin(i / 900));
  const wav = Buffer.from(wavBytes(samples));
  const g = new Generator(seed, ctx.apiKeys, slowBound, { body: bodyMs });
  g.randomAudio(30);
  g.mutatedWav(wav, 36);
  g.multipart(wav, 56);
  g.headers(28);
  g.lyingLength(wav, 20);
  g.params(wav, 60);
  g.archives(await hostileArchives(wav), 60);
  g.auth(24);
  const slowStart = g.cases.length;
  g.slow(wav, await zipOf([{ name: 'a.wav', data: wav }]));
  const quick = g.cases.slice(0, slowStart);
  const slow = g.cases.slice(slowStart);

  const workersBefore = await readyWorkers(ctx.url);
  const tmpBefore = await tmpFiles(ctx.varDir);
  ctx.log(`${g.cases.length} hostile requests (seed ${seed}): ${quick.length} quick, ${slow.length} waiting out a timeout (body ${bodyMs} ms, headers ${headersMs} ms)`);
  const timeBounds = opts.timeBounds ?? true;
  const send = async (c: FuzzCase): Promise<FuzzOutcome> => judge(c, await rawHttp(ctx.url, { ...c.req, giveUpMs: c.boundMs + (timeBounds ? 10_000 : 60_000) }), timeBounds);
  const [slowOut, quickOut] = await Promise.all([Promise.all(slow.map(send)), runPool(quick, opts.concurrency ?? 4, send)]);
  const outcomes = [...quickOut, ...slowOut];

  // Let the server finish what it does after answering (deleting partial blobs) before looking.
  let health = 0;
  try {
    health = (await fetch(`${ctx.url}/healthz`)).status;
  } catch {
    /* down */
  }
  const workersAfter = await readyWorkers(ctx.url);
  let tmpAfter = await tmpFiles(ctx.varDir);
  for (let i = 0; i < 20 && tmpAfter > tmpBefore; i++) {
    await new Promise((r) => setTimeout(r, 250));
    tmpAfter = await tmpFiles(ctx.varDir);
  }

  const failed = outcomes.filter((o) => !o.ok);
  const byStatus = new Map<string, Map<string, number>>();
  for (const o of outcomes) {
    const s = o.status === null ? 'none' : String(o.status);
    const codes = byStatus.get(s) ?? new Map<string, number>();
    codes.set(o.code ?? '–', (codes.get(o.code ?? '–') ?? 0) + 1);
    byStatus.set(s, codes);
  }
  const answered = outcomes.filter((o) => o.status !== null);
  const slowest = answered.reduce<FuzzOutcome | null>((a, o) => (a === null || o.ms > a.ms ? o : a), null);
  const slowestQuick = answered.filter((o) => !slow.some((c) => c.name === o.name && c.family === o.family)).reduce<FuzzOutcome | null>((a, o) => (a === null || o.ms > a.ms ? o : a), null);
  const rejectCases = outcomes.filter((o) => o.expect === 'reject');
  const accepted = outcomes.filter((o) => o.status !== null && o.status < 400);

  const rows: Row[] = [
    { check: 'hostile requests sent (seeded generator)', value: outcomes.length, expect: '≥ 300', ok: outcomes.length >= 300 },
    { check: 'hostile requests answered with a JSON 4xx', value: `${rejectCases.filter((o) => o.ok).length} / ${rejectCases.length}`, expect: 'all', ok: rejectCases.every((o) => o.ok) },
    { check: 'random or mutated audio: 5xx or non-JSON answers', value: outcomes.filter((o) => o.expect === 'any' && !o.ok).length, expect: '0', ok: outcomes.filter((o) => o.expect === 'any').every((o) => o.ok) },
    { check: 'random or mutated audio accepted (valid after all)', value: accepted.length },
    { check: '5xx answers', value: outcomes.filter((o) => (o.status ?? 0) >= 500).length, expect: '0', ok: outcomes.every((o) => (o.status ?? 0) < 500) },
    timeBounds
      ? { check: 'answers over their time bound', value: outcomes.filter((o) => o.problem?.startsWith('answered after')).length, expect: `0 (${QUICK_BOUND_MS / 1000} s; slow cases: timeout + 15 s)`, ok: !outcomes.some((o) => o.problem?.startsWith('answered after')) }
      : { check: `answers over ${QUICK_BOUND_MS / 1000} s (slow cases: timeout + 15 s), not judged`, value: outcomes.filter((o, i) => o.ms > g.cases[i]!.boundMs).length }, // outcomes are in the order of g.cases
    { check: 'slowest answer', value: slowest ? `${slowest.ms} ms: ${slowest.family} / ${slowest.name} → ${slowest.status} ${slowest.code ?? ''}` : '–' },
    { check: 'slowest answer to a quick case', value: slowestQuick ? `${slowestQuick.ms} ms: ${slowestQuick.family} / ${slowestQuick.name} → ${slowestQuick.status} ${slowestQuick.code ?? ''}` : '–' },
    { check: 'GET /healthz afterwards', value: health, expect: '200', ok: health === 200 },
    { check: 'workers in /readyz before → after', value: `${workersBefore.length} → ${workersAfter.length}`, expect: 'the same', ok: workersBefore.join() === workersAfter.join() },
    { check: 'partial uploads left in blobs/.tmp', value: tmpAfter - tmpBefore, expect: '0', ok: tmpAfter <= tmpBefore },
  ];
  const notes = [
    `Counts by status and code: ${[...byStatus.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([s, codes]) => `${s}: ${[...codes.entries()].map(([c, n]) => `${c} ${n}`).join(', ')}`)
      .join('; ')}.`,
    ...failed.slice(0, 20).map((o) => `FAILED ${o.family} / ${o.name}: ${o.problem}`),
  ];
  return { section: { title: `Fuzz: ${outcomes.length} hostile requests (seed ${seed})`, rows, pass: allOk(rows), notes }, outcomes };
}

export async function run(ctx: ChaosContext): Promise<Section> {
  return (await fuzz(ctx)).section;
}
