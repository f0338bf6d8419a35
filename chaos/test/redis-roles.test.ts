/**
 * Connection roles against a real redis-server: a `client` connection fails fast while Redis hangs
 * (SIGSTOP) or is unreachable, and those errors read as "Redis unavailable"; a `producer` call bounded
 * by withTimeout does too; both work again once Redis answers. Bugs and bad input are not "unavailable".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commonConfigFromEnv } from '@voxfleet/config';
import { freePort, startRedis, type TestRedis } from '@voxfleet/testkit';
import { RedisUnavailableError, createRedis, isRedisUnavailable, withTimeout } from '@voxfleet/queue';

describe('Redis connection roles', () => {
  let redis: TestRedis;
  let pid: number;
  const cfg = (url: string) => commonConfigFromEnv({ VOXFLEET_REDIS_URL: url, VOXFLEET_REDIS_TIMEOUT_MS: '300' }).redis;
  const settle = <T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; err: unknown }> => p.then((value) => ({ ok: true as const, value }), (err: unknown) => ({ ok: false as const, err }));

  beforeAll(async () => {
    redis = await startRedis();
    pid = Number(/process_id:(\d+)/.exec(await redis.client.info('server'))![1]);
  });
  afterAll(async () => {
    process.kill(pid, 'SIGCONT');
    await redis.stop();
  });

  it('a client call fails with a timeout while Redis hangs, and works again after', async () => {
    const client = createRedis(cfg(redis.url), 'test-client', { role: 'client' });
    const producer = createRedis(cfg(redis.url), 'test-producer', { role: 'producer' });
    client.on('error', () => {});
    producer.on('error', () => {});
    expect(await client.ping()).toBe('PONG');
    expect(await producer.ping()).toBe('PONG');
    process.kill(pid, 'SIGSTOP');
    try {
      const r = await settle(client.set('k', 'v'));
      expect(r.ok).toBe(false);
      expect(isRedisUnavailable(!r.ok && r.err)).toBe(true);
      const q = await settle(withTimeout(producer.get('k'), 300, 'producer get'));
      expect(q.ok).toBe(false);
      expect(!q.ok && q.err).toBeInstanceOf(RedisUnavailableError);
      expect(isRedisUnavailable(!q.ok && q.err)).toBe(true);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
    producer.disconnect();
  });

  it('a client of an unreachable Redis fails at once (no offline queue, no retries), as "unavailable"', async () => {
    const client = createRedis(cfg(`redis://127.0.0.1:${await freePort()}`), 'test-nowhere', { role: 'client' });
    client.on('error', () => {});
    const r = await settle(client.get('k'));
    expect(r.ok).toBe(false);
    expect(isRedisUnavailable(!r.ok && r.err)).toBe(true);
    client.disconnect();
  });

  it('other errors are not "unavailable"', async () => {
    const client = createRedis(cfg(redis.url), 'test-errors', { role: 'client' });
    await client.set('str', 'x');
    const r = await settle(client.lpush('str', 'y'));
    expect(r.ok).toBe(false);
    expect(isRedisUnavailable(!r.ok && r.err)).toBe(false); // WRONGTYPE
    expect(isRedisUnavailable(new Error('boom'))).toBe(false);
    expect(isRedisUnavailable(new Error('wrapped', { cause: new RedisUnavailableError('x') }))).toBe(true);
    client.disconnect();
  });
});
