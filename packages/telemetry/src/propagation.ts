/**
 * W3C trace context through the queue: the gateway puts the `traceparent`
 * of its enqueue span into the job data (one short string, never anything
 * else), and the worker continues the trace from it. Uses the SDK's
 * propagator on a plain carrier object, not the API's global propagator.
 */
import { ROOT_CONTEXT, trace, type Context, type Span, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

const propagator = new W3CTraceContextPropagator();
type Carrier = Record<string, string>;
const setter: TextMapSetter<Carrier> = { set: (c, k, v) => void (c[k] = v) };
const getter: TextMapGetter<Carrier> = { get: (c, k) => c[k], keys: (c) => Object.keys(c) };

/** The W3C `traceparent` naming `span` as the parent, or undefined when it is not sampled (a no-op tracer). */
export function traceparentOf(span: Span): string | undefined {
  if (!trace.isSpanContextValid(span.spanContext())) return undefined;
  const carrier: Carrier = {};
  propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, setter);
  return carrier.traceparent;
}

/** The context to start a job's spans in: the remote parent from `traceparent`, else a fresh root. */
export function contextFromTraceparent(traceparent: string | undefined | null): Context {
  if (!traceparent) return ROOT_CONTEXT;
  return propagator.extract(ROOT_CONTEXT, { traceparent }, getter);
}
