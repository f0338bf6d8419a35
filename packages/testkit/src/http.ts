/* eslint-disable @typescript-eslint/no-explicit-any -- test client: JSON bodies are inspected field by field */
/** A small HTTP client for the gateway's REST API (real HTTP through fetch). */

export class Client {
  constructor(
    readonly base: string,
    readonly key: string | null,
  ) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.key ? { authorization: `Bearer ${this.key}` } : {}), ...extra };
  }

  async upload(bytes: Uint8Array, filename = 'clip.wav', fields: Record<string, string> = {}, headers: Record<string, string> = {}) {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append('file', new Blob([bytes]), filename);
    const res = await fetch(`${this.base}/v1/jobs`, { method: 'POST', body: form, headers: this.headers(headers) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  /** `POST /v1/batches` with the archive as multipart field `file`. */
  async uploadBatch(bytes: Uint8Array, filename = 'archive.zip', fields: Record<string, string> = {}) {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append('file', new Blob([bytes]), filename);
    const res = await fetch(`${this.base}/v1/batches`, { method: 'POST', body: form, headers: this.headers() });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  /** A raw-body POST (e.g. an archive as `application/gzip`, options in the query string). */
  async postRaw(path: string, bytes: Uint8Array, contentType = 'application/octet-stream') {
    const res = await fetch(`${this.base}${path}`, { method: 'POST', body: bytes, headers: this.headers({ 'content-type': contentType }) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  async getBytes(path: string) {
    const res = await fetch(`${this.base}${path}`, { headers: this.headers() });
    return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type') ?? '' };
  }

  /** Polls `GET /v1/batches/:id` until the batch is final (bounded by polls, not time). */
  async waitBatch(id: string, maxPolls = 1200): Promise<Record<string, any>> {
    for (let i = 0; i < maxPolls; i++) {
      const r = await this.get(`/v1/batches/${id}`);
      if (r.status !== 200) throw new Error(`GET batch ${id}: ${r.status} ${r.text}`);
      if (['completed', 'cancelled', 'failed'].includes(r.body.status)) return r.body;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`batch ${id} did not finish`);
  }

  async get(path: string) {
    const res = await fetch(`${this.base}${path}`, { headers: this.headers() });
    const text = await res.text();
    let body: any = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body, text, contentType: res.headers.get('content-type') ?? '' };
  }

  /** `DELETE` (body null on 204 No Content). */
  async del(path: string) {
    const res = await fetch(`${this.base}${path}`, { method: 'DELETE', headers: this.headers() });
    return { status: res.status, body: (res.status === 204 ? null : await res.json()) as Record<string, any> };
  }

  /** `POST` without a body (e.g. `/v1/jobs/:id/cancel`). */
  async post(path: string) {
    const res = await fetch(`${this.base}${path}`, { method: 'POST', headers: this.headers() });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  /** Long-polls until the job is final (each call waits up to 20 s server-side). */
  async waitFinal(id: string, maxPolls = 30): Promise<Record<string, any>> {
    for (let i = 0; i < maxPolls; i++) {
      const r = await this.get(`/v1/jobs/${id}?wait=20`);
      if (r.status !== 200) throw new Error(`GET ${id}: ${r.status} ${r.text}`);
      if (['completed', 'failed', 'cancelled'].includes(r.body.status)) return r.body;
    }
    throw new Error(`job ${id} did not finish`);
  }
}
