/**
 * A TCP proxy in front of a server that a test can cut: close every connection through it and
 * refuse new ones until it is opened again, as a network failure or a restarting server would.
 */
import type { Socket } from "bun";

interface Pipe {
  upstream?: Socket<undefined>;
  pending: Uint8Array[];
  /** Frozen: open, but nothing passes any more (a half-open connection). */
  frozen?: boolean;
}

export interface TcpProxy {
  port: number;
  /** Connections refused since the last cut. */
  refused: number;
  cut(): void;
  open(): void;
  /** The connections open now stay open but pass nothing more, either way; new ones work. */
  freeze(): void;
  /** Resolves once `count` connections were refused since the last cut; rejects after `timeoutMs`. */
  refusals(count: number, timeoutMs?: number): Promise<void>;
  stop(): void;
}

export function tcpProxy(target: { hostname: string; port: number }): TcpProxy {
  let accepting = true;
  const clients = new Set<Socket<Pipe>>();
  const waiters = new Set<() => void>();
  const server = Bun.listen<Pipe>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        client.data = { pending: [] };
        if (!accepting) {
          proxy.refused++;
          for (const wake of [...waiters]) wake();
          client.end();
          return;
        }
        clients.add(client);
        void Bun.connect({
          ...target,
          socket: {
            open(upstream) {
              client.data.upstream = upstream;
              for (const chunk of client.data.pending) upstream.write(chunk);
              client.data.pending = [];
            },
            data: (_upstream, chunk) => void (client.data.frozen || client.write(chunk)),
            close: () => void client.end(),
            error: () => void client.end(),
          },
        }).catch(() => client.end());
      },
      data(client, chunk) {
        if (client.data.frozen) return;
        if (client.data.upstream) client.data.upstream.write(chunk);
        else client.data.pending.push(new Uint8Array(chunk));
      },
      close(client) {
        clients.delete(client);
        client.data.upstream?.end();
      },
    },
  });
  const proxy: TcpProxy = {
    port: server.port,
    refused: 0,
    cut() {
      accepting = false;
      proxy.refused = 0;
      for (const client of clients) client.end();
    },
    open() {
      accepting = true;
    },
    freeze() {
      for (const client of clients) client.data.frozen = true;
    },
    refusals(count, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (proxy.refused < count) return;
          waiters.delete(check);
          clearTimeout(guard);
          resolve();
        };
        const guard = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`only ${proxy.refused} of ${count} connections refused within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    stop() {
      for (const client of clients) client.end();
      server.stop(true);
    },
  };
  return proxy;
}
