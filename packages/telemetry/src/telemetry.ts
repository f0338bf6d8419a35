/**
 * Starts OpenTelemetry for one process: a MeterProvider with a Prometheus
 * reader (its own loopback listener when a port is given, and `metricsText()`
 * for the gateway's /metrics route) and, with an OTLP endpoint, a periodic
 * OTLP reader; a TracerProvider exporting spans over OTLP (or to the span
 * processors a test passes). The providers are handed out, never registered
 * as the API's globals: a test process may run several gateways, each with
 * its own instruments, and a stopped one must not swallow the next one's
 * measurements. The one global is the async-hooks context manager, which the
 * API needs so a span stays the active one across awaits (one per process).
 */
import { context, type Meter, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace';
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
}

export interface Telemetry {
  readonly meter: Meter;
  readonly tracer: Tracer;
  /** where Prometheus scrapes this process, when it has a listener */
  readonly prometheusUrl: string | null;
  /** The current metrics in Prometheus text format (collects now, so observable gauges are read). */
  metricsText(): Promise<string>;
  /** Flushes what is pending (OTLP) and stops the listener and the readers. Idempotent. */
  shutdown(): Promise<void>;
}

const SCOPE = 'voxfleet';
let contextManager: AsyncLocalStorageContextManager | undefined;

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

export async function startTelemetry(opts: TelemetryOptions): Promise<Telemetry> {
  ensureContextManager();
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: opts.service,
    [ATTR_SERVICE_VERSION]: '0.1.0',
    ...(opts.instance ? { 'service.instance.id': opts.instance } : {}),
  });
  const host = opts.prometheusHost ?? '127.0.0.1';
  // Without a listener the exporter is still the reader that metricsText() collects from.
  const prometheus = opts.prometheusPort ? await startPrometheus(opts.prometheusPort, host) : new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  const readers: IMetricReader[] = [prometheus];
  const otlp = opts.otlpEndpoint?.replace(/\/+$/, '');
  if (otlp) {
    readers.push(new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url: `${otlp}/v1/metrics` }), exportIntervalMillis: opts.otlpIntervalMs ?? 15_000 }));
  }
  const meterProvider = new MeterProvider({ resource, readers });
  const spanProcessors: SpanProcessor[] = [...(opts.spanProcessors ?? [])];
  if (otlp) spanProcessors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${otlp}/v1/traces` }) }));
  const tracerProvider = new TracerProvider({ resource, spanProcessors });
  // The same serialisation as the listener's, without the per-series scope label (series stay as the dashboards name them).
  const serializer = new PrometheusSerializer(undefined, undefined, undefined, false, true);
  const hostInUrl = host.includes(':') ? `[${host}]` : host;

  let stopping: Promise<void> | undefined;
  return {
    meter: meterProvider.getMeter(SCOPE),
    tracer: tracerProvider.getTracer(SCOPE),
    prometheusUrl: opts.prometheusPort ? `http://${hostInUrl}:${opts.prometheusPort}/metrics` : null,
    async metricsText() {
      const { resourceMetrics, errors } = await prometheus.collect();
      if (errors.length) console.warn(`metrics: ${errors.length} collection error(s): ${errors.map(String).join('; ')}`);
      return serializer.serialize(resourceMetrics);
    },
    shutdown: () =>
      (stopping ??= (async () => {
        await Promise.allSettled([meterProvider.shutdown(), tracerProvider.shutdown()]);
      })()),
  };
}
