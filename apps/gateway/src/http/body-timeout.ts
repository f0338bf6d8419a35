/**
 * The body timeout of an upload: a body that sends nothing for `idleMs`, or
 * that averages less than `minBytesPerSec` once `idleMs` of grace is spent
 * (the allowance grows by one second per `minBytesPerSec` bytes received, as
 * Apache's mod_reqtimeout MinRate does), is cut: the returned signal aborts
 * with a 408 `body_timeout` ApiError carrying `Connection: close`. Large
 * uploads that keep moving are never cut by it.
 *
 * Progress is read from the socket's byte counter once a tick, so the body
 * stream is not touched; time while the body is paused by our own
 * backpressure (a slow disk) is not held against the client.
 */
import type { IncomingMessage } from 'node:http';
import { ApiError } from '../errors.js';

export interface BodyTimeouts {
  idleMs: number;
  /** 0: no minimum rate */
  minBytesPerSec: number;
}

export interface BodyWatch {
  signal: AbortSignal;
  stop(): void;
}

function bodyTimeoutError(why: string): ApiError {
  return new ApiError(408, 'body_timeout', `the upload was cut: ${why}`, { Connection: 'close' });
}

export function watchBody(req: IncomingMessage, t: BodyTimeouts): BodyWatch {
  const ctrl = new AbortController();
  const tickMs = Math.max(50, Math.min(1000, Math.floor(t.idleMs / 4)));
  const bytesNow = (): number => req.socket?.bytesRead ?? 0;
  const startBytes = bytesNow();
  let lastBytes = startBytes;
  let lastTick = performance.now();
  /** time the body was waited for (not paused by us), and since the last byte */
  let activeMs = 0;
  let idleMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const dt = now - lastTick;
    lastTick = now;
    if (req.readableEnded || req.destroyed) return stop();
    const bytes = bytesNow();
    if (req.isPaused()) {
      idleMs = 0; // our side is not reading: not the client's stall
    } else {
      activeMs += dt;
      idleMs = bytes > lastBytes ? 0 : idleMs + dt;
    }
    lastBytes = bytes;
    if (idleMs >= t.idleMs) {
      ctrl.abort(bodyTimeoutError(`no data for ${Math.round(idleMs / 1000)} s; send the body without pausing`));
      return stop();
    }
    if (t.minBytesPerSec > 0) {
      const received = bytes - startBytes;
      const allowedMs = t.idleMs + (received / t.minBytesPerSec) * 1000;
      if (activeMs > allowedMs) {
        ctrl.abort(bodyTimeoutError(`${received} bytes in ${Math.round(activeMs / 1000)} s is slower than the minimum of ${t.minBytesPerSec} bytes/s; send the body faster`));
        stop();
      }
    }
  }, tickMs);
  timer.unref();
  function stop(): void {
    clearInterval(timer);
  }
  return { signal: ctrl.signal, stop };
}
