/**
 * Connections through Redis Sentinel and what an acknowledgement guarantees, against real processes
 * (a primary, a replica, three sentinels): createRedis reaches the primary the sentinels name, whatever
 * the URL's host; ReplicationAck resolves only once writes made on *other* connections are on the
 * replica, fails "unavailable" when the replica does not acknowledge in time, and groups concurrent
 * callers into few WAIT rounds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisConfigFromEnv } from '@voxfleet/config';
import { freePort, startSentinelRedis, type TestSentinelRedis } from '@voxfleet/testkit';
import { RedisUnavailableError, ReplicationAck, createRedis, describeRedis, isRedisUnavailable } from '@voxfleet/queue';
import { redisAnswers } from '../../apps/stack/src/redis.js';

describe('Redis Sentinel connections and replication acknowledgements', () => {
  let ha: TestSentinelRedis;
  // the URL names a port nothing listens on: with sentinels it supplies credentials only, never the address
  const cfg = () => redisConfigFromEnv({ ...ha.env, VOXFLEET_REDIS_URL: 'redis://127.0.0.1:9', VOXFLEET_REDIS_TIMEOUT_MS: '1500', VOXFLEET_REDIS_ACK_TIMEOUT_MS: '400' });

  beforeAll(async () => {
    ha = await startSentinelRedis();
  }, 90_000);
  afterAll(async () => {
    if (ha) {
      ha.replica.proc?.kill('SIGCONT');
      await ha.stop();
    }
  }, 30_000);

  it('every role connects to the primary the sentinels name', async () => {
    const c = cfg();
    expect(c.sentinel?.nodes).toHaveLength(3);
    expect(c.ackReplicas).toBe(1);
    expect(describeRedis(c)).toBe(`sentinel master "${ha.masterName}" via ${ha.env.VOXFLEET_REDIS_SENTINELS}`);
    for (const role of ['bullmq', 'producer', 'client'] as const) {
      const r = createRedis(c, `test-${role}`, { role });
      r.on('error', () => {});
      try {
        const info = await r.info('server');
        expect(Number(/tcp_port:(\d+)/.exec(info)![1])).toBe(ha.primary.port);
        expect((await r.call('ROLE')) as unknown[]).toContain('master');
      } finally {
        r.disconnect();
      }
    }
  });

  it('an acknowledged write (made on another connection) is on the replica', async () => {
    const c = cfg();
    const writer = createRedis(c, 'test-writer', { role: 'client' });
    const ackConn = createRedis(c, 'test-ack', { role: 'client' });
    for (const r of [writer, ackConn]) r.on('error', () => {});
    const replica = ha.client(ha.replica);
    const ack = new ReplicationAck(ackConn, 'test', c.ackReplicas, c.ackTimeoutMs);
    try {
      for (let i = 0; i < 20; i++) {
        await writer.set(`acked:${i}`, String(i));
        await ack.wait();
        // Redis replicates in one ordered stream: once WAIT saw the marker on the replica, this write is there too.
        expect(await replica.get(`acked:${i}`)).toBe(String(i));
      }
    } finally {
      writer.disconnect();
      ackConn.disconnect();
    }
  });

  it('concurrent callers share WAIT rounds', async () => {
    const c = cfg();
    const ackConn = createRedis(c, 'test-ack-group', { role: 'client' });
    ackConn.on('error', () => {});
    const primary = ha.client(ha.primary);
    const ack = new ReplicationAck(ackConn, 'test', 1, c.ackTimeoutMs);
    const waits = async (): Promise<number> => Number(/cmdstat_wait:calls=(\d+)/.exec(await primary.info('commandstats'))?.[1] ?? 0);
    try {
      await ack.wait();
      const before = await waits();
      await Promise.all(Array.from({ length: 50 }, () => ack.wait()));
      const rounds = (await waits()) - before;
      expect(rounds).toBeGreaterThanOrEqual(1);
      expect(rounds).toBeLessThanOrEqual(3); // one in flight, one for everyone who came during it (a spare for timing)
    } finally {
      ackConn.disconnect();
    }
  });

  it('no acknowledgement while the replica does not answer: a RedisUnavailableError in time, and acknowledged again after', async () => {
    const c = cfg();
    const ackConn = createRedis(c, 'test-ack-stalled', { role: 'client' });
    ackConn.on('error', () => {});
    const ack = new ReplicationAck(ackConn, 'test', 1, c.ackTimeoutMs);
    const replicaPid = ha.replica.proc!.pid!;
    try {
      await ack.wait();
      process.kill(replicaPid, 'SIGSTOP');
      const t0 = Date.now();
      const err = await ack.wait().then(
        () => null,
        (e: unknown) => e,
      );
      process.kill(replicaPid, 'SIGCONT');
      expect(err).toBeInstanceOf(RedisUnavailableError);
      expect(isRedisUnavailable(err)).toBe(true);
      expect((err as Error).message).toMatch(/0 of 1 replica/);
      expect(Date.now() - t0).toBeLessThan(c.ackTimeoutMs + 3000); // bounded by the timeout (slack for a loaded machine)
      await ack.wait();
    } finally {
      process.kill(replicaPid, 'SIGCONT');
      ackConn.disconnect();
    }
  });

  it("npm start's wait for Redis asks the sentinels (and says no, in time, when none answers)", async () => {
    expect(await redisAnswers(cfg())).toBe(true);
    const nowhere = redisConfigFromEnv({ VOXFLEET_REDIS_SENTINELS: `127.0.0.1:${await freePort()}`, VOXFLEET_REDIS_SENTINEL_NAME: ha.masterName });
    const t0 = Date.now();
    expect(await redisAnswers(nowhere)).toBe(false);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  // Last: it swaps the roles of the two data nodes.
  it('a manual failover (the old primary stays up, demoted): every role follows to the new primary', async () => {
    const c = cfg();
    const bull = createRedis(c, 'test-follow-bull', { role: 'bullmq' });
    const client = createRedis(c, 'test-follow-client', { role: 'client' });
    for (const r of [bull, client]) r.on('error', () => {});
    const portOf = async (r: typeof bull): Promise<number> => Number(/tcp_port:(\d+)/.exec(await r.info('server'))![1]);
    try {
      expect(await portOf(bull)).toBe(ha.primary.port);
      expect(await portOf(client)).toBe(ha.primary.port);
      await ha.client(ha.sentinels[0]!).call('SENTINEL', 'FAILOVER', ha.masterName);
      const promoted = await ha.waitForFailover(ha.primary.port, 60_000);
      expect(promoted).toBe(ha.replica.port);
      // BullMQ's role follows within moments of the switch (Sentinel itself demotes the old primary only about
      // 8 s later, so a connection that waited for that would still be writing to it here; 5 s leaves slack).
      const t0 = Date.now();
      while ((await portOf(bull)) !== promoted && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
      expect(await portOf(bull)).toBe(promoted);
      await bull.set('after-failover', '1');
      // A request-time client may fail fast while it reconnects (a 503), then works on the new primary.
      let port = 0;
      for (let i = 0; i < 100 && port !== promoted; i++) {
        port = await client.set('after-failover-client', '1').then(() => portOf(client), () => 0);
        if (port !== promoted) await new Promise((r) => setTimeout(r, 100));
      }
      expect(port).toBe(promoted);
      await ha.waitForReplica(ha.primary, 60_000); // the old primary replicates from the new one
    } finally {
      bull.disconnect();
      client.disconnect();
    }
  }, 120_000);

  it('waits for nothing when no replicas are asked for', async () => {
    const ack = new ReplicationAck(null, 'test', 0, 100);
    await expect(ack.wait()).resolves.toBeUndefined();
    expect(() => new ReplicationAck(null, 'test', 1, 100)).toThrow(/needs a connection/);
  });
});
