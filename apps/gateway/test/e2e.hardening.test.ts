/**
 * HTTP and input hardening against the real gateway (real redis-server, the
 * gateway on an ephemeral port, no worker), mostly over raw sockets so the
 * test controls every byte and pause:
 *
 * - admin credentials of their own (generated into var/admin-password, 0600):
 *   no API key opens Bull Board or its API, the admin password does, and a
 *   configured admin password equal to an API key is refused at start;
 * - 413 from a declared Content-Length before any body byte (also with
 *   `Expect: 100-continue`: no `100 Continue` is sent), on /v1/jobs and
 *   /v1/batches (multipart and raw); a chunked upload over the limit stops
 *   being read;
 * - body timeouts: a stalled body and a dribbling one get 408 `body_timeout`
 *   and leave no blob; a slow upload that keeps moving is accepted;
 * - header timeout, oversized headers and a malformed request line answer JSON;
 * - UTF-8 and RFC 5987 file names are stored as sent; absurd or truncated WAV
 *   headers are refused at upload; too many form parts are a limit error;
 * - rate limits: uploads per API key, failed authentications per client
 *   address without locking out a key already used from that address.
 *
 * No timing is asserted: pauses only make the server see a stall.
 */
import { stat } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  baseEnv,
  filePartHeaders,
  filesUnder,
  fixtureSamples,
  multipartBody,
  rawHttp,
  startRedis,
  stopStack,
  wavBytes,
  zipOf,
  type RawRequest,
  type RawResponse,
  type RawStep,
  type TestRedis,
} from '@voxfleet/testkit';
import type { RunningGateway } from '../src/index.js';
import { startTestGateway } from './harness.js';

const KEY_A = 'hardening-key-a-0123456789abcdef';
const KEY_B = 'hardening-key-b-0123456789abcdef';
const KEY_C = 'hardening-key-c-0123456789abcdef';
const B = 'BOUNDARY42';
const MiB = 1024 * 1024;
const MULTIPART = `multipart/form-data; boundary=${B}`;

const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const codeOf = (r: RawResponse): string | undefined => (r.json as { error?: { code?: string } } | null)?.error?.code;

function head(method: string, path: string, headers: Record<string, string | number>): string {
  return [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)].join('\r\n');
}

