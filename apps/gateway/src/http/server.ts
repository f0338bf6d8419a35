/**
 * The gateway's HTTP server: Node's header and request timeouts from config
 * (checked every second, not every 30 s), `Expect: 100-continue` left to the
 * upload routes (they send `100 Continue` only once the key, the rate limit
 * and the declared size passed, so a refused upload is never sent), and the
 * errors Node answers before any route sees the request (a malformed request
 * line, headers over 16 KiB, a request that arrived too slowly, an `Expect`
 * other than 100-continue) answered as JSON like every other error.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HttpConfig } from '@voxfleet/config';

function clientErrorAnswer(err: NodeJS.ErrnoException): { status: number; reason: string; code: string; message: string } {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, reason: 'Request Header Fields Too Large', code: 'headers_too_large', message: 'the request line and headers exceed 16 KiB' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, reason: 'Request Timeout', code: 'request_timeout', message: 'the request (headers and body) did not arrive in time' };
    default:
      return { status: 400, reason: 'Bad Request', code: 'bad_request', message: `malformed HTTP request (${err.code ?? 'parse error'})` };
  }
}

/** Writes a JSON error straight to the socket (there is no response object yet), then closes it. */
function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  // A response already under way on this socket cannot be replaced; a reset client reads nothing.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const a = clientErrorAnswer(err);
  const body = JSON.stringify({ error: { code: a.code, message: a.message } });
  socket.end(
    `HTTP/1.1 ${a.status} ${a.reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export function createHttpServer(app: RequestListener, cfg: HttpConfig): Server {
  const server = createServer(
    {
      headersTimeout: cfg.headersTimeoutMs,
      requestTimeout: cfg.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, cfg.headersTimeoutMs),
    },
    app,
  );
  server.on('clientError', onClientError);
  // Without a listener Node answers 100 Continue by itself, before the key or the size is checked.
  server.on('checkContinue', (req, res) => server.emit('request', req, res));
  // Any other expectation: 417, as JSON (Node's own answer has no body).
  server.on('checkExpectation', (req, res) => {
    const body = JSON.stringify({ error: { code: 'expectation_failed', message: `unsupported Expect header: ${JSON.stringify(req.headers.expect ?? '')}` } });
    res.writeHead(417, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' }).end(body);
  });
  return server;
}
