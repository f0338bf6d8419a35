/**
 * What a request must pass before its body is read, and how a body is read
 * or refused:
 *
 * - `tenant`: the API key (401), then the failed-authentication throttle per
 *   client address (429, see rate-limit.ts); `admin` the same for Bull Board.
 * - `admitUpload`: an upload route's declared `Content-Length` against its
 *   limit (413 before a byte of the body is read), then the API key's upload
 *   rate (429).
 * - `refuse`: before an answer that does not want the body: a small body is
 *   read and dropped so the connection can stay open; a larger one (or one a
 *   client holds back for `100 Continue`) is never read and the answer
 *   closes the connection.
 * - `readBody`: sends `100 Continue` to a client waiting for it, watches the
 *   body timeout (408), and closes the connection with the answer when the
 *   body was left partly unread (too large, cut, malformed).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpConfig } from '@voxfleet/config';
import type { ApiKeyAuth } from '../auth.js';
import { ApiError } from '../errors.js';
import { watchBody, type BodyTimeouts } from './body-timeout.js';
import { AuthThrottle, TokenBuckets, addressBucket, retryAfter } from './rate-limit.js';
import { drain } from './upload.js';

/** An upload route's body limit. */
export interface UploadLimit {
  /** the largest file (multipart) or body (raw) accepted */
  maxBytes: number;
  /** the 413 answer for a body declared or found over it */
  tooLarge(): ApiError;
}

/** Multipart framing allowed on top of the file in a declared length: boundaries, part headers, the small fields. */
export const MULTIPART_FRAMING_BYTES = 1024 * 1024;
/** Bodies up to this are read and dropped before an error answer (the connection stays open). */
export const SMALL_BODY_BYTES = 64 * 1024;

const ADMIN = 'admin';

export function declaredLength(req: IncomingMessage): number | undefined {
  const v = req.headers['content-length'];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

const expectsContinue = (req: IncomingMessage): boolean => /^\s*100-continue\s*$/i.test(req.headers.expect ?? '');

function rateLimited(waitSec: number, message: string): ApiError {
  return new ApiError(429, 'rate_limited', message, { 'Retry-After': retryAfter(waitSec) });
}

export class RequestGuard {
  private readonly uploads: TokenBuckets;
  private readonly throttle: AuthThrottle;
  private readonly body: BodyTimeouts;
  private readonly continued = new WeakSet<ServerResponse>();

  constructor(
    private readonly cfg: HttpConfig,
    private readonly auth: ApiKeyAuth,
  ) {
    this.uploads = new TokenBuckets(cfg.uploadsPerSec, cfg.uploadBurst);
    this.throttle = new AuthThrottle(cfg.authFailuresPerMin, cfg.authFailureBurst);
    this.body = { idleMs: cfg.bodyIdleTimeoutMs, minBytesPerSec: cfg.bodyMinBytesPerSec };
  }

  /** The client's rate-limit bucket (Express's `req.ip` honours VOXFLEET_TRUST_PROXY). */
  private address(req: IncomingMessage): string {
    return addressBucket((req as IncomingMessage & { ip?: string }).ip ?? req.socket.remoteAddress);
  }

  private authThrottled(waitSec: number): ApiError {
    return rateLimited(waitSec, 'too many failed authentications from your address; retry later');
  }

  /** The caller's owner id; throws 401 (bad key) or 429 (its address is throttled). Only presented credentials count as failures. */
  tenant(req: IncomingMessage): string {
    if (!this.auth.enabled) return '';
    let owner: string | null = null;
    let failure: unknown;
    try {
      owner = this.auth.check(req.headers.authorization);
    } catch (err) {
      failure = err;
    }
    if (req.headers.authorization !== undefined || owner !== null) {
      const wait = this.throttle.decide(this.address(req), owner === null ? null : `key:${owner}`);
      if (wait > 0) throw this.authThrottled(wait);
    }
    if (owner === null) throw failure;
    return owner;
  }

  /** Bull Board: null to let the request through, else the error to answer (429 when throttled, null credentials = 401 by the caller). */
  admin(req: IncomingMessage, ok: boolean): ApiError | null {
    if (req.headers.authorization === undefined && !ok) return null;
    const wait = this.throttle.decide(this.address(req), ok ? ADMIN : null);
    return wait > 0 ? this.authThrottled(wait) : null;
  }

  /** Before an upload's body is read: its declared size (413), then the caller's upload rate (429). */
  admitUpload(req: IncomingMessage, owner: string, limit: UploadLimit): void {
    const declared = declaredLength(req);
    const framing = /^multipart\//i.test(req.headers['content-type'] ?? '') ? MULTIPART_FRAMING_BYTES : 0;
    if (declared !== undefined && declared > limit.maxBytes + framing) throw limit.tooLarge();
    const wait = this.uploads.take(owner ? `key:${owner}` : `addr:${this.address(req)}`);
    if (wait > 0) {
      throw rateLimited(wait, `upload rate limit: ${this.cfg.uploadsPerSec} per second per API key, bursts of ${this.cfg.uploadBurst} (VOXFLEET_RATE_UPLOADS_PER_SEC / VOXFLEET_RATE_UPLOAD_BURST)`);
    }
  }

  /** Call before answering a request whose body is not wanted. */
  async refuse(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.complete || req.readableEnded || res.headersSent) return;
    const declared = declaredLength(req);
    if (!(expectsContinue(req) && !this.continued.has(res)) && declared !== undefined && declared <= SMALL_BODY_BYTES) {
      const watch = watchBody(req, this.body);
      await Promise.race([drain(req, SMALL_BODY_BYTES), new Promise((resolve) => watch.signal.addEventListener('abort', resolve, { once: true }))]);
      watch.stop();
      if (req.complete) return;
    }
    res.setHeader('Connection', 'close');
  }

  /** Reads a body with `read` (which stops when the signal aborts: the body timeout). */
  async readBody<T>(req: IncomingMessage, res: ServerResponse, read: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (expectsContinue(req) && !this.continued.has(res) && !res.headersSent) {
      this.continued.add(res);
      res.writeContinue();
    }
    const watch = watchBody(req, this.body);
    try {
      return await read(watch.signal);
    } catch (err) {
      if (!req.complete && !res.headersSent) res.setHeader('Connection', 'close');
      throw err;
    } finally {
      watch.stop();
    }
  }
}

/** The gateway's upload routes and their limits (413 codes as the handlers answer them). */
export function uploadLimits(maxUploadBytes: number, maxArchiveBytes: number): Record<string, UploadLimit> {
  return {
    '/v1/jobs': {
      maxBytes: maxUploadBytes,
      tooLarge: () => new ApiError(413, 'file_too_large', `the upload is larger than the limit of ${maxUploadBytes} bytes (VOXFLEET_MAX_UPLOAD_BYTES)`),
    },
    '/v1/batches': {
      maxBytes: maxArchiveBytes,
      tooLarge: () => new ApiError(413, 'archive_too_large', `the archive exceeds the limit of ${maxArchiveBytes} bytes (VOXFLEET_BATCH_MAX_ARCHIVE_BYTES)`),
    },
  };
}
