/** Redis Sentinel and acknowledgement settings: parsed, defaulted and refused with the variable named. */
import { describe, expect, it } from 'vitest';
import { ConfigError, formatConfig, redisConfigFromEnv } from '../src/index.js';

const SENTINELS = { VOXFLEET_REDIS_SENTINELS: '10.0.0.5:26379, [::1]:26380,sentinel-3', VOXFLEET_REDIS_SENTINEL_NAME: 'voxfleet' };

describe('redis sentinel config', () => {
  it('no sentinels: a direct URL, no replicas waited for', () => {
    const r = redisConfigFromEnv({});
    expect(r.sentinel).toBeNull();
    expect(r.ackReplicas).toBe(0);
  });

  it('parses host:port lists (IPv6 in brackets, 26379 when left out) and waits for one replica by default', () => {
    const r = redisConfigFromEnv(SENTINELS);
    expect(r.sentinel).toEqual({
      nodes: [
        { host: '10.0.0.5', port: 26379 },
        { host: '::1', port: 26380 },
        { host: 'sentinel-3', port: 26379 },
      ],
      name: 'voxfleet',
      password: '',
    });
    expect(r.ackReplicas).toBe(1);
    expect(r.ackTimeoutMs).toBe(1000);
    expect(redisConfigFromEnv({ ...SENTINELS, VOXFLEET_REDIS_ACK_REPLICAS: '0' }).ackReplicas).toBe(0);
  });

  it('prints the sentinel password masked', () => {
    const text = formatConfig({ redis: redisConfigFromEnv({ ...SENTINELS, VOXFLEET_REDIS_SENTINEL_PASSWORD: 'sentinel-secret-123' }) });
    expect(text).not.toContain('sentinel-secret-123');
    expect(text).toContain('"password":"sen***"');
  });

  it('refuses bad input with the variable named', () => {
    const bad = (env: Record<string, string>): string => {
      try {
        redisConfigFromEnv(env);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad({ ...SENTINELS, VOXFLEET_REDIS_SENTINELS: 'h:port' })).toMatch(/VOXFLEET_REDIS_SENTINELS: "h:port" is not host:port/);
    expect(bad({ ...SENTINELS, VOXFLEET_REDIS_SENTINELS: 'h:70000' })).toMatch(/"h:70000" is not host:port/);
    expect(bad({ ...SENTINELS, VOXFLEET_REDIS_SENTINELS: 'a:1,,b:2' })).toMatch(/"" is not host:port/);
    expect(bad({ VOXFLEET_REDIS_SENTINELS: 'a:1' })).toMatch(/VOXFLEET_REDIS_SENTINEL_NAME must name the master/);
    expect(bad({ VOXFLEET_REDIS_SENTINEL_NAME: 'voxfleet' })).toMatch(/VOXFLEET_REDIS_SENTINELS is not/);
    expect(bad({ ...SENTINELS, VOXFLEET_REDIS_SENTINEL_NAME: 'two words' })).toMatch(/redis\.sentinel\.name/);
    expect(bad({ ...SENTINELS, VOXFLEET_REDIS_ACK_TIMEOUT_MS: '2000' })).toMatch(/VOXFLEET_REDIS_ACK_TIMEOUT_MS \(2000\) must be below VOXFLEET_REDIS_TIMEOUT_MS \(2000\)/);
    expect(bad({ ...SENTINELS, VOXFLEET_REDIS_ACK_REPLICAS: '-1' })).toMatch(/redis\.ackReplicas/);
  });
});
