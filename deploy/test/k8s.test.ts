/**
 * k8s/, without a cluster: every overlay builds with `kubectl kustomize`, every object it
 * gives is valid against the Kubernetes schemas (npm kubernetes-models; KEDA's ScaledObject
 * from @kubernetes-models/keda), and the objects say what docs/operations.md says — the GPU
 * requested in the gpu overlay only, readiness = model loaded, grace periods that cover the
 * drain the container's own config asks for (parsed by the real config functions), a KEDA
 * query on a metric the code exports for the queue the worker serves, deploy/'s Prometheus
 * and Grafana files carried unchanged, Secrets referenced and never shipped, NetworkPolicy,
 * requests and limits. Not covered: applying them to a cluster, or fields the schemas allow
 * that Kubernetes does not know (its OpenAPI schemas accept unknown fields).
 */
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_NAME, LAST_WORDS_MS, gatewayConfigFromEnv, workerConfigFromEnv } from '@voxfleet/config';
import { QUEUE_STATES, modelQueueName } from '@voxfleet/queue';
import { METRICS, exportedSeries } from '@voxfleet/telemetry';
import { at, unknownVariables, yamlDocuments, yamlFile } from './files.js';

const run = promisify(execFile);
const OVERLAYS = ['cpu', 'gpu'] as const;

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are free-form YAML; the schema check below types them */
type Obj = Record<string, any>;

const kubectl = await run('kubectl', ['version', '--client']).then(
  () => true,
  () => false,
);
// CI installs kubectl (.ci/run); only a developer's machine without it skips
if (!kubectl && process.env.CI) throw new Error('k8s.test: kubectl is missing (.ci/run installs Debian\'s kubernetes-client)');
if (!kubectl) console.warn('k8s.test: kubectl is not installed (Debian: apt-get install kubernetes-client), so k8s/ is not built');

async function build(dir: string): Promise<Obj[]> {
  const { stdout } = await run('kubectl', ['kustomize', at(dir)], { maxBuffer: 32 * 1024 * 1024 });
  return yamlDocuments(stdout);
}

/** The kubernetes-models class of an object: `apps/v1` + Deployment → kubernetes-models/apps/v1/Deployment. */
async function modelClass(o: Obj): Promise<new (data: Obj) => { validate(): void }> {
  const [group, version] = String(o.apiVersion).includes('/') ? String(o.apiVersion).split('/') : ['', String(o.apiVersion)];
  const pkg = group === 'keda.sh' ? '@kubernetes-models/keda' : 'kubernetes-models';
  const mod = (await import(`${pkg}/${group ? `${group}/` : ''}${version}/${o.kind}`)) as Record<string, new (data: Obj) => { validate(): void }>;
  const cls = mod[o.kind];
  if (!cls) throw new Error(`no model for ${o.apiVersion} ${o.kind}`);
  return cls;
}

