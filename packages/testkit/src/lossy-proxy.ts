/**
 * A TCP proxy in front of redis-server that can lose one reply: once armed,
 * it swallows the next bytes Redis sends and cuts both connections, so the
 * command ran but its answer never came (what a blip between the answer and
 * the client looks like). The client reconnects through it; ioredis then sends
 * the unanswered commands again (autoResendUnfulfilledCommands).
 */
import { connect, createServer, type Socket } from 'node:net';

export interface LossyProxy {
  /** the port to connect to (127.0.0.1) */
  port: number;
  /** arms the loss of the next reply; resolves once it was swallowed */
  armLoss(): Promise<void>;
  /** replies swallowed so far */
  readonly cut: number;
  close(): Promise<void>;
}

export async function lossyProxy(redisUrl: string): Promise<LossyProxy> {
  const target = new URL(redisUrl);
  const sockets = new Set<Socket>();
  let armed: (() => void) | null = null;
  let cut = 0;
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      if (!armed) {
        client.write(d);
        return;
      }
      const swallowed = armed;
      armed = null;
      cut++;
      client.destroy();
      upstream.destroy();
      swallowed();
    });
    for (const s of [client, upstream]) {
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    armLoss: () => new Promise<void>((r) => (armed = r)),
    get cut() {
      return cut;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
