/**
 * Request telemetry for the Express app: one server span per request (the
 * active span while its handler runs, so the enqueue span of an upload is
 * its child) and one duration measurement labelled with the route template
 * (never the raw path: ids would make a series per job) and the status.
 */
import { SpanKind, SpanStatusCode, context, trace, type Tracer } from '@voxfleet/telemetry';
import type { NextFunction, Request, Response } from 'express';
import { ADMIN_PATH } from './admin.js';

export interface RequestObserver {
  tracer?: Tracer;
  record?: (r: { method: string; route: string; status: number; seconds: number }) => void;
}

/** The route template a request matched: an API route's path, Bull Board as a whole, or `unmatched`. */
export function routeOf(req: Request): string {
  if (req.originalUrl === ADMIN_PATH || req.originalUrl.startsWith(`${ADMIN_PATH}/`)) return ADMIN_PATH;
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? path : 'unmatched';
}

export function observeRequests(o: RequestObserver) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const t0 = performance.now();
    const span = o.tracer?.startSpan(req.method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method } });
    let done = false;
    const end = (): void => {
      if (done) return;
      done = true;
      const route = routeOf(req);
      // a client that went away before the answer was written: 499, as proxies log it
      const status = res.writableFinished ? res.statusCode : 499;
      o.record?.({ method: req.method, route, status, seconds: (performance.now() - t0) / 1000 });
      if (span) {
        span.updateName(`${req.method} ${route}`);
        span.setAttributes({ 'http.route': route, 'http.response.status_code': status });
        if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      }
    };
    res.once('finish', end);
    res.once('close', end);
    if (span) context.with(trace.setSpan(context.active(), span), next);
    else next();
  };
}
