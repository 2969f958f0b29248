// A forward proxy that refuses every request and records where it was asked to go: client daemons get it as
// HTTP(S)_PROXY, so a fallback to the real registry (Docker Hub, a registries.conf `location`) fails at once,
// never leaves the machine, and shows up as evidence in the test.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

export interface EgressProxyHandle {
  /** http://127.0.0.1:<port>, for HTTP_PROXY and HTTPS_PROXY. */
  readonly url: string;
  /** Targets asked for since start or the last reset: `host:port` for CONNECT (https), the absolute URL for plain http. */
  targets(): string[];
  reset(): void;
  stop(): Promise<void>;
}

/**
 * Go (dockerd, containers/image) and most other clients never send loopback addresses through a proxy
 * (net/http ProxyFromEnvironment), so tender and the test registry on 127.0.0.1 stay reachable directly.
 */
export async function startEgressProxy(): Promise<EgressProxyHandle> {
  let targets: string[] = [];
  const sockets = new Set<Duplex>();
  const server = createServer((req, res) => {
    targets.push(req.url ?? '');
    res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' }).end('egress refused by the test proxy\n');
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    targets.push(req.url ?? '');
    socket.on('error', () => undefined);
    socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    targets: () => [...targets],
    reset: () => {
      targets = [];
    },
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
