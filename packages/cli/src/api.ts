/** A small client for the VoxFleet REST API, with errors that carry the CLI's exit codes. */
import { openAsBlob } from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

export const EXIT = {
  ok: 0,
  /** some jobs failed or were cancelled (or a cancel came too late) */
  failed: 1,
  usage: 2,
  auth: 3,
  notFound: 4,
  /** server error, or the gateway could not be reached */
  server: 5,
  /** the gateway refused the input (not an archive, limits, undecodable audio, …) */
  rejected: 6,
} as const;

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/* eslint-disable @typescript-eslint/no-explicit-any -- API answers are read field by field */
export type Json = Record<string, any>;

export function exitCodeFor(status: number): number {
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 404) return EXIT.notFound;
  if (status === 409) return EXIT.failed;
  if (status >= 400 && status < 500) return EXIT.rejected;
  return EXIT.server;
}

export class Api {
  constructor(
    readonly base: string,
    readonly key: string | undefined,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.key ? { authorization: `Bearer ${this.key}` } : {}), 'user-agent': 'voxfleet-cli/0.1', ...extra };
  }

  private async send(path: string, init: RequestInit & { duplex?: 'half' }): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { ...init, headers: this.headers((init.headers as Record<string, string>) ?? {}) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`cannot reach ${this.base}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, EXIT.server);
    }
    if (res.status >= 400) {
      let msg = `${res.status} ${res.statusText}`;
      try {
        const body = (await res.json()) as { error?: { code?: string; message?: string } };
        if (body.error) msg = `${body.error.message ?? ''} (${body.error.code ?? res.status})`;
      } catch {
        /* not JSON */
      }
      throw new CliError(msg, exitCodeFor(res.status));
    }
    return res;
  }

  async json(path: string, init: RequestInit = {}): Promise<Json> {
    return (await (await this.send(path, init)).json()) as Json;
  }

  /** Like `json`, for calls that may answer 204 No Content (then null). */
  async request(path: string, init: RequestInit = {}): Promise<Json | null> {
    const res = await this.send(path, init);
    return res.status === 204 ? null : ((await res.json()) as Json);
  }

  /** Streams `body` as the raw request body (chunked), e.g. an archive to `POST /v1/batches`. */
  async postStream(path: string, body: Readable, contentType: string): Promise<Json> {
    const res = await this.send(path, { method: 'POST', body: Readable.toWeb(body) as ReadableStream, duplex: 'half', headers: { 'content-type': contentType } });
    return (await res.json()) as Json;
  }

  /** `POST /v1/jobs` with the file as multipart field `file` (read lazily from disk). */
  async postFile(path: string, file: string, filename: string, fields: Record<string, string>): Promise<Json> {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append('file', await openAsBlob(file), filename);
    return this.json(path, { method: 'POST', body: form });
  }

  async download(path: string): Promise<Readable> {
    const res = await this.send(path, {});
    if (!res.body) throw new CliError(`empty answer from ${path}`, EXIT.server);
    return Readable.fromWeb(res.body as WebReadableStream);
  }
}
