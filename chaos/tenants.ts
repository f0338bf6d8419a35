/**
 * Chaos module: tenant isolation. Tenant A (`apiKeys[0]`) transcribes a
 * file and a batch; tenant B (`apiKeys[1]`) then tries to read, list,
 * cancel, delete, download or learn of them by every route: each answers
 * exactly as for an id that does not exist (404, the same body), B's
 * listings hold none of A's jobs, nothing B is shown names A's file, A's
 * job and batch are untouched afterwards, B reusing A's Idempotency-Key
 * gets a job of its own, B uploading A's exact bytes is not answered from
 * A's result cache (`cached: true`), and no API key opens the dashboard
 * (Bull Board and its API) — the admin password does.
 *
 * Needs a worker (A's job must complete for its transcript and cache entry).
 */
import { randomBytes } from 'node:crypto';
import { fixtureSamples, rawHttp, wavBytes, zipOf } from '@voxfleet/testkit';
import { allOk, type ChaosContext, type Row, type Section } from './types.js';

interface Answer {
  status: number;
  text: string;
  json: Record<string, unknown> | null;
  headers: Headers;
}

async function call(url: string, method: string, path: string, auth: string | null, body?: FormData): Promise<Answer> {
  const res = await fetch(`${url}${path}`, { method, headers: auth ? { authorization: auth } : {}, ...(body ? { body } : {}) });
  const text = await res.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* not JSON */
  }
  return { status: res.status, text, json, headers: res.headers };
}

function form(bytes: Uint8Array, filename: string): FormData {
  const f = new FormData();
  f.append('file', new Blob([bytes]), filename);
  return f;
}

/** Long-polls a job until it is final (at most `polls` × 20 s). */
async function waitJob(url: string, auth: string, id: string, polls = 30): Promise<Record<string, unknown> | null> {
  for (let i = 0; i < polls; i++) {
    const r = await call(url, 'GET', `/v1/jobs/${id}?wait=20`, auth);
    const status = r.json?.status;
    if (r.status !== 200) return null;
    if (status === 'completed' || status === 'failed' || status === 'cancelled') return r.json;
  }
  return null;
}