const find = (objs: Obj[], kind: string, name: string): Obj => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${kind}/${name} is missing`);
  return o;
};
const podSpecs = (objs: Obj[]): [string, Obj][] => objs.filter((o) => o.spec?.template?.spec).map((o) => [`${o.kind}/${o.metadata.name}`, o.spec.template.spec]);

/** A container's environment as the process sees it: envFrom ConfigMaps, Secrets as stand-ins, $(VAR) expanded. */
function containerEnv(objs: Obj[], c: Obj): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) Object.assign(env, find(objs, 'ConfigMap', from.configMapRef.name).data);
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) {
      if (!ref.optional) env[e.name] = ref.key === 'api-keys' ? 'k'.repeat(32) : `stand-in-${ref.key}`;
    } else if (e.valueFrom?.fieldRef) env[e.name] = 'pod-0';
    else env[e.name] = String(e.value).replace(/\$\(([A-Za-z0-9_]+)\)/g, (_m, n: string) => env[n] ?? '');
  }
  return env;
}

const container = (objs: Obj[], deployment: string): Obj => find(objs, 'Deployment', deployment).spec.template.spec.containers[0];

describe.skipIf(!kubectl)('k8s/', () => {
  const built = Object.fromEntries(OVERLAYS.map((o) => [o, build(`k8s/overlays/${o}`)])) as Record<(typeof OVERLAYS)[number], Promise<Obj[]>>;

  it.each(OVERLAYS)('%s: every object is valid against the Kubernetes (and KEDA) schemas', async (overlay) => {
    const objs = await built[overlay];
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      [
        'ConfigMap/grafana-dashboard-voxfleet', 'ConfigMap/prometheus-config', 'ConfigMap/voxfleet-config',
        'Deployment/gateway', 'Deployment/prometheus', 'Deployment/worker',
        'HorizontalPodAutoscaler/gateway', 'Namespace/voxfleet',
        'NetworkPolicy/default-deny-ingress', 'NetworkPolicy/gateway', 'NetworkPolicy/prometheus', 'NetworkPolicy/redis', 'NetworkPolicy/worker',
        'PodDisruptionBudget/gateway', 'PodDisruptionBudget/worker', 'ScaledObject/worker-voxfleet-en-char-ctc',
        'Service/gateway', 'Service/gateway-metrics', 'Service/prometheus', 'Service/redis', 'Service/redis-metrics', 'Service/worker-metrics',
        'StatefulSet/redis',
      ].sort(),
    );
    for (const o of objs) {
      const Model = await modelClass(o);
      expect(() => new Model(o).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow();
      if (o.kind !== 'Namespace') expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('voxfleet');
    }
    // the check is live: a wrong type fails it
    const broken = structuredClone(find(objs, 'Deployment', 'worker'));
    broken.spec.template.spec.terminationGracePeriodSeconds = 'long';
    const Deployment = await modelClass(broken);
    expect(() => new Deployment(broken).validate()).toThrow(/terminationGracePeriodSeconds must be integer/);
  });

  it('requests a GPU for the worker in the gpu overlay only, with the CUDA image and provider', async () => {
    const gpu = container(await built.gpu, 'worker');
    expect(gpu.resources.requests['nvidia.com/gpu']).toBe(1);
    expect(gpu.resources.limits['nvidia.com/gpu']).toBe(1);
    expect(gpu.image).toBe('voxfleet:0.1.0-gpu');
    expect(workerConfigFromEnv(containerEnv(await built.gpu, gpu)).worker.maxBatch).toBe(32);
    expect(containerEnv(await built.gpu, gpu).VOXFLEET_PROVIDER).toBe('cuda');
    const cpu = await built.cpu;
    expect(JSON.stringify(cpu)).not.toContain('nvidia.com/gpu');
    expect(container(cpu, 'worker').image).toBe('voxfleet:0.1.0');
    expect(containerEnv(cpu, container(cpu, 'worker')).VOXFLEET_PROVIDER).toBe('cpu');
    for (const objs of [cpu, await built.gpu]) expect(container(objs, 'gateway').image).toBe('voxfleet:0.1.0');
  });

  it.each(OVERLAYS)('%s: every container has CPU and memory requests and limits, runs non-root, read-only, unprivileged', async (overlay) => {
    const objs = await built[overlay];
    for (const [owner, spec] of podSpecs(objs)) {
      expect(spec.securityContext?.runAsNonRoot, owner).toBe(true);
      expect(spec.automountServiceAccountToken, owner).toBe(false);
      for (const c of spec.containers) {
        for (const k of ['requests', 'limits']) for (const r of ['cpu', 'memory']) expect(c.resources?.[k]?.[r], `${owner} ${c.name} ${k}.${r}`).toBeDefined();
        expect(c.securityContext, `${owner} ${c.name}`).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      }
    }
  });

  it.each(OVERLAYS)('%s: the worker is ready once its model is loaded, and has the time to drain', async (overlay) => {
    const objs = await built[overlay];
    const spec = find(objs, 'Deployment', 'worker').spec.template.spec;
    const c = spec.containers[0];
    expect(c.readinessProbe.exec.command).toEqual(['node', 'apps/worker/src/ready-probe.mjs']);
    await stat(at('apps/worker/src/ready-probe.mjs'));
    const cfg = workerConfigFromEnv(containerEnv(objs, c));
    expect(cfg.telemetry.metricsPort).toBe(c.ports.find((p: Obj) => p.name === 'metrics').containerPort);
    expect(cfg.telemetry.metricsHost).toBe('0.0.0.0');
    expect(cfg.worker.drainTimeoutMs).toBe(120_000);
    expect(spec.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(cfg.worker.drainTimeoutMs + LAST_WORDS_MS);
    expect(c.lifecycle?.preStop).toBeUndefined(); // SIGTERM starts the drain; a hook would only delay it
  });

  it.each(OVERLAYS)('%s: the gateway binds the pod address with auth on, drains within its grace, and is scaled and protected', async (overlay) => {
    const objs = await built[overlay];
    const spec = find(objs, 'Deployment', 'gateway').spec.template.spec;
    const c = spec.containers[0];
    const cfg = gatewayConfigFromEnv(containerEnv(objs, c));
    expect(cfg.gateway.host).toBe('0.0.0.0');
    expect(cfg.gateway.authEnabled).toBe(true);
    expect(cfg.gateway.adminPassword).not.toBe(''); // from the Secret, the same on every pod
    expect(cfg.storage.blobStore).toBe('s3');
    expect(cfg.redis.url).toBe('redis://:stand-in-redis-password@redis:6379');
    const preStop = Number(c.lifecycle.preStop.exec.command[1]);
    expect(spec.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(preStop * 1000 + cfg.gateway.drainTimeoutMs + LAST_WORDS_MS);
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(find(objs, 'HorizontalPodAutoscaler', 'gateway').spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'gateway' });
    expect(find(objs, 'PodDisruptionBudget', 'gateway').spec.minAvailable).toBe(1);
    expect(find(objs, 'Deployment', 'gateway').spec.replicas).toBeUndefined(); // the HPA owns it
  });

  it.each(OVERLAYS)('%s: KEDA scales the worker on the exported backlog of the queue it serves', async (overlay) => {
    const objs = await built[overlay];
    const so = find(objs, 'ScaledObject', 'worker-voxfleet-en-char-ctc');
    const worker = find(objs, 'Deployment', 'worker');
    expect(so.spec.scaleTargetRef.name).toBe(worker.metadata.name);
    expect(worker.spec.replicas).toBeUndefined(); // KEDA owns it
    expect(so.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    const [trigger] = so.spec.triggers;
    expect(trigger.type).toBe('prometheus');
    const query: string = trigger.metadata.query;
    const names = [...query.replace(/"[^"]*"/g, '""').matchAll(/\b(voxfleet_[a-z_]+)\b/g)].map((m) => m[1]!);
    expect(names).toEqual([METRICS.queueJobs.name]);
    expect(exportedSeries().has(names[0]!)).toBe(true);
    // the queue of the model this Deployment holds (the image's default model, named by its label)
    const cfg = workerConfigFromEnv(containerEnv(objs, worker.spec.template.spec.containers[0]));
    expect(worker.spec.template.metadata.labels['voxfleet.io/model']).toBe(DEFAULT_MODEL_NAME);
    expect(query).toContain(`queue="${modelQueueName(cfg.queue.name, DEFAULT_MODEL_NAME)}"`);
    const states = /state=~"([^"]+)"/.exec(query)![1]!.split('|');
    expect(states).toEqual(expect.arrayContaining(['waiting', 'prioritized']));
    for (const st of states) expect(QUEUE_STATES).toContain(st);
    // one worker's share is what it holds at once
    expect(Number(trigger.metadata.threshold)).toBe(cfg.worker.concurrency);
    const prom = find(objs, 'Service', 'prometheus');
    expect(trigger.metadata.serverAddress).toBe(`http://${prom.metadata.name}.${prom.metadata.namespace}.svc:${prom.spec.ports[0].port}`);
  });

  it.each(OVERLAYS)('%s: Redis is a StatefulSet with AOF, noeviction, a password and a persistent volume', async (overlay) => {
    const objs = await built[overlay];
    const sts = find(objs, 'StatefulSet', 'redis');
    const redis = sts.spec.template.spec.containers.find((c: Obj) => c.name === 'redis');
    const args = redis.args.join(' ');
    for (const flag of ['--appendonly yes', '--maxmemory-policy noeviction', '--requirepass', '--dir /data']) expect(args).toContain(flag);
    expect(sts.spec.volumeClaimTemplates[0].spec.accessModes).toEqual(['ReadWriteOnce']);
    expect(redis.volumeMounts).toContainEqual({ name: sts.spec.volumeClaimTemplates[0].metadata.name, mountPath: '/data' });
    expect(find(objs, 'Service', 'redis').spec.clusterIP).toBe('None');
  });

  it.each(OVERLAYS)('%s: keys come from the Secret voxfleet-secrets, which is never shipped; variables are real', async (overlay) => {
    const objs = await built[overlay];
    expect(objs.filter((o) => o.kind === 'Secret')).toEqual([]);
    const refs = new Map<string, boolean>();
    for (const [owner, spec] of podSpecs(objs)) {
      for (const c of spec.containers) {
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (!ref) continue;
          expect(ref.name, owner).toBe('voxfleet-secrets');
          refs.set(ref.key, ref.optional === true);
        }
        if (c.name === 'gateway' || c.name === 'worker') expect(await unknownVariables(Object.keys(containerEnv(objs, c))), `${owner} ${c.name}`).toEqual([]);
      }
    }
    expect(Object.fromEntries(refs)).toEqual({ 'redis-password': false, 'api-keys': false, 'admin-password': false, 's3-access-key-id': true, 's3-secret-access-key': true });
    // the docs' `kubectl create secret` names every key
    const docs = await readFile(at('docs/operations.md'), 'utf8');
    const create = /kubectl -n voxfleet create secret generic voxfleet-secrets[^`]*?(?=\n```)/s.exec(docs)?.[0] ?? '';
    for (const key of refs.keys()) expect(create, key).toContain(`--from-literal=${key}=`);
  });

  it.each(OVERLAYS)('%s: carries deploy/\'s Prometheus and Grafana files unchanged, and names the DNS targets they scrape', async (overlay) => {
    const objs = await built[overlay];
    const prom = find(objs, 'ConfigMap', 'prometheus-config').data;
    for (const f of ['containers.yml', 'rules.yml']) expect(prom[f], f).toBe(await readFile(at('deploy/prometheus', f), 'utf8'));
    const dashboard = find(objs, 'ConfigMap', 'grafana-dashboard-voxfleet');
    expect(dashboard.data['voxfleet.json']).toBe(await readFile(at('deploy/grafana/dashboards/voxfleet.json'), 'utf8'));
    expect(dashboard.metadata.labels.grafana_dashboard).toBe('1');
    const args: string[] = container(objs, 'prometheus').args;
    expect(args).toContain('--config.file=/etc/prometheus/containers.yml');
    const scrape = await yamlFile<{ scrape_configs: { dns_sd_configs: { names: string[]; port: number }[] }[] }>(at('deploy/prometheus/containers.yml'));
    for (const job of scrape.scrape_configs) {
      const { names, port } = job.dns_sd_configs[0]!;
      const svc = find(objs, 'Service', names[0]!);
      expect(svc.spec.clusterIP, svc.metadata.name).toBe('None'); // one A record per pod
      expect(svc.spec.publishNotReadyAddresses).toBe(true);
      expect(svc.spec.ports.map((p: Obj) => p.port)).toEqual([port]);
    }
  });

  it.each(OVERLAYS)('%s: NetworkPolicy denies ingress by default; only Prometheus reaches the metrics ports', async (overlay) => {
    const objs = await built[overlay];
    expect(find(objs, 'NetworkPolicy', 'default-deny-ingress').spec).toEqual({ podSelector: {}, policyTypes: ['Ingress'] });
    // (commonLabels adds part-of to these selectors too: still this namespace's Prometheus only)
    const fromPrometheus = [{ podSelector: { matchLabels: { 'app.kubernetes.io/component': 'prometheus', 'app.kubernetes.io/part-of': 'voxfleet' } } }];
    const rule = (policy: string, port: number): Obj => find(objs, 'NetworkPolicy', policy).spec.ingress.find((r: Obj) => r.ports.some((p: Obj) => p.port === port));
    expect(rule('gateway', 9464).from).toEqual(fromPrometheus);
    expect(rule('worker', 9465).from).toEqual(fromPrometheus);
    expect(rule('redis', 9121).from).toEqual(fromPrometheus);
    expect(rule('redis', 6379).from.map((f: Obj) => f.podSelector.matchLabels['app.kubernetes.io/component'])).toEqual(['gateway', 'worker']);
    expect(rule('prometheus', 9090).from).toContainEqual({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'keda' } } });
  });
});