describe('HTTP and input hardening', () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  let varDir: string;
  let clip: Buffer;
  const blobsDir = (): string => join(varDir, 'blobs');

  const send = (r: Omit<RawRequest, 'giveUpMs'> & { giveUpMs?: number }): Promise<RawResponse> => rawHttp(gw.url, { giveUpMs: 30_000, ...r });
  /** A multipart POST with Content-Length = the whole body, written as `steps` (default: at once). */
  const postForm = (path: string, body: Buffer, opts: { key?: string; steps?: RawStep[]; extra?: Record<string, string> } = {}): Promise<RawResponse> =>
    send({
      head: head('POST', path, { Authorization: `Bearer ${opts.key ?? KEY_A}`, 'Content-Type': MULTIPART, 'Content-Length': body.length, ...opts.extra }),
      body: opts.steps ?? [body],
    });

  beforeAll(async () => {
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-hardening-'));
    redis = await startRedis();
    gw = await startTestGateway({
      ...baseEnv(redis.url, varDir),
      VOXFLEET_API_KEYS: `${KEY_A},${KEY_B}`,
      VOXFLEET_MAX_UPLOAD_BYTES: String(MiB),
      VOXFLEET_BATCH_MAX_ARCHIVE_BYTES: String(2 * MiB),
      VOXFLEET_BODY_IDLE_TIMEOUT_MS: '1000',
      VOXFLEET_BODY_MIN_RATE: '1024',
      VOXFLEET_HEADERS_TIMEOUT_MS: '1000',
    });
    clip = Buffer.from(wavBytes((await fixtureSamples()).subarray(0, 8000)));
  }, 60_000);

  afterAll(async () => {
    await stopStack({ gw, redis, varDir });
  });

  describe('admin credentials', () => {
    it('are generated into var/admin-password (0600), and are no API key', async () => {
      expect(gw.admin.generated).toBe(true);
      expect(gw.admin.file).toBe(join(varDir, 'admin-password'));
      expect((await stat(gw.admin.file!)).mode & 0o777).toBe(0o600);
      expect([KEY_A, KEY_B]).not.toContain(gw.adminPassword);
      expect(gw.adminPassword.length).toBeGreaterThanOrEqual(16);
    });

    it('no API key opens Bull Board or its API; the admin password does', async () => {
      const api = '/admin/queues/api/queues?activeQueue=transcribe&status=completed&page=1';
      for (const path of ['/admin/queues', api]) {
        for (const auth of [basic('admin', KEY_A), basic('admin', KEY_B), basic(KEY_A, KEY_A), `Bearer ${KEY_A}`, `Bearer ${KEY_B}`]) {
          const r = await fetch(`${gw.url}${path}`, { headers: { authorization: auth } });
          expect(r.status, `${path} with ${auth.slice(0, 12)}…`).toBe(401);
        }
        const ok = await fetch(`${gw.url}${path}`, { headers: { authorization: basic('admin', gw.adminPassword) } });
        expect(ok.status).toBe(200);
        if (path === api) expect(((await ok.json()) as { queues: Array<{ name: string }> }).queues.map((q) => q.name).join(' ')).toMatch(/\btranscribe/);
      }
    });

    it('a restart reuses the stored password; an admin password equal to an API key is refused at start', async () => {
      const again = await startTestGateway({ ...baseEnv(redis.url, varDir), VOXFLEET_API_KEYS: `${KEY_A},${KEY_B}` });
      try {
        expect(again.admin.generated).toBe(false);
        expect(again.adminPassword).toBe(gw.adminPassword);
      } finally {
        await again.close();
      }
      await expect(startTestGateway({ ...baseEnv(redis.url, varDir), VOXFLEET_API_KEYS: `${KEY_A},${KEY_B}`, VOXFLEET_ADMIN_PASSWORD: KEY_B })).rejects.toThrow(
        /admin password .* is one of the API keys/,
      );
    });
  });

  describe('413 from the declared length, before the body', () => {
    const cases: Array<[string, string, string, number]> = [
      ['/v1/jobs', MULTIPART, 'file_too_large', 3 * MiB],
      ['/v1/batches', MULTIPART, 'archive_too_large', 4 * MiB],
      ['/v1/batches', 'application/zip', 'archive_too_large', 2 * MiB + 1],
    ];
    for (const [path, type, code, length] of cases) {
      it(`${path} (${type.split(';')[0]}), Content-Length ${length}: answered without a byte of the body`, async () => {
        const r = await send({ head: head('POST', path, { Authorization: `Bearer ${KEY_A}`, 'Content-Type': type, 'Content-Length': length }) });
        expect([r.status, codeOf(r)]).toEqual([413, code]);
        expect(r.headers.connection).toBe('close');
        expect(r.bodyBytesSent).toBe(0);
        // A client that waits for 100 Continue is never told to send.
        const e = await send({
          head: head('POST', path, { Authorization: `Bearer ${KEY_A}`, 'Content-Type': type, 'Content-Length': length, Expect: '100-continue' }),
          body: [Buffer.alloc(1024)],
          waitForContinue: true,
        });
        expect([e.status, codeOf(e), e.continued, e.bodyBytesSent]).toEqual([413, code, false, 0]);
      });
    }

    it('a valid upload with Expect: 100-continue is told to continue and accepted', async () => {
      const body = multipartBody(B, [{ headers: filePartHeaders('clip.wav'), data: clip }]);
      const r = await send({
        head: head('POST', '/v1/jobs', { Authorization: `Bearer ${KEY_A}`, 'Content-Type': MULTIPART, 'Content-Length': body.length, Expect: '100-continue' }),
        body: [body],
        waitForContinue: true,
      });
      expect([r.status, r.continued]).toEqual([202, true]);
    });

    it('a chunked upload over the limit is answered 413 and not read to its end', async () => {
      const before = await filesUnder(blobsDir());
      const start = multipartBody(B, [{ headers: filePartHeaders('big.wav'), data: '' }], { unterminated: true });
      const chunk = (b: Buffer): Buffer => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
      const steps: RawStep[] = [chunk(start)];
      for (let i = 0; i < 128; i++) steps.push(chunk(Buffer.alloc(64 * 1024, 1)), { pauseMs: 2 }); // 8 MiB
      const r = await send({ head: head('POST', '/v1/jobs', { Authorization: `Bearer ${KEY_A}`, 'Content-Type': MULTIPART, 'Transfer-Encoding': 'chunked' }), body: steps });
      expect([r.status, codeOf(r)]).toEqual([413, 'file_too_large']);
      expect(r.bodyBytesSent).toBeLessThan(8 * MiB);
      expect(await filesUnder(blobsDir())).toEqual(before);
    });
  });

  describe('body timeouts', () => {
    it('a body that stalls mid-file gets 408 body_timeout (connection closed) and leaves no blob', async () => {
      const before = await filesUnder(blobsDir());
      const body = multipartBody(B, [{ headers: filePartHeaders('stall.wav'), data: clip }]);
      const r = await postForm('/v1/jobs', body, { steps: [body.subarray(0, 5000), { pauseMs: 20_000 }, body.subarray(5000)] });
      expect([r.status, codeOf(r)]).toEqual([408, 'body_timeout']);
      expect(r.headers.connection).toBe('close');
      expect(r.bodyBytesSent).toBe(5000);
      expect(await filesUnder(blobsDir())).toEqual(before);
    });

    it('a raw archive body that stalls gets 408 and leaves no blob', async () => {
      const before = await filesUnder(blobsDir());
      const zip = await zipOf([{ name: 'a.wav', data: clip }]);
      const r = await send({
        head: head('POST', '/v1/batches?filename=a.zip', { Authorization: `Bearer ${KEY_A}`, 'Content-Type': 'application/zip', 'Content-Length': zip.length }),
        body: [zip.subarray(0, 100), { pauseMs: 20_000 }, zip.subarray(100)],
      });
      expect([r.status, codeOf(r)]).toEqual([408, 'body_timeout']);
      expect(await filesUnder(blobsDir())).toEqual(before);
    });

    it('a body dribbled a byte at a time is cut for going slower than the minimum rate', async () => {
      const body = multipartBody(B, [{ headers: filePartHeaders('drip.wav'), data: clip }]);
      const steps: RawStep[] = [];
      for (let i = 0; i < 400; i++) steps.push(body.subarray(i, i + 1), { pauseMs: 100 });
      const r = await postForm('/v1/jobs', body, { steps });
      expect([r.status, codeOf(r)]).toEqual([408, 'body_timeout']);
      expect(JSON.stringify(r.json)).toMatch(/slower than the minimum of 1024 bytes\/s/);
      expect(r.bodyBytesSent).toBeLessThan(400);
    });

    it('a slow upload that keeps moving is not cut, though it takes longer than the idle timeout', async () => {
      const samples = (await fixtureSamples()).subarray(0, 150_000); // 300 KB of WAV
      const body = multipartBody(B, [{ headers: filePartHeaders('slow.wav'), data: Buffer.from(wavBytes(samples)) }]);
      const steps: RawStep[] = [];
      for (let at = 0; at < body.length; at += 30_000) steps.push(body.subarray(at, at + 30_000), { pauseMs: 200 });
      const r = await postForm('/v1/jobs', body, { steps });
      expect(r.status).toBe(202);
      expect(r.bodyBytesSent).toBe(body.length);
    });

    it('headers that never end get 408 request_timeout as JSON', async () => {
      const r = await send({ head: 'POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ', incompleteHead: true, body: [{ pauseMs: 20_000 }] });
      expect([r.status, codeOf(r)]).toEqual([408, 'request_timeout']);
    });

    it('oversized headers and a malformed request line answer JSON 431 / 400', async () => {
      const big = await send({ head: head('GET', '/v1/jobs', { Authorization: `Bearer ${KEY_A}`, 'X-Big': 'x'.repeat(20_000) }) });
      expect([big.status, codeOf(big)]).toEqual([431, 'headers_too_large']);
      const bad = await send({ head: 'GARBAGE\r\nHost: x' });
      expect([bad.status, codeOf(bad)]).toEqual([400, 'bad_request']);
      const health = await fetch(`${gw.url}/healthz`);
      expect(health.status).toBe(200);
    });
  });

  describe('input', () => {
    const name = '音频-é.wav';

    it('UTF-8 file names are stored and shown as sent (raw UTF-8 and RFC 5987 filename*)', async () => {
      // Distinct audio per upload, so neither attaches to the other's job.
      const raw = await postForm('/v1/jobs', multipartBody(B, [{ headers: filePartHeaders(name), data: clip }]));
      expect(raw.status).toBe(202);
      const rawJob = raw.json as { id: string; audio: { filename: string } };
      expect(rawJob.audio.filename).toBe(name);
      const star = `form-data; name="file"; filename="fallback.wav"; filename*=UTF-8''${encodeURIComponent(name)}`;
      const ext = await postForm('/v1/jobs', multipartBody(B, [{ headers: [`Content-Disposition: ${star}`], data: Buffer.concat([clip, Buffer.alloc(2)]) }]));
      expect(ext.status).toBe(202);
      expect((ext.json as { audio: { filename: string } }).audio.filename).toBe(name);
      const shown = (await (await fetch(`${gw.url}/v1/jobs/${rawJob.id}`, { headers: { authorization: `Bearer ${KEY_A}` } })).json()) as { audio: { filename: string } };
      expect(shown.audio.filename).toBe(name);
    });

    it('WAV headers with impossible values, or shorter than declared, are refused at upload', async () => {
      const patched = (offset: number, write: (b: Buffer) => void): Buffer => {
        const b = Buffer.from(clip);
        write(b.subarray(offset));
        return b;
      };
      const cases: Array<[string, Buffer]> = [
        ['65535 channels', patched(22, (b) => b.writeUInt16LE(65535))],
        ['sample rate 0', patched(24, (b) => b.writeUInt32LE(0))],
        ['block align 3', patched(32, (b) => b.writeUInt16LE(3))],
        ['truncated', clip.subarray(0, clip.length - 4000)],
      ];
      const before = await filesUnder(blobsDir());
      for (const [what, bytes] of cases) {
        const r = await postForm('/v1/jobs', multipartBody(B, [{ headers: filePartHeaders('bad.wav'), data: bytes }]));
        expect([r.status, codeOf(r)], what).toEqual([422, 'undecodable_audio']);
        expect(JSON.stringify(r.json), what).toMatch(/invalid WAV header/);
      }
      expect(await filesUnder(blobsDir())).toEqual(before);
    });

    it('too many form parts, fields or files are a limit error, not missing_file', async () => {
      const field = (i: number) => ({ headers: [`Content-Disposition: form-data; name="f${i}"`], data: 'x' });
      const file = (i: number) => ({ headers: filePartHeaders(`x${i}.wav`, `other${i}`), data: 'x' });
      const forms: Array<[string, Array<{ headers: string[]; data: Buffer | string }>]> = [
        ['45 parts', [...Array.from({ length: 44 }, (_, i) => field(i)), { headers: filePartHeaders('clip.wav'), data: clip }]],
        ['25 fields', [...Array.from({ length: 25 }, (_, i) => field(i)), { headers: filePartHeaders('clip.wav'), data: clip }]],
        ['7 files', [...Array.from({ length: 6 }, (_, i) => file(i)), { headers: filePartHeaders('clip.wav'), data: clip }]],
      ];
      const before = await filesUnder(blobsDir());
      for (const [what, parts] of forms) {
        for (const path of ['/v1/jobs', '/v1/batches']) {
          const r = await postForm(path, multipartBody(B, parts));
          expect([r.status, codeOf(r)], `${what} ${path}`).toEqual([413, 'too_many_parts']);
        }
      }
      expect(await filesUnder(blobsDir())).toEqual(before);
    });
  });
});

