/**
 * Starts OpenTelemetry for one process: metric readers — Prometheus (its own
 * loopback listener when a port is given, and `metricsText()` for the
 * gateway's /metrics route) and, with an OTLP endpoint, a periodic OTLP
 * reader — and span processors exporting over OTLP (or the ones a test
 * passes).
 *
 * Two ways to put them together:
 * - `register: true` (the gateway's and the worker's process entry points):
 *   `@opentelemetry/sdk-node`'s NodeSDK builds the providers and registers
 *   them as the API's globals, with the W3C propagator and the async-hooks
 *   context manager, so anything else in the process that uses the
 *   OpenTelemetry API reports through the same pipeline. Once per process.
 * - private (the default; tests, and processes running several gateways or
 *   workers): the providers are handed out, never registered — each instance
 *   keeps its own instruments, and a stopped one cannot swallow the next one's
 *   measurements. The one global is the async-hooks context manager, which
 *   the API needs so a span stays the active one across awaits.
 */
import { context, logs, metrics, propagation, trace, type ContextManager, type Meter, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, NoopSpanProcessor, TracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

export interface TelemetryOptions {
  /** `voxfleet-gateway`, `voxfleet-worker` */
  service: string;
  /** this process among others of the service (a worker's id); becomes `service.instance.id` */
  instance?: string;
  /** Prometheus listener port; null/absent: none (the gateway still renders `metricsText()` on its own route) */
  prometheusPort?: number | null;
  /** the listener's address; loopback unless told otherwise, since it has no authentication */
  prometheusHost?: string;
  /** OTLP/HTTP base URL: metrics go to `<url>/v1/metrics`, spans to `<url>/v1/traces` */
  otlpEndpoint?: string | null;
  otlpIntervalMs?: number;
  /** extra span processors (tests: an in-memory exporter) */
  spanProcessors?: SpanProcessor[];
  /** build the providers with NodeSDK and register them as the process's OpenTelemetry globals (once per process) */
  register?: boolean;
}

export interface Telemetry {
  readonly meter: Meter;
  readonly tracer: Tracer;
  /** where Prometheus scrapes this process, when it has a listener */
  readonly prometheusUrl: string | null;
  /** whether this telemetry is the process's registered OpenTelemetry SDK (NodeSDK) */
  readonly registered: boolean;
  /** whether metrics and spans go over OTLP (an endpoint is set and OTEL_SDK_DISABLED is not) */
  readonly otlp: boolean;
  /** what the start log should add, e.g. that OTEL_SDK_DISABLED turned the SDK off */
  readonly note: string | null;
  /** The current metrics in Prometheus text format (collects now, so observable gauges are read). */
  metricsText(): Promise<string>;
  /** Flushes what is pending (OTLP) and stops the listener and the readers. Idempotent. */
  shutdown(): Promise<void>;
}

const SCOPE = 'voxfleet';
let contextManager: AsyncLocalStorageContextManager | undefined;
/** set from the moment a registering start begins (it awaits the listener) until its shutdown */
let registered = false;

/** The API keeps one context manager per process; the first telemetry started installs it. */
function ensureContextManager(): void {
  if (contextManager) return;
  const m = new AsyncLocalStorageContextManager().enable();
  if (context.setGlobalContextManager(m)) contextManager = m;
  else m.disable(); // someone else's is in place (it serves as well)
}

function startPrometheus(port: number, host: string): Promise<PrometheusExporter> {
  return new Promise((resolve, reject) => {
    const exporter: PrometheusExporter = new PrometheusExporter({ port, host, withoutScopeInfo: true }, (err) => {
      if (err) reject(new Error(`the Prometheus listener could not bind ${host}:${port} (${err.message}): set VOXFLEET_METRICS_PORT to a free port, or off`));
      else resolve(exporter);
    });
  });
}

interface Providers {
  meter: Meter;
  tracer: Tracer;
  registered: boolean;
  shutdown(): Promise<void>;
}

const sdkDisabled = (): boolean => process.env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true';

function privateProviders(resource: Resource, readers: IMetricReader[], spanProcessors: SpanProcessor[]): Providers {
  ensureContextManager();
  const meterProvider = new MeterProvider({ resource, readers });
  const tracerProvider = new TracerProvider({ resource, spanProcessors });
  return {
    meter: meterProvider.getMeter(SCOPE),
    tracer: tracerProvider.getTracer(SCOPE),
    registered: false,
    shutdown: async () => void (await Promise.allSettled([meterProvider.shutdown(), tracerProvider.shutdown()])),
  };
}

function registerSdk(resource: Resource, readers: IMetricReader[], spanProcessors: SpanProcessor[]): Providers {
  if (sdkDisabled()) {
    // NodeSDK would then register nothing, leaving the Prometheus reader unbound: VoxFleet's own metrics stay private (Telemetry.note says so).
    registered = false;
    return privateProviders(resource, readers, spanProcessors);
  }
  ensureContextManager();
  const sdk = new NodeSDK({
    resource,
    // OTEL_RESOURCE_ATTRIBUTES still applies; the host and process detectors would put command lines into every series' target_info.
    resourceDetectors: [envDetector],
    metricReaders: readers,
    // Without an exporter NodeSDK would register no tracer provider at all, and the API's no-op spans carry no trace
    // context: the no-op processor keeps real trace ids, which go through the queue to the worker and into the logs.
    spanProcessors: spanProcessors.length ? spanProcessors : [new NoopSpanProcessor()],
    // No log export (VoxFleet logs JSON lines to stdout); otherwise NodeSDK sets up an OTLP log exporter by default.
    logRecordProcessors: [],
    // the process's one context manager (ensureContextManager), not a second one NodeSDK would enable and fail to register
    contextManager: null as unknown as ContextManager,
    instrumentations: [],
  });
  sdk.start();
  return {
    meter: metrics.getMeter(SCOPE),
    tracer: trace.getTracer(SCOPE),
    registered: true,
    shutdown: async () => {
      await sdk.shutdown().catch(() => undefined);
      // Unregistered, so a later start in the same process can register again. The context manager stays: it may
      // serve private telemetry too, and it holds no state of this SDK.
      metrics.disable();
      trace.disable();
      propagation.disable();
      logs.disable(); // the empty LoggerProvider NodeSDK registers for logRecordProcessors: []
      registered = false;
    },
  };
}

export async function startTelemetry(opts: TelemetryOptions): Promise<Telemetry> {
  // Before the listener binds, so a refused start leaves nothing open.
  if (opts.register) {
    if (registered) throw new Error('OpenTelemetry is already registered in this process (startTelemetry with register: true runs once per process)');
    registered = true;
  }
  try {
    return await start(opts);
  } catch (err) {
    if (opts.register) registered = false;
    throw err;
  }
}

async function start(opts: TelemetryOptions): Promise<Telemetry> {
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: opts.service,
    [ATTR_SERVICE_VERSION]: '0.1.0',
    ...(opts.instance ? { 'service.instance.id': opts.instance } : {}),
  });
  const host = opts.prometheusHost ?? '127.0.0.1';
  // Without a listener the exporter is still the reader that metricsText() collects from.
  const prometheus = opts.prometheusPort ? await startPrometheus(opts.prometheusPort, host) : new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  const readers: IMetricReader[] = [prometheus];
  // OTEL_SDK_DISABLED: no OpenTelemetry export at all (the standard's meaning); VoxFleet's Prometheus page stays.
  const otlp = sdkDisabled() ? undefined : opts.otlpEndpoint?.replace(/\/+$/, '');
  if (otlp) {
    readers.push(new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url: `${otlp}/v1/metrics` }), exportIntervalMillis: opts.otlpIntervalMs ?? 15_000 }));
  }
  const spanProcessors: SpanProcessor[] = [...(opts.spanProcessors ?? [])];
  if (otlp) spanProcessors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${otlp}/v1/traces` }) }));
  const providers = opts.register ? registerSdk(resource, readers, spanProcessors) : privateProviders(resource, readers, spanProcessors);
  // The same serialisation as the listener's, without the per-series scope label (series stay as the dashboards name them).
  const serializer = new PrometheusSerializer(undefined, undefined, undefined, false, true);
  const hostInUrl = host.includes(':') ? `[${host}]` : host;

  let stopping: Promise<void> | undefined;
  return {
    meter: providers.meter,
    tracer: providers.tracer,
    registered: providers.registered,
    otlp: !!otlp,
    note: sdkDisabled() ? 'OTEL_SDK_DISABLED=true: OpenTelemetry is not registered and nothing is sent over OTLP; the Prometheus metrics stay' : null,
    prometheusUrl: opts.prometheusPort ? `http://${hostInUrl}:${opts.prometheusPort}/metrics` : null,
    async metricsText() {
      const { resourceMetrics, errors } = await prometheus.collect();
      if (errors.length) console.warn(`metrics: ${errors.length} collection error(s): ${errors.map(String).join('; ')}`);
      return serializer.serialize(resourceMetrics);
    },
    shutdown: () =>
      (stopping ??= (async () => {
        await providers.shutdown();
      })()),
  };
}
