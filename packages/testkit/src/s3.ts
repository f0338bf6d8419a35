/**
 * A throw-away S3 server for tests: s3rver (the root devDependency) in its
 * own process on 127.0.0.1 (or another address, under a command prefix such
 * as `ip netns exec`), an ephemeral port, a temp dir, one bucket.
 * Its own process, so stopping it is a real "endpoint down" (connections
 * refused), and its logger never touches the test process.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopProcess } from './processes.js';

/** s3rver's built-in credentials (it checks signatures against them). */
export const S3RVER_KEY = 'S3RVER';

export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** s3rver's data directory (objects live under `<dir>/<bucket>/`) */
  dir: string;
  /** the VOXFLEET_* settings for a gateway or worker storing blobs here */
  env(prefix?: string): Record<string, string>;
  stop(): Promise<void>;
}

const s3rverBin = (): string => createRequire(import.meta.url).resolve('s3rver/bin/s3rver.js');

export interface S3Options {
  /** the address it listens on (127.0.0.1) */
  host?: string;
  /** its port (0: an ephemeral one) */
  port?: number;
  /** a command the server runs under, e.g. `['ip', 'netns', 'exec', ns]` (netns.ts) */
  wrap?: string[];
}

/** Starts s3rver with `bucket` created and resolves once it listens. */
export async function startS3(bucket = 'voxfleet-test', opts: S3Options = {}): Promise<TestS3> {
  const dir = await mkdtemp(join(tmpdir(), 'voxfleet-s3-'));
  const host = opts.host ?? '127.0.0.1';
  const [cmd, ...pre] = [...(opts.wrap ?? []), process.execPath];
  const proc = spawn(cmd!, [...pre, s3rverBin(), '-d', dir, '-a', host, '-p', String(opts.port ?? 0), '--silent', '--configure-bucket', bucket], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  for (const s of [proc.stdout!, proc.stderr!]) s.on('error', () => {});
  proc.on('error', (err) => (out += `\n[spawn failed: ${err.message}]\n`));
  const port = await new Promise<number>((resolve, reject) => {
    const t = setInterval(() => {
      const m = /listening on [\d.]+:(\d+)/.exec(out);
      if (m) {
        clearInterval(t);
        resolve(Number(m[1]));
      }
    }, 20);
    proc.once('exit', (code) => {
      clearInterval(t);
      reject(new Error(`s3rver exited with ${code} before listening:\n${out}`));
    });
  });
  const endpoint = `http://${host}:${port}`;
  return {
    endpoint,
    bucket,
    dir,
    env: (prefix = 'blobs/') => ({
      VOXFLEET_BLOB_STORE: 's3',
      VOXFLEET_S3_ENDPOINT: endpoint,
      VOXFLEET_S3_BUCKET: bucket,
      VOXFLEET_S3_PREFIX: prefix,
      VOXFLEET_S3_REGION: 'us-east-1',
      VOXFLEET_S3_ACCESS_KEY_ID: S3RVER_KEY,
      VOXFLEET_S3_SECRET_ACCESS_KEY: S3RVER_KEY,
    }),
    async stop() {
      await stopProcess(proc, 'SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
