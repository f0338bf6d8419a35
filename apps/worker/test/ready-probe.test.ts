/**
 * The worker's readiness probe (src/ready-probe.mjs, the exec probe of k8s/ and the healthcheck of
 * docker-compose.yml) against the worker's real metrics: a Prometheus listener from startTelemetry and
 * the worker's own instruments (workerMetrics), in the states a worker goes through — listener up and
 * no model yet, model loaded, draining — and with nothing listening.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { METRICS, startTelemetry, type Telemetry } from '@voxfleet/telemetry';
import { freePort } from '@voxfleet/testkit';
import { workerMetrics } from '../src/metrics.js';

const PROBE = new URL('../src/ready-probe.mjs', import.meta.url).pathname;

async function probe(port: number, host = '0.0.0.0'): Promise<{ code: number; stderr: string }> {
  return promisify(execFile)(process.execPath, [PROBE], { env: { PATH: process.env.PATH, VOXFLEET_METRICS_PORT: String(port), VOXFLEET_METRICS_HOST: host } }).then(
    (r) => ({ code: 0, stderr: r.stderr }),
    (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
  );
}

describe('worker readiness probe', () => {
  let telemetry: Telemetry | undefined;
  afterAll(() => telemetry?.shutdown());

  it('names the metric the worker exports', async () => {
    expect(await readFile(PROBE, 'utf8')).toContain(`const METRIC = '${METRICS.modelLoaded.name}'`);
  });

  it('is ready only while every model is loaded', async () => {
    const port = await freePort();
    telemetry = await startTelemetry({ service: 'voxfleet-worker', prometheusPort: port, prometheusHost: '127.0.0.1' });
    const metrics = await workerMetrics(telemetry.meter, { gpu: false });
    expect(await probe(port, '127.0.0.1')).toMatchObject({ code: 1, stderr: expect.stringContaining('no model loaded yet') });
    metrics.modelLoaded({ name: 'a', provider: 'cpu', precision: 'fp32', loadMs: 120 });
    expect((await probe(port, '127.0.0.1')).code).toBe(0);
    expect((await probe(port, '0.0.0.0')).code).toBe(0); // a listener on all interfaces is asked on loopback
    metrics.modelLoaded({ name: 'b', provider: 'cpu', precision: 'int8', loadMs: 80 });
    metrics.modelUnloaded('b');
    expect(await probe(port, '127.0.0.1')).toMatchObject({ code: 1, stderr: expect.stringContaining('model="b"') });
    metrics.modelUnloaded('a');
    expect((await probe(port, '127.0.0.1')).code).toBe(1);
    metrics.stop();
  });

  it('is not ready with nothing listening, or with the listener off', async () => {
    expect(await probe(await freePort())).toMatchObject({ code: 1, stderr: expect.stringContaining('no metrics listener') });
    const off = await promisify(execFile)(process.execPath, [PROBE], { env: { VOXFLEET_METRICS_PORT: 'off' } }).catch((err: { code: number; stderr: string }) => err);
    expect(off).toMatchObject({ code: 1, stderr: expect.stringContaining('no metrics listener to ask') });
  });
});
