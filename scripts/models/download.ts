/**
 * A resumable HTTP(S) download into `<dest>.part`, renamed to `dest` when
 * complete. A `.part` left by an earlier run is continued with a Range
 * request; a server that ignores Range (200 instead of 206) restarts the file
 * from byte 0. Redirects (GitHub release → its CDN) are followed. Connecting
 * has a short timeout and is never retried, so an offline machine fails in
 * seconds; a connection cut mid-body is resumed a few times within the run.
 * The SHA-256 is computed while the bytes arrive (the kept part is hashed
 * first), so the archive is read once.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';

export type DownloadErrorKind = 'unreachable' | 'timeout' | 'http' | 'cut' | 'size' | 'redirects' | 'url';

export class DownloadError extends Error {
  override readonly name = 'DownloadError';
  constructor(
    readonly kind: DownloadErrorKind,
    message: string,
    /** the URL the failing request went to (after redirects) */
    readonly url: string,
    /** bytes kept in the .part file for a later run */
    readonly kept = 0,
  ) {
    super(message);
  }
}

export interface DownloadOptions {
  url: string;
  /** final path; bytes go to `${dest}.part` until complete */
  dest: string;
  /** the size the catalog pins: a server offering another size is refused */
  expectedBytes?: number | null;
  /** TCP (and TLS) connect limit, default 5 s */
  connectTimeoutMs?: number;
  /** limit for the response headers once connected, default 30 s */
  responseTimeoutMs?: number;
  /** no body bytes for this long counts as a cut connection, default 60 s */
  idleTimeoutMs?: number;
  maxRedirects?: number;
  /** automatic resumes after a cut within one run, default 3 */
  maxResumes?: number;
  onProgress?: (done: number, total: number | null, start: number) => void;
  /** notes for the user (restart from 0, resume) */
  onNote?: (msg: string) => void;
  userAgent?: string;
}

