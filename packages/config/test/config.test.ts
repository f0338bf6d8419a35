import { describe, expect, it } from 'vitest';
import { ConfigError, gatewayConfigFromEnv, redact, workerConfigFromEnv } from '../src/index.js';

describe('config from env', () => {
  it('has safe defaults: loopback bind, auth on, 24 h cache, 7 day retention, batch 8 / 100 ms', () => {
    const g = gatewayConfigFromEnv({});
    expect(g.gateway).toMatchObject({ host: '127.0.0.1', port: 8080, authEnabled: true, apiKeys: [] });
    expect(g.storage).toMatchObject({ cacheTtlSec: 86400, retentionSec: 7 * 86400 });
    expect(g.storage.blobDir.endsWith('/var/blobs')).toBe(true);
    expect(g.redis.url).toBe('redis://127.0.0.1:6390');
    expect(g.queue).toMatchObject({ name: 'transcribe', attempts: 3 });
    const w = workerConfigFromEnv({ VOXFLEET_BATCH_MAX: '4', VOXFLEET_BATCH_WAIT_MS: '250' });
    expect(w.worker).toMatchObject({ maxBatch: 4, maxWaitMs: 250 });
    expect(workerConfigFromEnv({}).worker).toMatchObject({ maxBatch: 8, maxWaitMs: 100 });
  });

  it('allows auth off only on loopback', () => {
    expect(gatewayConfigFromEnv({ VOXFLEET_AUTH: 'off' }).gateway.authEnabled).toBe(false);
    expect(() => gatewayConfigFromEnv({ VOXFLEET_AUTH: 'off', VOXFLEET_HOST: '0.0.0.0' })).toThrow(ConfigError);
    expect(() => gatewayConfigFromEnv({ VOXFLEET_AUTH: 'maybe' })).toThrow(/on\/off/);
  });

  it('reports invalid values with the variable path', () => {
    expect(() => gatewayConfigFromEnv({ VOXFLEET_PORT: 'eighty' })).toThrow(/gateway\.port/);
    expect(() => gatewayConfigFromEnv({ VOXFLEET_QUEUE: 'a:b' })).toThrow(/queue\.name/);
    expect(() => gatewayConfigFromEnv({ VOXFLEET_API_KEYS: 'short' })).toThrow(/16 characters/);
  });

  it('masks API keys, passwords and URL credentials when printed', () => {
    const cfg = gatewayConfigFromEnv({
      VOXFLEET_API_KEYS: 'vf_secretsecretsecret1,vf_secretsecretsecret2',
      VOXFLEET_ADMIN_PASSWORD: 'hunter2hunter2',
      VOXFLEET_REDIS_URL: 'redis://user:pa55word@10.0.0.5:6379/0',
    });
    const text = JSON.stringify(redact(cfg));
    expect(text).not.toMatch(/secretsecret|hunter2|pa55word/);
    expect(text).toContain('redis://user:***@10.0.0.5:6379/0');
    expect(text).toContain('"keyPrefix":"voxfleet"');
  });
});
