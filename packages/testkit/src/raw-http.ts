/**
 * HTTP/1.1 over a raw `node:net` socket, for tests that must control every
 * byte and every pause: lying `Content-Length`s, truncated or stalled
 * bodies, oversized headers, `Expect: 100-continue`. The request is written
 * step by step (bytes, or a pause); once the server answers, nothing more is
 * sent. The answer is read until it is complete (its `Content-Length`) or
 * the server closes the connection; `giveUpMs` bounds the whole exchange.
 */
import { connect } from 'node:net';

export type RawStep = Buffer | string | { pauseMs: number };

export interface RawRequest {
  /** the request line and headers, without the blank line that ends them (added here unless `incompleteHead`) */
  head: string;
  /** send `head` as it is, without ending the headers */
  incompleteHead?: boolean;
  /** the client's source address (any 127.x.y.z works on Linux loopback) */
  localAddress?: string;
  /** body steps, written in order */
  body?: RawStep[];
  /** write the body only once the server sent `100 Continue` (or answered) */
  waitForContinue?: boolean;
  /** stop writing after the steps and half-close the socket (FIN) */
  endAfterBody?: boolean;
  giveUpMs: number;
}

export interface RawResponse {
  /** null: no answer (the connection closed or the exchange gave up first) */
  status: number | null;
  headers: Record<string, string>;
  body: string;
  /** the body as JSON, when it parses */
  json: unknown;
  /** the server sent `100 Continue` before its answer */
  continued: boolean;
  /** bytes of the body the client had written when the answer came (or at the end) */
  bodyBytesSent: number;
  /** the server closed the connection (after or instead of an answer) */
  closed: boolean;
  /** the exchange hit `giveUpMs` */
  gaveUp: boolean;
  ms: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function rawHttp(url: string, req: RawRequest): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const t0 = performance.now();
  return new Promise((resolve) => {
    const sock = connect({ port: Number(port), host: hostname.replace(/^\[|\]$/g, ''), ...(req.localAddress ? { localAddress: req.localAddress } : {}) });
    let data = Buffer.alloc(0);
    let continued = false;
    let answered: { status: number; headers: Record<string, string>; bodyStart: number; length: number | null } | null = null;
    let sent = 0;
    let done = false;
    let gotContinue: () => void = () => {};
    const continueSeen = new Promise<void>((r) => (gotContinue = r));

    const finish = (closed: boolean, gaveUp = false): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const body = answered ? data.subarray(answered.bodyStart, answered.length === null ? undefined : answered.bodyStart + answered.length).toString() : '';
      let json: unknown = null;
      try {
        json = JSON.parse(body);
      } catch {
        /* not JSON */
      }
      sock.destroy();
      resolve({ status: answered?.status ?? null, headers: answered?.headers ?? {}, body, json, continued, bodyBytesSent: sent, closed, gaveUp, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => finish(false, true), req.giveUpMs);

    const parse = (): void => {
      for (;;) {
        if (!answered) {
          const end = data.indexOf('\r\n\r\n');
          if (end < 0) return;
          const lines = data.subarray(0, end).toString('latin1').split('\r\n');
          const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
          if (!m) return finish(true);
          const status = Number(m[1]);
          const headers: Record<string, string> = {};
          for (const line of lines.slice(1)) {
            const at = line.indexOf(':');
            if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
          }
          if (status === 100) {
            continued = true;
            data = data.subarray(end + 4);
            gotContinue();
            continue;
          }
          const cl = headers['content-length'];
          answered = { status, headers, bodyStart: end + 4, length: cl !== undefined ? Number(cl) : null };
          gotContinue();
        }
        if (answered.length !== null && data.length - answered.bodyStart >= answered.length) return finish(false);
        return;
      }
    };

    sock.on('data', (c: Buffer) => {
      data = Buffer.concat([data, c]);
      parse();
    });
    sock.on('error', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('connect', () => {
      void (async () => {
        sock.write(req.incompleteHead ? req.head : `${req.head}\r\n\r\n`);
        if (req.waitForContinue) await continueSeen;
        for (const step of req.body ?? []) {
          if (done || answered) return;
          if (typeof step === 'object' && !Buffer.isBuffer(step)) {
            await sleep(step.pauseMs);
            continue;
          }
          const bytes = typeof step === 'string' ? Buffer.from(step) : step;
          if (!sock.writable) return;
          sock.write(bytes);
          sent += bytes.length;
        }
        if (req.endAfterBody && !done) sock.end();
      })();
    });
  });
}

/** A multipart/form-data body: `parts` in order, each with its headers, then the closing boundary unless `unterminated`. */
export function multipartBody(boundary: string, parts: Array<{ headers: string[]; data: Buffer | string }>, opts: { unterminated?: boolean } = {}): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\n${p.headers.join('\r\n')}\r\n\r\n`), Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data), Buffer.from('\r\n'));
  }
  if (!opts.unterminated) chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/** A `file` part's headers (the name as raw UTF-8 bytes in `filename="…"`, as browsers send it). */
export function filePartHeaders(filename: string, field = 'file', contentType = 'application/octet-stream'): string[] {
  return [`Content-Disposition: form-data; name="${field}"; filename="${filename}"`, `Content-Type: ${contentType}`];
}
