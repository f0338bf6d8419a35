/** @voxfleet/telemetry: OpenTelemetry for the gateway and the worker (metrics, traces, trace context through the queue). */
export { startTelemetry, type Telemetry, type TelemetryOptions } from './telemetry.js';
export { METRICS, exportedSeries, seriesNames, type MetricDef, type MetricKey, type MetricKind, type MetricProcess } from './names.js';
export { counter, gauge, histogram, observableCounter, observe } from './instruments.js';
export { observeProcessMemory } from './process.js';
export { observeGpus, parseNvidiaSmi, type GpuSample } from './gpu.js';
export { contextFromTraceparent, traceparentOf } from './propagation.js';
// The OpenTelemetry API pieces the apps use, so they depend on this package alone (one version of the API across the fleet).
export { SpanKind, SpanStatusCode, context, trace, type Context, type Meter, type Span, type Tracer } from '@opentelemetry/api';
// For tests that read the spans a process produced.
export { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