async function waitBatch(url: string, auth: string, id: string, polls = 240): Promise<Record<string, unknown> | null> {
  for (let i = 0; i < polls; i++) {
    const r = await call(url, 'GET', `/v1/batches/${id}`, auth);
    if (r.status !== 200) return null;
    if (['completed', 'cancelled', 'failed'].includes(String(r.json?.status))) return r.json;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return null;
}

export async function run(ctx: ChaosContext): Promise<Section> {
  const [keyA, keyB] = ctx.apiKeys;
  const A = `Bearer ${keyA}`;
  const B = `Bearer ${keyB}`;
  const rows: Row[] = [];
  const notes: string[] = [];
  const check = (check: string, value: string | number, expect: string, ok: boolean): void => {
    rows.push({ check, value, expect, ok });
  };

  // Audio no earlier run of this module sent: a length from a random nonce.
  const samples = await fixtureSamples('en-librispeech-1995-1837-0001.wav');
  const nonce = randomBytes(4).readUInt32LE(0);
  const clip = wavBytes(samples.subarray(0, 16000 * 2 + (nonce % 4000)));
  const batchClips = [wavBytes(samples.subarray(0, 16000 + (nonce % 3000))), wavBytes(samples.subarray(8000, 8000 + 16000 + (nonce % 2000)))];
  const secretName = `tenant-a-private-${nonce.toString(16)}`;

  const upA = await call(ctx.url, 'POST', '/v1/jobs', A, form(clip, `${secretName}.wav`));
  const jobA = String(upA.json?.id ?? '');
  check('tenant A: upload', upA.status, '202', upA.status === 202);
  const zip = await zipOf(batchClips.map((data, i) => ({ name: `${secretName}/part-${i}.wav`, data })));
  const bf = new FormData();
  bf.append('file', new Blob([zip]), `${secretName}.zip`);
  const batchUp = await call(ctx.url, 'POST', '/v1/batches', A, bf);
  const batchA = String(batchUp.json?.id ?? '');
  check('tenant A: batch upload', batchUp.status, '202', batchUp.status === 202);
  const doneA = jobA ? await waitJob(ctx.url, A, jobA) : null;
  check("tenant A's job", String(doneA?.status ?? 'not finished'), 'completed', doneA?.status === 'completed');
  const doneBatch = batchA ? await waitBatch(ctx.url, A, batchA) : null;
  check("tenant A's batch", String(doneBatch?.status ?? 'not finished'), 'completed', doneBatch?.status === 'completed');
  const entries = batchA ? await call(ctx.url, 'GET', `/v1/batches/${batchA}/jobs`, A) : null;
  const entryJobs = ((entries?.json?.entries as Array<{ jobId?: string }> | undefined) ?? []).map((e) => e.jobId).filter((id): id is string => !!id);
  const aIds = [jobA, ...entryJobs].filter(Boolean);
  ctx.log(`tenant A: job ${jobA}, batch ${batchA} (${entryJobs.length} entry jobs)`);

  // Everything B is shown, to look for A's ids and names in it.
  const seenByB: string[] = [];
  const asB = async (method: string, path: string, body?: FormData): Promise<Answer> => {
    const r = await call(ctx.url, method, path, B, body);
    seenByB.push(r.text);
    return r;
  };

  // Every route on A's job and batch: 404 with the body an unknown id gets.
  const unknownJob = `${jobA.slice(0, 2)}${'0'.repeat(Math.max(0, jobA.length - 2))}`;
  const unknownBatch = `${batchA.slice(0, 2)}${'0'.repeat(Math.max(0, batchA.length - 2))}`;
  const probes: Array<[string, string, (id: string) => string, string, string]> = [
    ['GET', 'job', (id) => `/v1/jobs/${id}`, jobA, unknownJob],
    ['GET', 'job ?wait=1', (id) => `/v1/jobs/${id}?wait=1`, jobA, unknownJob],
    ['GET', 'transcript (srt)', (id) => `/v1/jobs/${id}/transcript?format=srt`, jobA, unknownJob],
    ['GET', 'transcript (json)', (id) => `/v1/jobs/${id}/transcript?format=json`, jobA, unknownJob],
    ['POST', 'cancel job', (id) => `/v1/jobs/${id}/cancel`, jobA, unknownJob],
    ['DELETE', 'delete job', (id) => `/v1/jobs/${id}`, jobA, unknownJob],
    ['GET', 'batch', (id) => `/v1/batches/${id}`, batchA, unknownBatch],
    ['GET', 'batch entries', (id) => `/v1/batches/${id}/jobs`, batchA, unknownBatch],
    ['GET', 'batch results (jsonl)', (id) => `/v1/batches/${id}/results?format=jsonl`, batchA, unknownBatch],
    ['GET', 'batch results (zip)', (id) => `/v1/batches/${id}/results?format=zip`, batchA, unknownBatch],
    ['POST', 'cancel batch', (id) => `/v1/batches/${id}/cancel`, batchA, unknownBatch],
    ['DELETE', 'delete batch', (id) => `/v1/batches/${id}`, batchA, unknownBatch],
  ];
  for (const [method, what, path, theirs, none] of probes) {
    const r = await asB(method, path(theirs));
    const u = await asB(method, path(none));
    const same = r.status === u.status && r.text.replaceAll(theirs, none) === u.text;
    check(`B: ${method} A's ${what}`, r.status, '404, as for an unknown id', r.status === 404 && same);
  }
  const entryProbes = await Promise.all(entryJobs.map((id) => asB('GET', `/v1/jobs/${id}`)));
  check("B: GET A's batch entry jobs", entryProbes.map((r) => r.status).join(',') || '–', 'all 404', entryProbes.length > 0 && entryProbes.every((r) => r.status === 404));

  // B's own listings.
  const listed: string[] = [];
  for (const q of ['', '?status=completed', '?status=queued', '?limit=1000']) {
    const r = await asB('GET', `/v1/jobs${q}`);
    for (const j of (r.json?.jobs as Array<{ id: string }> | undefined) ?? []) listed.push(j.id);
  }
  check("B's job listings holding A's jobs", listed.filter((id) => aIds.includes(id)).length, '0', !listed.some((id) => aIds.includes(id)));

  // A's job and batch are untouched by B's cancels and deletes.
  const stillA = await call(ctx.url, 'GET', `/v1/jobs/${jobA}`, A);
  const stillBatch = await call(ctx.url, 'GET', `/v1/batches/${batchA}`, A);
  check("A's job and batch after B's cancel and delete", `${stillA.status} ${String(stillA.json?.status)}, ${stillBatch.status} ${String(stillBatch.json?.status)}`, '200 completed, 200 completed', stillA.json?.status === 'completed' && stillBatch.json?.status === 'completed');

  // Idempotency keys are per tenant.
  const idem = `chaos-${nonce}`;
  const idemPost = (auth: string, frames: number): Promise<Response> =>
    fetch(`${ctx.url}/v1/jobs`, { method: 'POST', body: form(wavBytes(samples.subarray(0, frames + (nonce % 1000))), 'i.wav'), headers: { authorization: auth, 'idempotency-key': idem } });
  const idemA = (await (await idemPost(A, 12000)).json()) as { id?: string };
  const idemRes = await idemPost(B, 14000);
  const idemB = (await idemRes.json()) as { id?: string };
  seenByB.push(JSON.stringify(idemB));
  check("B reusing A's Idempotency-Key", `${idemRes.status}${idemRes.headers.get('idempotent-replayed') ? ' (replayed)' : ''}`, "a new job of B's own", idemRes.status === 202 && !idemRes.headers.get('idempotent-replayed') && !!idemB.id && idemB.id !== idemA.id);

  // The result cache is not shared across tenants.
  const copy = await asB('POST', '/v1/jobs', form(clip, 'copy.wav'));
  check("B uploading A's exact bytes: cached", `${copy.status} cached=${String(copy.json?.cached)}`, 'not cached (cached: false)', copy.json?.cached === false && copy.json?.id !== jobA);
  const copyDone = typeof copy.json?.id === 'string' ? await waitJob(ctx.url, B, copy.json.id) : null;
  check("B's copy transcribed for B", String(copyDone?.status ?? 'not finished'), 'completed, not from the cache', copyDone?.status === 'completed' && copyDone.cached === false);

  // The dashboard: no API key opens it, the admin password does.
  const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  const api = '/admin/queues/api/queues?activeQueue=transcribe&status=completed&page=1';
  const tries: Array<[string, string]> = [
    ['admin:<B key>', basic(ctx.admin.user, keyB)],
    ['<B key>:<B key>', basic(keyB, keyB)],
    ['Bearer <B key>', B],
    ['admin:<A key>', basic(ctx.admin.user, keyA)],
  ];
  // From a loopback address of its own when it can (the fuzz module may have throttled 127.0.0.1's failed logins: 429).
  const fresh = /^127\./.test(new URL(ctx.url).hostname) ? '127.0.0.3' : undefined;
  const dashboard = async (path: string, auth: string): Promise<number | null> =>
    (await rawHttp(ctx.url, { head: `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: ${auth}`, giveUpMs: 20_000, ...(fresh ? { localAddress: fresh } : {}) })).status;
  for (const path of ['/admin/queues', api]) {
    const answers = await Promise.all(tries.map(async ([, auth]) => dashboard(path, auth)));
    check(`tenant keys on ${path.split('?')[0]}`, tries.map(([label], i) => `${label} ${answers[i]}`).join(', '), '401 (or 429) each', answers.every((s) => s === 401 || s === 429));
  }
  const admin = await dashboard(api, basic(ctx.admin.user, ctx.admin.password));
  check('admin password on the dashboard API', admin ?? 'no answer', '200', admin === 200);

  // Aggregate metrics are shared, but name nothing of A's.
  await asB('GET', '/metrics');
  const leaks = seenByB.filter((t) => t.includes(secretName) || aIds.some((id) => id && t.includes(id)));
  check("answers to B naming A's jobs or files", leaks.length, '0', leaks.length === 0);
  notes.push(`B made ${seenByB.length} requests; /metrics shows fleet-wide counts (queue depth, workers), no ids or names.`);
  return { title: 'Tenant isolation (two API keys)', rows, pass: allOk(rows), notes };
}
