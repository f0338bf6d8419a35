/** @voxfleet/telemetry: OpenTelemetry for the gateway and the worker (metrics, traces, trace context through the queue). */
export { startTelemetry, type Telemetry, type TelemetryOptions } from './telemetry.js';
export { METRICS, exportedSeries, seriesNames, type MetricDef, type MetricKey, type MetricKind, type MetricProcess } from './names.js';
export { counter, gauge, histogram, observableCounter, observe } from './instruments.js';
export { observeProcessMemory } from './process.js';
export { observeGpus, parseNvidiaSmi, type GpuSample } from './gpu.js';
export { contextFromTraceparent, traceparentOf } from './propagation.js';
