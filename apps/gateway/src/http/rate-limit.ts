/**
 * In-process rate limits (one gateway process enforces its own; with several
 * gateways a client gets each one's allowance).
 *
 * - `TokenBuckets`: one bucket per key (an API key's owner id for uploads),
 *   `burst` tokens, refilled at `ratePerSec`.
 * - `AuthThrottle`: failed authentications per client address. An address
 *   over its budget gets 429 for every credential it tries, valid or not, so
 *   it cannot find a key by guessing; except for the principals (API key
 *   owners, the admin) that already authenticated from that address before,
 *   so an attacker sharing a tenant's address (NAT, proxy) does not lock that
 *   tenant out. The decision depends only on whether the credential is valid
 *   (checked first, in constant time), never on how close a guess was.
 *
 * Memory is bounded: full buckets are dropped, then the least recently used.
 */
import { isIPv6 } from 'node:net';

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get enabled(): boolean {
    return this.ratePerSec > 0;
  }

  private level(key: string, t: number): number {
    const b = this.buckets.get(key);
    if (!b) return this.burst;
    return Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.ratePerSec);
  }

  /** Seconds until `key` has a token (0: it has one now). Takes nothing. */
  wait(key: string): number {
    if (!this.enabled) return 0;
    const level = this.level(key, this.now());
    return level >= 1 ? 0 : (1 - level) / this.ratePerSec;
  }

  /** Takes a token: 0 when it was taken, else the seconds until one is available (nothing taken). */
  take(key: string): number {
    if (!this.enabled) return 0;
    const t = this.now();
    const level = this.level(key, t);
    if (level < 1) return (1 - level) / this.ratePerSec;
    this.buckets.delete(key); // re-inserted last: Map order is least recently used first
    this.buckets.set(key, { tokens: level - 1, at: t });
    if (this.buckets.size > this.maxKeys) this.evict(t);
    return 0;
  }

  private evict(t: number): void {
    for (const key of this.buckets.keys()) if (this.level(key, t) >= this.burst) this.buckets.delete(key);
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= this.maxKeys) break;
      this.buckets.delete(key);
    }
  }
}

/** `Retry-After` seconds (a positive integer) for a wait in seconds. */
export function retryAfter(sec: number): string {
  return String(Math.max(1, Math.ceil(sec)));
}

/**
 * The rate-limit bucket of a client address: an IPv4 address as it is (also
 * when IPv4-mapped), an IPv6 address by its /64 (one host usually holds a
 * whole /64, so counting single IPv6 addresses would limit nothing).
 */
export function addressBucket(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

export class AuthThrottle {
  private readonly failures: TokenBuckets;
  /** address → principals that authenticated from it (most recent last) */
  private readonly known = new Map<string, string[]>();

  constructor(
    perMin: number,
    burst: number,
    private readonly maxAddresses = 100_000,
    now?: () => number,
  ) {
    this.failures = new TokenBuckets(perMin / 60, burst, maxAddresses, now);
  }

  /**
   * Call after the credential was checked. `principal` is who it proved to be,
   * or null when it proved nothing. Returns 0 to go on (with a principal) or
   * to answer 401 (without), else the seconds to put in a 429's Retry-After.
   */
  decide(address: string, principal: string | null): number {
    if (principal === null) return this.failures.take(address);
    const wait = this.failures.wait(address);
    const seen = this.known.get(address);
    if (wait > 0 && !seen?.includes(principal)) return wait;
    this.remember(address, principal, seen);
    return 0;
  }

  private remember(address: string, principal: string, seen: string[] | undefined): void {
    const list = (seen ?? []).filter((p) => p !== principal);
    list.push(principal);
    if (list.length > 16) list.shift();
    this.known.delete(address);
    this.known.set(address, list);
    if (this.known.size > this.maxAddresses) this.known.delete(this.known.keys().next().value!);
  }
}
