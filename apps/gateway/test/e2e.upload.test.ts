/**
 * Hostile multipart uploads against the real gateway (real redis-server, the
 * gateway on an ephemeral port, no worker), over raw `node:net` sockets so the
 * test controls every byte: bodies that end without their closing boundary
 * (after a "file" part, after a file part under another field name, inside the
 * part headers, after a complete file part), on `/v1/jobs` and `/v1/batches`,
 * each answer 400 `invalid_upload` and leave no blob behind; a client that
 * sends half a file and then drops the connection leaves no blob either. The
 * gateway must stay up through all of it: an unhandled stream 'error' would
 * kill this very process.
 */
import { mkdtemp } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, baseEnv, fixtureSamples, startRedis, stopStack, wavBytes, type TestRedis, filesUnder } from '@voxfleet/testkit';
import type { RunningGateway } from '../src/index.js';
import { zipOf } from '@voxfleet/testkit';
import { startTestGateway } from './harness.js';

const KEY = 'upload-test-key-0123456789abcdef';
const BOUNDARY = 'XX';
const ENDPOINTS = ['/v1/jobs', '/v1/batches'] as const;

interface RawResponse {
  status: number;
  headers: string;
  body: string;
}

function requestHead(port: number, path: string, contentLength: number, contentType = `multipart/form-data; boundary=${BOUNDARY}`): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${KEY}\r\n` +
    `Content-Type: ${contentType}\r\nContent-Length: ${contentLength}\r\nConnection: close\r\n\r\n`
  );
}

/** Sends exactly `body` (Content-Length = its size) and reads the answer until the server closes the connection. */
function rawPost(port: number, path: string, body: Buffer, contentType?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no complete answer from ${path} within 15 s; got: ${Buffer.concat(chunks).toString()}`));
    }, 15_000);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString();
      const m = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text);
      if (!m) return reject(new Error(`not an HTTP answer (the server dropped the connection?): ${JSON.stringify(text)}`));
      resolve({ status: Number(m[1]), headers: m[2]!, body: m[3]! });
    });
    // No half-close (FIN) after the body: Node's HTTP server would end the connection before answering.
    sock.write(Buffer.concat([Buffer.from(requestHead(port, path, body.length, contentType)), body]));
  });
}

/** Announces `announced` bytes, sends only `body`, waits until `sent()` holds (says whether it did), then drops the connection. */
async function postAndDisconnect(port: number, path: string, body: Buffer, announced: number, sent: () => Promise<boolean>, contentType?: string): Promise<boolean> {
  const sock = connect(port, '127.0.0.1');
  sock.on('error', () => {}); // the server may reset a connection we are abandoning
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  sock.write(requestHead(port, path, announced, contentType));
  sock.write(body);
  let ok = false;
  for (let i = 0; i < 100 && !(ok = await sent()); i++) await new Promise((r) => setTimeout(r, 20));
  sock.destroy();
  return ok;
}

const part = (name: string, filename?: string): string =>
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"${filename !== undefined ? `; filename="${filename}"` : ''}\r\n` +
  (filename !== undefined ? 'Content-Type: application/octet-stream\r\n' : '') +
  '\r\n';

