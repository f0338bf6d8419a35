/** The token buckets, the failed-authentication throttle and the HTTP settings, on a clock the test moves. */
import { gatewayConfigFromEnv } from '@voxfleet/config';
import { describe, expect, it } from 'vitest';
import { AuthThrottle, TokenBuckets, addressBucket, retryAfter } from '../src/http/rate-limit.js';

describe('rate limits', () => {
  it('a bucket allows its burst, then refills at its rate; keys are independent', () => {
    let t = 0;
    const b = new TokenBuckets(2, 3, 100, () => t);
    expect([b.take('a'), b.take('a'), b.take('a')]).toEqual([0, 0, 0]);
    expect(b.take('a')).toBeCloseTo(0.5, 6); // one token every 0.5 s
    expect(b.take('b')).toBe(0);
    t = 500;
    expect(b.take('a')).toBe(0);
    expect(b.wait('a')).toBeCloseTo(0.5, 6);
    t = 10_000;
    expect(b.wait('a')).toBe(0);
    expect(new TokenBuckets(0, 1).take('x')).toBe(0); // rate 0: no limit
  });

  it('keeps at most maxKeys buckets, dropping full ones first, then the least recently used', () => {
    let t = 0;
    const b = new TokenBuckets(1, 1, 3, () => t);
    b.take('a');
    t = 900;
    b.take('b');
    t = 950;
    b.take('c');
    t = 1000; // 'a' is full again, 'b' and 'c' are not
    b.take('d'); // one over: the full one goes
    expect(b.take('b')).toBeGreaterThan(0);
    expect(b.take('c')).toBeGreaterThan(0);
    const slow = new TokenBuckets(0.001, 1, 3, () => t);
    for (const k of ['a', 'b', 'c']) slow.take(k);
    slow.take('d'); // none full: the least recently used ('a') goes
    expect(slow.take('b')).toBeGreaterThan(0); // remembered: still empty
    expect(slow.take('a')).toBe(0); // forgotten: a fresh bucket
  });

  it('Retry-After is a whole number of seconds, at least 1', () => {
    expect([retryAfter(0.01), retryAfter(1), retryAfter(1.2)]).toEqual(['1', '1', '2']);
  });

  it('addresses: IPv4 as they are (also IPv4-mapped), IPv6 by /64', () => {
    expect(addressBucket('10.1.2.3')).toBe('10.1.2.3');
    expect(addressBucket('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(addressBucket('2001:db8:0:1:aaaa::1')).toBe('2001:db8:0:1::/64');
    expect(addressBucket('2001:db8:0:1:bbbb:cccc:dddd:eeee')).toBe('2001:db8:0:1::/64');
    expect(addressBucket('2001:DB8::1')).toBe('2001:db8:0:0::/64');
    expect(addressBucket('::1')).toBe('0:0:0:0::/64');
    expect(addressBucket(undefined)).toBe('unknown');
  });

  it('throttles an address after its failures, for any credential but those it already used', () => {
    const t = 0;
    const th = new AuthThrottle(1, 2, 100, () => t);
    expect(th.decide('1.1.1.1', 'key:a')).toBe(0); // a tenant works from here
    expect([th.decide('1.1.1.1', null), th.decide('1.1.1.1', null)]).toEqual([0, 0]); // two wrong guesses: 401
    expect(th.decide('1.1.1.1', null)).toBeGreaterThan(0); // third: 429
    expect(th.decide('1.1.1.1', 'key:b')).toBeGreaterThan(0); // a right guess of another key is refused too
    expect(th.decide('1.1.1.1', 'key:a')).toBe(0); // the tenant already seen here is not locked out
    expect(th.decide('2.2.2.2', 'key:b')).toBe(0); // nor anyone elsewhere
  });

  it('reads the HTTP settings from the environment and refuses headers timeouts over the request timeout', () => {
    const h = gatewayConfigFromEnv({}).http;
    expect(h).toMatchObject({ headersTimeoutMs: 30_000, requestTimeoutMs: 3_600_000, bodyIdleTimeoutMs: 30_000, bodyMinBytesPerSec: 1024, uploadsPerSec: 50, uploadBurst: 200, authFailuresPerMin: 60, authFailureBurst: 20 });
    const c = gatewayConfigFromEnv({ VOXFLEET_RATE_UPLOADS_PER_SEC: '0', VOXFLEET_RATE_AUTH_BURST: '5', VOXFLEET_REQUEST_TIMEOUT_MS: '0' }).http;
    expect(c).toMatchObject({ uploadsPerSec: 0, authFailureBurst: 5, requestTimeoutMs: 0 });
    expect(() => gatewayConfigFromEnv({ VOXFLEET_HEADERS_TIMEOUT_MS: '20000', VOXFLEET_REQUEST_TIMEOUT_MS: '10000' })).toThrow(/must not exceed/);
    expect(() => gatewayConfigFromEnv({ VOXFLEET_RATE_UPLOAD_BURST: '0' })).toThrow(/uploadBurst/);
  });
});
