/**
 * Instruments built from the names module (names.ts), so a name, unit or
 * bucket list is written once. Observable gauges are registered by the code
 * that owns the numbers (`observe`), and are read at collection (a scrape).
 */
import type { Attributes, Counter, Histogram, Meter, ObservableGauge, ObservableResult } from '@opentelemetry/api';
import { METRICS, type MetricDef, type MetricKey } from './names.js';

type KeysOf<K extends MetricDef['kind']> = { [P in MetricKey]: (typeof METRICS)[P]['kind'] extends K ? P : never }[MetricKey];

export function histogram(meter: Meter, key: KeysOf<'histogram'>): Histogram {
  const m: MetricDef = METRICS[key];
  return meter.createHistogram(m.name, { unit: m.unit, description: m.description, ...(m.buckets ? { advice: { explicitBucketBoundaries: [...m.buckets] } } : {}) });
}

export function counter(meter: Meter, key: KeysOf<'counter'>): Counter {
  const m: MetricDef = METRICS[key];
  return meter.createCounter(m.name, { unit: m.unit, description: m.description });
}

/** A counter whose total lives elsewhere (Redis): read at collection. */
export function observableCounter(meter: Meter, key: KeysOf<'counter'>) {
  const m: MetricDef = METRICS[key];
  return meter.createObservableCounter(m.name, { unit: m.unit, description: m.description });
}

export function gauge(meter: Meter, key: KeysOf<'gauge'>): ObservableGauge {
  const m: MetricDef = METRICS[key];
  return meter.createObservableGauge(m.name, { unit: m.unit, description: m.description });
}

/** Registers `read` as the gauge's value source; returns a function that removes it. */
export function observe(g: ObservableGauge, read: (r: ObservableResult<Attributes>) => void | Promise<void>): () => void {
  g.addCallback(read);
  return () => g.removeCallback(read);
}