describe('multipart uploads that end early or break off (redis + gateway, no worker)', () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  let varDir: string;
  let blobDir: string;
  let api: Client;
  let port: number;
  let samples: Float32Array;
  let valid = 0;
  /** Uncaught exceptions in this process, where the gateway runs: each one would have killed a real gateway. */
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => void uncaught.push(err);

  beforeAll(async () => {
    process.on('uncaughtException', onUncaught);
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-upload-'));
    blobDir = join(varDir, 'blobs');
    redis = await startRedis();
    gw = await startTestGateway({ ...baseEnv(redis.url, varDir), VOXFLEET_BLOB_DIR: blobDir, VOXFLEET_API_KEYS: KEY });
    api = new Client(gw.url, KEY);
    port = gw.port;
    samples = await fixtureSamples();
  }, 60_000);

  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    await stopStack({ gw, redis, varDir });
  }, 30_000);

  /** A WAV no earlier upload had (so it is stored as a new blob, not deduplicated). */
  const freshWav = (): Uint8Array => wavBytes(samples.subarray(0, 16000 + 160 * valid++));

  /**
   * The gateway is still up (nothing uncaught, /healthz 200, a valid upload is queued) and the
   * bad request left no file in the blob directory (`.tmp` included) beyond those in `before`.
   */
  async function expectAliveAndClean(before: string[]): Promise<void> {
    expect(uncaught).toEqual([]);
    expect((await api.get('/healthz')).status).toBe(200);
    // The blob store removes its .tmp file as its pipeline fails: give it a moment, never forever.
    for (let i = 0; i < 50 && (await filesUnder(blobDir)).length !== before.length; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await filesUnder(blobDir)).toEqual(before);
    const ok = await api.upload(freshWav(), 'fine.wav');
    expect(ok.status).toBe(202);
    expect(ok.body).toMatchObject({ status: 'queued', cached: false });
  }

  const bigFile = Buffer.alloc(256 * 1024, 0x55); // several chunks, so the blob store has written some of it
  const variants: { name: string; body: () => Buffer }[] = [
    { name: 'a "file" part, unterminated', body: () => Buffer.from(`${part('file', 'a.wav')}abc`) },
    { name: 'a "file" part of 256 KiB, unterminated', body: () => Buffer.concat([Buffer.from(part('file', 'a.wav')), bigFile]) },
    { name: 'a file part under another field name ("other"), unterminated', body: () => Buffer.from(`${part('other', 'a.wav')}abc`) },
    { name: 'cut inside the part headers', body: () => Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="fi`) },
    { name: 'cut right after the first boundary', body: () => Buffer.from(`--${BOUNDARY}\r\n`) },
    {
      name: 'a complete "file" part, then cut inside the next part',
      body: () => Buffer.concat([Buffer.from(part('file', 'a.wav')), Buffer.from(freshWav()), Buffer.from(`\r\n${part('language')}en`)]),
    },
  ];

  for (const path of ENDPOINTS) {
    for (const v of variants) {
      it(`${path}: ${v.name} → 400 invalid_upload, no blob left, the gateway lives`, async () => {
        const before = await filesUnder(blobDir);
        const res = await rawPost(port, path, v.body());
        expect(res.status).toBe(400);
        expect(res.headers).toMatch(/content-type: application\/json/i);
        const body = JSON.parse(res.body) as { error: { code: string; message: string } };
        expect(body.error.code).toBe('invalid_upload');
        expect(body.error.message).toMatch(/multipart|boundary|header/i);
        await expectAliveAndClean(before);
      });
    }
  }

  it('a client that sends half a file and drops the connection leaves nothing behind (jobs, batches, raw batch body)', async () => {
    const tmp = join(blobDir, '.tmp');
    const partWritten = async (): Promise<boolean> => (await filesUnder(tmp)).length > 0;
    const half = Buffer.concat([Buffer.from(part('file', 'half.wav')), Buffer.alloc(128 * 1024, 0x33)]);
    for (const path of ENDPOINTS) {
      const before = await filesUnder(blobDir);
      expect(await postAndDisconnect(port, path, half, 1024 * 1024, partWritten)).toBe(true); // cut while the blob was being written
      await expectAliveAndClean(before);
    }
    // The raw-body form of /v1/batches (the archive as the whole body).
    const before = await filesUnder(blobDir);
    expect(await postAndDisconnect(port, '/v1/batches?filename=x.zip', Buffer.alloc(128 * 1024, 0x50), 1024 * 1024, partWritten, 'application/zip')).toBe(true);
    await expectAliveAndClean(before);
  });

  it('after all that, valid uploads still work on both endpoints', async () => {
    const wav = freshWav();
    const job = await api.upload(wav, 'fine.wav');
    expect(job.status).toBe(202);
    expect(job.body).toMatchObject({ status: 'queued', cached: false, audio: { bytes: wav.length, format: 'wav' } });

    const zip = await zipOf([{ name: 'calls/a.wav', data: freshWav() }]);
    const batch = await api.uploadBatch(new Uint8Array(zip), 'calls.zip');
    expect(batch.status).toBe(202);
    expect(batch.body.id).toMatch(/^b_/);
    expect((await api.get('/healthz')).status).toBe(200);
    expect(uncaught).toEqual([]);
  });
});
