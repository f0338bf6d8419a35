import { describe, expect, it } from 'vitest';
import { ConfigError, formatConfig, gatewayConfigFromEnv, workerConfigFromEnv } from '../src/index.js';

const S3 = { VOXFLEET_BLOB_STORE: 's3', VOXFLEET_S3_BUCKET: 'voxfleet-blobs', VOXFLEET_S3_ENDPOINT: 'http://127.0.0.1:9000' };

describe('blob store selection (VOXFLEET_BLOB_STORE)', () => {
  it('is the local directory unless asked otherwise', () => {
    const { storage } = workerConfigFromEnv({});
    expect(storage.blobStore).toBe('local');
    expect(storage.s3).toBeNull();
  });

  it('reads the S3 settings, path-style by default with a custom endpoint, and prints them without the secret', () => {
    const cfg = gatewayConfigFromEnv({ ...S3, VOXFLEET_S3_ACCESS_KEY_ID: 'AKIAEXAMPLE123', VOXFLEET_S3_SECRET_ACCESS_KEY: 'very-secret-value-123' });
    expect(cfg.storage.blobStore).toBe('s3');
    expect(cfg.storage.s3).toMatchObject({ bucket: 'voxfleet-blobs', prefix: 'blobs/', region: 'us-east-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true });
    expect(cfg.storage.s3!.tmpDir.endsWith('/blob-tmp')).toBe(true);
    const printed = formatConfig(cfg);
    expect(printed).toContain('voxfleet-blobs');
    expect(printed).not.toContain('very-secret-value-123');
    expect(printed).not.toContain('AKIAEXAMPLE123');
    // AWS's own endpoint: virtual-hosted style unless told
    expect(workerConfigFromEnv({ VOXFLEET_BLOB_STORE: 's3', VOXFLEET_S3_BUCKET: 'b-1' }).storage.s3!.forcePathStyle).toBe(false);
    expect(workerConfigFromEnv({ ...S3, VOXFLEET_S3_FORCE_PATH_STYLE: 'off' }).storage.s3!.forcePathStyle).toBe(false);
  });

  it('refuses bad settings with the variable named', () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ VOXFLEET_BLOB_STORE: 'nfs' }, /VOXFLEET_BLOB_STORE must be local or s3/],
      [{ VOXFLEET_BLOB_STORE: 's3' }, /VOXFLEET_S3_BUCKET/],
      [{ ...S3, VOXFLEET_S3_BUCKET: 'Bad_Bucket' }, /VOXFLEET_S3_BUCKET/],
      [{ ...S3, VOXFLEET_S3_ENDPOINT: 'localhost:9000' }, /VOXFLEET_S3_ENDPOINT/],
      [{ ...S3, VOXFLEET_S3_PREFIX: 'no-slash' }, /VOXFLEET_S3_PREFIX/],
      [{ ...S3, VOXFLEET_S3_ACCESS_KEY_ID: 'only-the-id' }, /both VOXFLEET_S3_ACCESS_KEY_ID and VOXFLEET_S3_SECRET_ACCESS_KEY/],
      [{ ...S3, VOXFLEET_S3_FORCE_PATH_STYLE: 'maybe' }, /VOXFLEET_S3_FORCE_PATH_STYLE/],
    ];
    for (const [env, message] of bad) {
      expect(() => workerConfigFromEnv(env)).toThrow(ConfigError);
      expect(() => workerConfigFromEnv(env)).toThrow(message);
    }
  });
});
