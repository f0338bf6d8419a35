/** Load for the chaos scenarios: distinct short clips, bounded-concurrency maps, timed requests, waiting for jobs. */
import { fixtureSamples, wavBytes, type Client } from '@voxfleet/testkit';

const RATE = 16000;

/**
 * `n` distinct clips of 1.2–1.8 s cut from one fixture at different offsets
 * and lengths (no two share bytes, so none dedupes against another); another
 * `variant` scales the samples, so its clips differ from every other
 * variant's (scenarios of one run never hit each other's cached results).
 */
export async function distinctShortClips(n: number, variant = 0): Promise<Uint8Array[]> {
  const samples = await fixtureSamples('en-librispeech-1995-1837-0001.wav');
  const gain = 1 - variant * 0.03;
  const offsets = 40;
  return Array.from({ length: n }, (_, i) => {
    const start = (i % offsets) * 1600; // 0.1 s steps
    const len = Math.min(samples.length, Math.round((1.2 + Math.floor(i / offsets) * 0.05) * RATE));
    const from = Math.max(0, Math.min(start, samples.length - len));
    return wavBytes(samples.subarray(from, from + len).map((x) => x * gain));
  });
}

/** `fn` over `items`, at most `limit` at a time, results in order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

export interface Timed {
  status: number;
  ms: number;
  retryAfter: string | null;
  body: Record<string, unknown> | null;
  /** the request itself failed (connection refused, reset, or our own 60 s guard) */
  error?: string;
}

/** A request with its wall time; never throws (a hang is cut at 60 s and reported as such). */
export async function timed(url: string, init: RequestInit = {}): Promise<Timed> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
    const text = await res.text();
    let body: Record<string, unknown> | null = null;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      /* not JSON */
    }
    return { status: res.status, ms: performance.now() - t0, retryAfter: res.headers.get('retry-after'), body };
  } catch (err) {
    return { status: 0, ms: performance.now() - t0, retryAfter: null, body: null, error: err instanceof Error ? err.message : String(err) };
  }
}

/** `POST /v1/jobs` with `bytes`, timed. */
export function timedUpload(base: string, key: string, bytes: Uint8Array, filename: string): Promise<Timed> {
  const form = new FormData();
  form.append('file', new Blob([bytes]), filename);
  return timed(`${base}/v1/jobs`, { method: 'POST', body: form, headers: { authorization: `Bearer ${key}` } });
}

/**
 * A well-behaved client's upload: answered 429 or 503, it waits `Retry-After`
 * (1 s when absent) and tries again, at most `maxTries` times. Every answer
 * goes to `onAnswer`; the last one is returned with the number of tries.
 */
export async function uploadWithRetry(base: string, key: string, bytes: Uint8Array, filename: string, onAnswer: (t: Timed, at: number) => void = () => {}, maxTries = 30): Promise<Timed & { tries: number }> {
  for (let tries = 1; ; tries++) {
    const at = Date.now();
    const t = await timedUpload(base, key, bytes, filename);
    onAnswer(t, at);
    if ((t.status !== 429 && t.status !== 503) || tries >= maxTries) return { ...t, tries };
    const wait = Number(t.retryAfter ?? 1);
    await new Promise((r) => setTimeout(r, (Number.isFinite(wait) && wait > 0 ? Math.min(wait, 10) : 1) * 1000));
  }
}

/** The fields of a job view the scenarios read. */
export interface JobLike {
  id: string;
  status: string;
  error?: { code: string; message: string };
  processing?: { attempts?: number; workerId?: string };
}

/** Final views of `ids` (long polls, 16 at a time); a job that is not final after `maxPolls` long polls is returned as it stands. */
export async function finalViews(api: Client, ids: readonly string[], maxPolls = 30): Promise<JobLike[]> {
  return mapLimit(ids, 16, async (id) => {
    try {
      return (await api.waitFinal(id, maxPolls)) as JobLike;
    } catch {
      const r = await api.get(`/v1/jobs/${id}`).catch(() => ({ body: { id, status: 'unknown' } }));
      return r.body as JobLike;
    }
  });
}

/** `voxfleet_tasks_total{outcome="completed"}` from /metrics. */
export async function completedTasksMetric(api: Client): Promise<number> {
  const r = await api.get('/metrics');
  const m = /voxfleet_tasks_total\{outcome="completed"\} (\d+)/.exec(String(r.text));
  return m ? Number(m[1]) : NaN;
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
