/**
 * docker-compose.yml, without a Docker engine (none runs on the project's machines): the file
 * is valid against the compose-spec JSON schema (deploy/schemas, vendored with its provenance),
 * has the services, profiles, volumes and healthchecks docs/operations.md describes, gives the
 * processes only variables the code reads (parsed by the real config functions), mounts the
 * deploy/ files that exist, publishes on loopback only, and builds Dockerfile targets that run
 * as a non-root user. Not covered: that the images pull, build or start.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { LAST_WORDS_MS, gatewayConfigFromEnv, workerConfigFromEnv } from '@voxfleet/config';
import { at, unknownVariables, yamlFile } from './files.js';

interface Service {
  image?: string;
  build?: { context: string; target?: string };
  command?: string[];
  environment?: Record<string, string>;
  profiles?: string[];
  volumes?: string[];
  ports?: string[];
  networks?: Record<string, { aliases?: string[] }>;
  network_mode?: string;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  deploy?: { resources?: { reservations?: { devices?: { driver?: string; count?: number; capabilities?: string[] }[] } } };
}
interface Compose {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

const compose = await yamlFile<Compose>(at('docker-compose.yml'));
const s = compose.services;
const VOXFLEET = ['gateway', 'worker', 'worker-gpu'] as const;

/** Compose's interpolation for the test: `${NAME:-default}` → default, `${NAME:?message}` / `${NAME}` → a stand-in value. */
function interpolate(env: Record<string, string>): Record<string, string> {
  const stand = (name: string): string => (name === 'VOXFLEET_API_KEYS' ? 'k'.repeat(32) : `test-${name.toLowerCase()}`);
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g, (_m, n: string, op?: string, arg?: string) => (op === '-' ? (arg ?? '') : stand(n)))]),
  );
}

const promtool = await promisify(execFile)('promtool', ['--version']).then(() => true, () => false);
if (!promtool) console.warn('compose.test: promtool is not installed (Debian: apt-get install prometheus), so deploy/prometheus/containers.yml is not checked by it');

const seconds = (d: string): number => {
  const m = /^(\d+)(ms|s|m)$/.exec(d);
  if (!m) throw new Error(`unexpected duration ${d}`);
  return Number(m[1]) / (m[2] === 'ms' ? 1000 : m[2] === 'm' ? 1 / 60 : 1);
};

