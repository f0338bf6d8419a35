/** API errors: every failure the client sees is `{"error":{"code","message"}}` with a matching HTTP status. */
import { isRedisUnavailable } from '@voxfleet/queue';
import { BlobStoreUnavailableError } from '@voxfleet/storage';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toBody(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export const notFound = (what = 'job'): ApiError => new ApiError(404, 'not_found', `${what} not found`);

/** Seconds a client is asked to wait (`Retry-After`) while Redis is unavailable. */
export const RETRY_AFTER_SEC = 2;

export const serviceUnavailable = (): ApiError =>
  new ApiError(503, 'service_unavailable', 'the job store (Redis) is not answering; nothing was accepted by this request, retry shortly', { 'Retry-After': String(RETRY_AFTER_SEC) });

/** 503 `service_unavailable` with Retry-After when `err` means Redis is unavailable now (timed out, disconnected, loading), or the blob store (S3) is; else null. */
export function unavailableError(err: unknown): ApiError | null {
  if (err instanceof BlobStoreUnavailableError) {
    return new ApiError(503, 'service_unavailable', `the blob store is not answering; nothing was accepted by this request, retry shortly (${err.message})`, { 'Retry-After': String(RETRY_AFTER_SEC) });
  }
  return isRedisUnavailable(err) ? serviceUnavailable() : null;
}
