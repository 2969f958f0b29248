// An optional second listener that serves only /metrics, so scrapers need no access to the registry port.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export function startMetricsServer(registry: Pick<Registry, 'metrics' | 'contentType'>, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only /metrics is served here\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      // Not our bug but a part that is not there (a worker that does not answer): 503, which scrapers retry.
      (err: unknown) => res.writeHead(503, { 'content-type': 'text/plain' }).end(`metrics could not be collected: ${String(err)}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