describe('docker-compose.yml', () => {
  it('is valid against the compose-spec schema (and the check rejects a broken file)', async () => {
    const schema = JSON.parse(await readFile(at('deploy/schemas/compose-spec.json'), 'utf8')) as Record<string, unknown>;
    // ajv knows draft-07 as http://json-schema.org/draft-07/schema#; the file names it by its https address
    const validate = new Ajv({ allErrors: true, strict: false }).compile({ ...schema, $schema: 'http://json-schema.org/draft-07/schema#' });
    expect(validate(compose), JSON.stringify(validate.errors, null, 1)).toBe(true);
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services.gateway!.healthchek = { test: ['CMD', 'true'] };
    broken.services.redis!.ports = 6379;
    expect(validate(broken)).toBe(false);
    expect(validate.errors?.map((e) => `${e.instancePath} ${e.message}`)).toEqual(
      expect.arrayContaining(['/services/gateway must NOT have additional properties', '/services/redis/ports must be array']),
    );
  });

  it('runs Redis with AOF and noeviction on a volume, and its exporter beside it', () => {
    const cmd = s.redis!.command!.join(' ');
    expect(cmd).toMatch(/--appendonly yes/);
    expect(cmd).toMatch(/--maxmemory-policy noeviction/);
    expect(cmd).toMatch(/--requirepass/);
    expect(s.redis!.volumes).toContain('redis-data:/data');
    expect(s['redis-exporter']!.network_mode).toBe('service:redis');
  });

  it('has the gateway, a CPU and a GPU worker profile, Prometheus, Grafana and a tracing profile', () => {
    expect(Object.keys(s).sort()).toEqual(['gateway', 'grafana', 'jaeger', 'otel-collector', 'prometheus', 'redis', 'redis-exporter', 'worker', 'worker-gpu']);
    expect(s.worker!.profiles).toEqual(['cpu']);
    expect(s['worker-gpu']!.profiles).toEqual(['gpu']);
    expect(s['otel-collector']!.profiles).toEqual(['tracing']);
    expect(s.jaeger!.profiles).toEqual(['tracing']);
    for (const name of ['redis', 'redis-exporter', 'gateway', 'prometheus', 'grafana']) expect(s[name]!.profiles, name).toBeUndefined();
    expect(s['worker-gpu']!.deploy?.resources?.reservations?.devices).toEqual([{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }]);
    expect(s.worker!.deploy).toBeUndefined();
    expect(s.worker!.environment!.VOXFLEET_PROVIDER).toBe('cpu');
    expect(s['worker-gpu']!.environment!.VOXFLEET_PROVIDER).toBe('cuda');
    expect(Object.keys(compose.volumes).sort()).toEqual(['blobs', 'gateway-data', 'grafana-data', 'prometheus-data', 'redis-data']);
  });

  it('healthchecks every long-running service; the workers by model loaded (ready-probe.mjs)', async () => {
    for (const name of ['redis', 'gateway', 'worker', 'worker-gpu', 'prometheus', 'grafana']) expect(s[name]!.healthcheck?.test.length, name).toBeGreaterThan(1);
    for (const w of ['worker', 'worker-gpu']) expect(s[w]!.healthcheck!.test).toEqual(['CMD', 'node', 'apps/worker/src/ready-probe.mjs']);
    await stat(at('apps/worker/src/ready-probe.mjs'));
    expect(s.gateway!.healthcheck!.test.join(' ')).toContain('/healthz');
  });

  it('gives VoxFleet only variables the code reads, which its config accepts; blobs on one shared volume', async () => {
    for (const name of VOXFLEET) {
      const env = interpolate(s[name]!.environment!);
      expect(await unknownVariables(Object.keys(env)), name).toEqual([]);
      const cfg = name === 'gateway' ? gatewayConfigFromEnv(env) : workerConfigFromEnv(env);
      expect(cfg.storage.blobStore).toBe('local');
      expect(s[name]!.volumes).toContain(`blobs:${cfg.storage.blobDir}`);
      expect(cfg.telemetry.metricsHost).toBe('0.0.0.0'); // Prometheus is another container
      expect(cfg.telemetry.otlpEndpoint).toBeNull(); // until OTEL_EXPORTER_OTLP_ENDPOINT is set
    }
    const gw = gatewayConfigFromEnv(interpolate(s.gateway!.environment!));
    expect(gw.gateway.host).toBe('0.0.0.0');
    expect(gw.gateway.authEnabled).toBe(true);
    expect(gw.redis.url).toMatch(/^redis:\/\/:[^@]+@redis:6379$/);
  });

  it('lets a worker finish its drain before Docker kills it', () => {
    for (const name of ['worker', 'worker-gpu']) {
      const drainMs = workerConfigFromEnv(interpolate(s[name]!.environment!)).worker.drainTimeoutMs;
      expect(seconds(s[name]!.stop_grace_period!) * 1000, name).toBeGreaterThanOrEqual(drainMs + LAST_WORDS_MS);
    }
  });

  it('needs the API keys and the passwords from the environment, and publishes on loopback only', async () => {
    const text = await readFile(at('docker-compose.yml'), 'utf8');
    const required = [...new Set([...text.matchAll(/\$\{([A-Z0-9_]+):\?/g)].map((m) => m[1]))].sort();
    expect(required).toEqual(['GRAFANA_ADMIN_PASSWORD', 'REDIS_PASSWORD', 'VOXFLEET_API_KEYS']);
    const published = Object.values(s).flatMap((x) => x.ports ?? []);
    expect(published.length).toBeGreaterThan(0);
    for (const p of published) expect(p).toMatch(/^127\.0\.0\.1:/);
  });

  it('mounts the deploy/ files that exist, and names each metrics target after the service Prometheus finds', async () => {
    const binds = Object.values(s).flatMap((x) => x.volumes ?? []).filter((v) => v.startsWith('./'));
    for (const b of binds) await stat(at(b.split(':')[0]!));
    expect(s.prometheus!.volumes).toEqual(expect.arrayContaining(['./deploy/prometheus/containers.yml:/etc/prometheus/containers.yml:ro', './deploy/prometheus/rules.yml:/etc/prometheus/rules.yml:ro']));
    expect(s.grafana!.volumes).toEqual(expect.arrayContaining(['./deploy/grafana/dashboards:/var/lib/grafana/dashboards/voxfleet:ro', './deploy/grafana/provisioning/dashboards:/etc/grafana/provisioning/dashboards:ro']));
    const targets = await yamlFile<{ scrape_configs: { job_name: string; dns_sd_configs: { names: string[]; port: number }[] }[] }>(at('deploy/prometheus/containers.yml'));
    const byName = Object.fromEntries(targets.scrape_configs.map((j) => [j.dns_sd_configs[0]!.names[0]!, j.dns_sd_configs[0]!.port]));
    expect(byName).toEqual({ 'gateway-metrics': 9464, 'worker-metrics': 9465, 'redis-metrics': 9121 });
    const aliases = (name: string) => s[name]!.networks?.default?.aliases ?? [];
    expect(aliases('gateway')).toEqual(['gateway-metrics']);
    expect(aliases('worker')).toEqual(['worker-metrics']);
    expect(aliases('worker-gpu')).toEqual(['worker-metrics']);
    expect(aliases('redis')).toEqual(['redis-metrics']);
    expect(gatewayConfigFromEnv(interpolate(s.gateway!.environment!)).telemetry.metricsPort).toBe(9464);
    expect(workerConfigFromEnv(interpolate(s.worker!.environment!)).telemetry.metricsPort).toBe(9465);
    // Grafana's data source for compose keeps the uid the dashboard refers to
    const host = await readFile(at('deploy/grafana/provisioning/datasources/prometheus.yml'), 'utf8');
    const here = await readFile(at('deploy/compose/grafana-datasource.yml'), 'utf8');
    expect(/uid:\s*(\S+)/.exec(here)?.[1]).toBe(/uid:\s*(\S+)/.exec(host)?.[1]);
    expect(here).toMatch(/url: http:\/\/prometheus:9090/);
  });

  it.skipIf(!promtool)('promtool accepts deploy/prometheus/containers.yml with the shared rules', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'voxfleet-prom-'));
    try {
      for (const f of ['containers.yml', 'rules.yml']) await copyFile(at('deploy/prometheus', f), join(dir, f));
      const out = await promisify(execFile)('promtool', ['check', 'config', join(dir, 'containers.yml')]);
      expect(out.stdout).toMatch(/SUCCESS: .*containers\.yml is valid/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('builds Dockerfile targets that exist: multi-stage, each image running as uid 1000', async () => {
    const dockerfile = await readFile(at('Dockerfile'), 'utf8');
    const stages = [...dockerfile.matchAll(/^FROM\s+\S+\s+AS\s+(\S+)$/gm)].map((m) => m[1]);
    expect(stages).toEqual(['build', 'gpu-build', 'gpu', 'cpu']);
    for (const name of VOXFLEET) expect(stages).toContain(s[name]!.build!.target);
    for (const target of ['gpu', 'cpu']) {
      const body = dockerfile.split(/^FROM /m).find((b) => new RegExp(`AS ${target}\\n`).test(b))!;
      expect(body, target).toMatch(/^USER 1000:1000$/m);
    }
    // the CPU stage is the last, so a plain `docker build .` gives it
    expect(stages.at(-1)).toBe('cpu');
  });

  it('sends traces to Jaeger through the collector on the address docs/operations.md gives', async () => {
    const otel = await yamlFile<{ receivers: { otlp: { protocols: { http: { endpoint: string } } } }; exporters: Record<string, { endpoint?: string }>; service: { pipelines: Record<string, { exporters: string[] }> } }>(at('deploy/compose/otel-collector.yml'));
    expect(otel.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    expect(otel.service.pipelines.traces!.exporters).toEqual(['otlp/jaeger']);
    expect(otel.exporters['otlp/jaeger']!.endpoint).toBe('jaeger:4317');
    expect(await readFile(at('docs/operations.md'), 'utf8')).toContain('OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318');
  });
});