describe('rate limits', () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  let varDir: string;
  let clip: Uint8Array;
  const ADMIN_PASSWORD = 'rate-admin-password-0123456789';

  beforeAll(async () => {
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-rates-'));
    redis = await startRedis();
    gw = await startTestGateway({
      ...baseEnv(redis.url, varDir),
      VOXFLEET_API_KEYS: `${KEY_A},${KEY_B},${KEY_C}`,
      VOXFLEET_ADMIN_PASSWORD: ADMIN_PASSWORD,
      // Refills too slow to matter within the test: the bursts are the budgets.
      VOXFLEET_RATE_UPLOADS_PER_SEC: '0.001',
      VOXFLEET_RATE_UPLOAD_BURST: '3',
      VOXFLEET_RATE_AUTH_FAILURES_PER_MIN: '0.01',
      VOXFLEET_RATE_AUTH_BURST: '5',
    });
    clip = wavBytes((await fixtureSamples()).subarray(0, 8000));
  }, 60_000);

  afterAll(async () => {
    await stopStack({ gw, redis, varDir });
  });

  const upload = async (key: string) => {
    const form = new FormData();
    form.append('file', new Blob([clip]), 'clip.wav');
    const r = await fetch(`${gw.url}/v1/jobs`, { method: 'POST', body: form, headers: { authorization: `Bearer ${key}` } });
    return { status: r.status, retryAfter: r.headers.get('retry-after'), body: (await r.json()) as { error?: { code: string } } };
  };
  const getJobs = (auth: string, localAddress?: string) =>
    rawHttp(gw.url, { head: head('GET', '/v1/jobs', { Authorization: auth, Connection: 'close' }), giveUpMs: 10_000, ...(localAddress ? { localAddress } : {}) });

  it('uploads per API key: over the burst 429 rate_limited with Retry-After, other keys unaffected', async () => {
    const a = [];
    for (let i = 0; i < 4; i++) a.push(await upload(KEY_A));
    expect(a.map((r) => r.status)).toEqual([202, 202, 202, 429]);
    expect(a[3]!.body.error?.code).toBe('rate_limited');
    expect(Number(a[3]!.retryAfter)).toBeGreaterThanOrEqual(1);
    expect((await upload(KEY_B)).status).toBe(202);
  });

  it('failed authentications per client address: 429 past the burst, without locking out a key already used from there', async () => {
    expect((await getJobs(`Bearer ${KEY_A}`)).status).toBe(200); // tenant A works from this address
    expect((await fetch(`${gw.url}/admin/queues`, { headers: { authorization: basic('admin', ADMIN_PASSWORD) } })).status).toBe(200);
    const wrong = [];
    for (let i = 0; i < 7; i++) wrong.push(await getJobs(`Bearer wrong-key-${i}-0123456789abcdef`));
    expect(wrong.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 429, 429]);
    expect(codeOf(wrong[6]!)).toBe('rate_limited');
    expect(Number(wrong[6]!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Wrong admin passwords are throttled the same way.
    const admin = await fetch(`${gw.url}/admin/queues`, { headers: { authorization: basic('admin', 'guess-0123456789') } });
    expect(admin.status).toBe(429);
    // Tenant A and the admin, already authenticated from this address, still get in.
    expect((await getJobs(`Bearer ${KEY_A}`)).status).toBe(200);
    expect((await fetch(`${gw.url}/admin/queues`, { headers: { authorization: basic('admin', ADMIN_PASSWORD) } })).status).toBe(200);
    // A valid key never used from this address is refused too: a right guess looks like a wrong one.
    const guessed = await getJobs(`Bearer ${KEY_C}`);
    expect([guessed.status, codeOf(guessed)]).toEqual([429, 'rate_limited']);
    // Another client address has its own budget.
    expect((await getJobs(`Bearer ${KEY_C}`, '127.0.0.2')).status).toBe(200);
    expect((await getJobs('Bearer wrong-key-x-0123456789abcdef', '127.0.0.2')).status).toBe(401);
  });
});
