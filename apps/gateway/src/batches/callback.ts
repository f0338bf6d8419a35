/**
 * Batch completion callbacks: URL checks (SSRF guard), HMAC-SHA256 signing
 * and delivery with retries.
 *
 * Signature: `X-VoxFleet-Signature: sha256=<hex>` where
 * hex = HMAC-SHA256(secret, `${X-VoxFleet-Timestamp}.${raw body}`).
 * Secret: with API keys, HMAC-SHA256(key = the API key that created the
 * batch, "voxfleet-callback-v1") as hex (see `callbackSecretForKey`); with
 * auth off, VOXFLEET_CALLBACK_SECRET.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { ApiError } from '../errors.js';

export const SIGNATURE_HEADER = 'X-VoxFleet-Signature';
export const TIMESTAMP_HEADER = 'X-VoxFleet-Timestamp';
export const EVENT_HEADER = 'X-VoxFleet-Event';
export const DELIVERY_HEADER = 'X-VoxFleet-Delivery';

export function callbackSecretForKey(apiKey: string): string {
  return createHmac('sha256', apiKey).update('voxfleet-callback-v1').digest('hex');
}

export function signCallback(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

const nonPublic = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) nonPublic.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) nonPublic.addSubnet(net, bits, 'ipv6');

export function isPublicAddress(address: string): boolean {
  const v = isIP(address);
  if (v === 4) return !nonPublic.check(address, 'ipv4');
  if (v === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return !nonPublic.check(mapped[1]!, 'ipv4');
    return !nonPublic.check(address, 'ipv6');
  }
  return false;
}

function invalid(message: string): ApiError {
  return new ApiError(400, 'invalid_callback_url', message);
}

/** Parses and checks a callback URL: http(s) only; loopback/private targets only when allowed. */
export async function checkCallbackUrl(raw: string, allowPrivate: boolean): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid('callback_url is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('callback_url must be an http:// or https:// URL');
  if (url.username || url.password) throw invalid('callback_url must not carry credentials');
  if (raw.length > 2048) throw invalid('callback_url is longer than 2048 characters');
  if (!allowPrivate) {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    let addresses: string[];
    if (isIP(host)) addresses = [host];
    else {
      try {
        addresses = (await lookup(host, { all: true })).map((a) => a.address);
      } catch {
        throw invalid(`callback_url host "${host}" does not resolve`);
      }
    }
    if (addresses.length === 0 || !addresses.every(isPublicAddress)) {
      throw new ApiError(
        400,
        'callback_url_not_allowed',
        `callback_url resolves to a loopback, private or link-local address; such targets need VOXFLEET_CALLBACK_ALLOW_PRIVATE=on on the gateway`,
      );
    }
  }
  return url;
}

export interface DeliveryOptions {
  secret: string;
  attempts: number;
  backoffMs: number;
  timeoutMs: number;
  allowPrivate: boolean;
  event: string;
  onAttempt?: (attempt: number, error: string | null) => void | Promise<void>;
  signal?: AbortSignal;
}

/** POSTs `body` (signed), retrying non-2xx answers and network errors with exponential backoff. */
export async function deliverCallback(url: string, body: string, o: DeliveryOptions): Promise<{ delivered: boolean; attempts: number; lastError: string | null }> {
  const delivery = randomUUID();
  let lastError: string | null = null;
  for (let attempt = 1; attempt <= o.attempts; attempt++) {
    if (o.signal?.aborted) break;
    try {
      await checkCallbackUrl(url, o.allowPrivate); // again at delivery time: DNS may have changed
      const timestamp = String(Math.floor(Date.now() / 1000));
      const res = await fetch(url, {
        method: 'POST',
        body,
        redirect: 'manual',
        signal: o.signal ? AbortSignal.any([o.signal, AbortSignal.timeout(o.timeoutMs)]) : AbortSignal.timeout(o.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'voxfleet-callback/1',
          [SIGNATURE_HEADER]: signCallback(o.secret, timestamp, body),
          [TIMESTAMP_HEADER]: timestamp,
          [EVENT_HEADER]: o.event,
          [DELIVERY_HEADER]: delivery,
        },
      });
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) {
        await o.onAttempt?.(attempt, null);
        return { delivered: true, attempts: attempt, lastError: null };
      }
      lastError = `HTTP ${res.status}`;
    } catch (err) {
      lastError = err instanceof ApiError ? err.message : err instanceof Error ? err.message : String(err);
    }
    await o.onAttempt?.(attempt, lastError);
    if (attempt < o.attempts) {
      const wait = Math.min(o.backoffMs * 2 ** (attempt - 1), 10 * 60_000);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        o.signal?.addEventListener('abort', () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
    }
  }
  return { delivered: false, attempts: o.attempts, lastError };
}