export interface DownloadResult {
  bytes: number;
  sha256: string;
  /** bytes that were already in the .part when this run started */
  keptFromEarlierRun: number;
  /** HTTP requests made for the body (redirect hops not counted) */
  requests: number;
  /** times the server ignored Range and the file restarted from 0 */
  restarts: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function describeNetError(err: NodeJS.ErrnoException, host: string): string {
  switch (err.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve ${host} (${err.code}): no DNS, or no network`;
    case 'ECONNREFUSED':
      return `connection to ${host} refused (ECONNREFUSED)`;
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return `${host} is unreachable (${err.code}): no route to it`;
    default:
      return `cannot connect to ${host}: ${err.message}${err.code ? ` (${err.code})` : ''}`;
  }
}

interface Opened {
  res: IncomingMessage;
  url: URL;
}

/** One GET, following redirects; resolves once response headers are in. */
function openUrl(url: URL, headers: Record<string, string>, o: Required<Pick<DownloadOptions, 'connectTimeoutMs' | 'responseTimeoutMs' | 'maxRedirects'>>, hops = 0): Promise<Opened> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.reject(new DownloadError('url', `unsupported URL scheme ${url.protocol} (http and https only)`, url.href));
  }
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise<Opened>((resolve, reject) => {
    let settled = false;
    const fail = (e: DownloadError) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(responseTimer);
      req.destroy();
      reject(e);
    };
    let responseTimer: NodeJS.Timeout | undefined;
    const req = mod.request(url, { method: 'GET', headers, agent: false }, (res) => {
      clearTimeout(connectTimer);
      clearTimeout(responseTimer);
      if (settled) {
        res.destroy();
        return;
      }
      settled = true;
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (REDIRECTS.has(status) && location) {
        res.resume();
        if (hops >= o.maxRedirects) {
          reject(new DownloadError('redirects', `more than ${o.maxRedirects} redirects`, url.href));
          return;
        }
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          reject(new DownloadError('http', `redirect to an invalid location ${JSON.stringify(location)}`, url.href));
          return;
        }
        openUrl(next, headers, o, hops + 1).then(resolve, reject);
        return;
      }
      resolve({ res, url });
    });
    const connectTimer = setTimeout(
      () => fail(new DownloadError('timeout', `no connection to ${url.host} within ${o.connectTimeoutMs / 1000} s`, url.href)),
      o.connectTimeoutMs,
    );
    req.on('socket', (sock) => {
      const connected = () => {
        clearTimeout(connectTimer);
        responseTimer = setTimeout(
          () => fail(new DownloadError('timeout', `${url.host} accepted the connection but sent no response within ${o.responseTimeoutMs / 1000} s`, url.href)),
          o.responseTimeoutMs,
        );
      };
      const secure = url.protocol === 'https:';
      if (secure) sock.once('secureConnect', connected);
      else if ((sock as { connecting?: boolean }).connecting) sock.once('connect', connected);
      else connected();
    });
    req.on('error', (err: NodeJS.ErrnoException) => fail(new DownloadError('unreachable', describeNetError(err, url.host), url.href)));
    req.end();
  });
}

async function hashFile(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** `bytes <start>-<end>/<total|*>` → start and total */
function parseContentRange(v: string | undefined): { start: number; total: number | null } | null {
  const m = v ? /^bytes\s+(\d+)-\d+\/(\d+|\*)$/i.exec(v.trim()) : null;
  if (!m) return null;
  return { start: Number(m[1]), total: m[2] === '*' ? null : Number(m[2]) };
}

function unsatisfiedTotal(v: string | undefined): number | null {
  const m = v ? /^bytes\s+\*\/(\d+)$/i.exec(v.trim()) : null;
  return m ? Number(m[1]) : null;
}

export async function download(opts: DownloadOptions): Promise<DownloadResult> {
  const o = {
    connectTimeoutMs: opts.connectTimeoutMs ?? 5_000,
    responseTimeoutMs: opts.responseTimeoutMs ?? 30_000,
    maxRedirects: opts.maxRedirects ?? 10,
  };
  const idleMs = opts.idleTimeoutMs ?? 60_000;
  const maxResumes = opts.maxResumes ?? 3;
  const expected = opts.expectedBytes ?? null;
  const part = `${opts.dest}.part`;
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    throw new DownloadError('url', `not a valid URL: ${opts.url}`, opts.url);
  }

  let have = await sizeOf(part);
  if (expected !== null && have > expected) {
    opts.onNote?.(`${part} is larger than the expected ${expected} bytes; starting again`);
    await rm(part, { force: true });
    have = 0;
  }
  const keptFromEarlierRun = have;
  let hash = createHash('sha256');
  if (have > 0) await hashFile(part, hash);

  let requests = 0;
  let restarts = 0;
  let resumes = 0;
  const headers: Record<string, string> = { 'user-agent': opts.userAgent ?? 'voxfleet-models-fetch', accept: '*/*' };

  for (;;) {
    const reqHeaders = have > 0 ? { ...headers, range: `bytes=${have}-` } : headers;
    const { res, url: finalUrl } = await openUrl(url, reqHeaders, o);
    requests++;
    const status = res.statusCode ?? 0;
    let total: number | null;

    if (status === 416 && have > 0) {
      res.resume();
      const whole = unsatisfiedTotal(res.headers['content-range']);
      if (whole === have && (expected === null || expected === have)) break; // the part was already complete
      opts.onNote?.(`the server refused to resume at byte ${have}; starting again`);
      await rm(part, { force: true });
      have = 0;
      hash = createHash('sha256');
      restarts++;
      continue;
    }
    if (status === 206) {
      const cr = parseContentRange(res.headers['content-range']);
      if (!cr || cr.start !== have) {
        res.resume();
        throw new DownloadError('http', `the server answered the resume at byte ${have} with "Content-Range: ${res.headers['content-range'] ?? ''}"`, finalUrl.href, have);
      }
      total = cr.total;
    } else if (status === 200) {
      if (have > 0) {
        opts.onNote?.(`the server ignores Range requests: restarting the download from byte 0 (${have} bytes discarded)`);
        await rm(part, { force: true });
        have = 0;
        hash = createHash('sha256');
        restarts++;
      }
      const len = res.headers['content-length'];
      total = len !== undefined && /^\d+$/.test(len) ? Number(len) : null;
    } else {
      res.resume();
      const hint = status === 404 ? ' (the file is not there: the catalog entry may be out of date)' : '';
      throw new DownloadError('http', `HTTP ${status} ${res.statusMessage ?? ''}`.trim() + hint, finalUrl.href, have);
    }
    if (expected !== null && total !== null && total !== expected) {
      res.resume();
      throw new DownloadError('size', `the server offers ${total} bytes but the catalog pins ${expected}: refusing a different file`, finalUrl.href, have);
    }

    const startedAt = have;
    const fh = await open(part, have > 0 ? 'a' : 'w');
    let cut: string | null = null;
    res.socket?.setTimeout(idleMs, () => res.destroy(new Error(`no data for ${idleMs / 1000} s`)));
    try {
      opts.onProgress?.(have, total, startedAt);
      for await (const chunk of res) {
        const buf = chunk as Buffer;
        await fh.write(buf);
        hash.update(buf);
        have += buf.length;
        opts.onProgress?.(have, total, startedAt);
        if (total !== null && have > total) throw new DownloadError('size', `the server sent more than the ${total} bytes it announced`, finalUrl.href, 0);
      }
      if (total !== null && have < total) cut = `the connection closed after ${have} of ${total} bytes`;
    } catch (e) {
      if (e instanceof DownloadError) {
        await fh.close();
        await rm(part, { force: true });
        throw e;
      }
      cut = `the connection broke after ${have}${total !== null ? ` of ${total}` : ''} bytes (${(e as Error).message})`;
    } finally {
      res.socket?.setTimeout(0);
      await fh.close().catch(() => undefined);
    }
    if (cut === null) break;
    const progressed = have > startedAt;
    if (resumes < maxResumes && progressed) {
      resumes++;
      opts.onNote?.(`${cut}; resuming at byte ${have}`);
      continue;
    }
    throw new DownloadError('cut', `${cut}; ${have} bytes are kept in ${part}: run the same command again to resume`, finalUrl.href, have);
  }

  if (expected !== null && have !== expected) {
    await rm(part, { force: true });
    throw new DownloadError('size', `downloaded ${have} bytes but the catalog pins ${expected}`, url.href, 0);
  }
  await rename(part, opts.dest);
  return { bytes: have, sha256: hash.digest('hex'), keptFromEarlierRun, requests, restarts };
}
