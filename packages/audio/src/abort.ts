/** One AbortSignal that fires on the caller's abort or on `timeoutMs`, whichever comes first. */
import { AudioError } from './errors.js';

export interface Deadline {
  readonly signal: AbortSignal;
  dispose(): void;
}

export function createDeadline(opts: { signal?: AbortSignal | undefined; timeoutMs?: number | undefined }): Deadline {
  const controller = new AbortController();
  const outer = opts.signal;
  const onAbort = (): void => controller.abort(outer?.reason);
  let timer: NodeJS.Timeout | undefined;

  if (outer?.aborted) {
    controller.abort(outer.reason);
  } else {
    outer?.addEventListener('abort', onAbort, { once: true });
    if (opts.timeoutMs !== undefined) {
      const ms = opts.timeoutMs;
      timer = setTimeout(() => controller.abort(new AudioError('io', `audio decoding timed out after ${ms} ms`)), ms);
      timer.unref();
    }
  }

  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    },
  };
}
