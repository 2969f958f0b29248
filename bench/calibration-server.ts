// A bare server that answers every request with one fixed response: the bench's calibration peers.
//   node bench/calibration-server.ts node <port> <response.json>   node:http, nothing but writeHead + end
//   node bench/calibration-server.ts hono <port> <response.json>   hono on @hono/node-server, one empty handler
//   node bench/calibration-server.ts hono-skeleton <port> <file>    tender's shape without its work: an async
//       middleware around an async /v2/* handler that writes to Node's response and returns RESPONSE_ALREADY_SENT
// The response (status, headers, body) is the one tender gave for the same URL, so the rows differ only in the
// work done per request, not in bytes on the wire. Run as its own process, like the proxies, so the driver's
// event loop is not in the measurement.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { serve } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono } from 'hono';

interface FixedResponse {
  status: number;
  headers: Record<string, string>;
  /** base64 */
  body: string;
}

const [kind, portText, file] = process.argv.slice(2);
if ((kind !== 'node' && kind !== 'hono' && kind !== 'hono-skeleton') || !portText || !file) {
  process.stderr.write('usage: calibration-server.ts node|hono|hono-skeleton <port> <response.json>\n');
  process.exit(2);
}
// A normal exit on SIGTERM: node --cpu-prof (bench/profile.ts) writes its profile only then.
process.on('SIGTERM', () => process.exit(0));
const port = Number(portText);
const fixed = JSON.parse(await readFile(file, 'utf8')) as FixedResponse;
const body = Buffer.from(fixed.body, 'base64');
const { status, headers } = fixed;

if (kind === 'node') {
  createServer((_req, res) => {
    res.writeHead(status, headers).end(body);
  }).listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));
} else {
  // Served the way tender's main.ts serves its app: serve({ fetch, hostname, port }), defaults otherwise.
  type Env = { Bindings: { incoming: import('node:http').IncomingMessage; outgoing: import('node:http').ServerResponse } };
  const app = new Hono<Env>();
  if (kind === 'hono') app.all('*', (c) => c.body(body, status as 200, headers));
  else {
    app.use('*', async (_c, next) => {
      await next();
    });
    app.all('/v2/*', async (c) => {
      c.env.outgoing.writeHead(status, headers).end(body);
      return RESPONSE_ALREADY_SENT;
    });
  }
  serve({ fetch: app.fetch, hostname: '127.0.0.1', port }, () => process.stdout.write(`listening ${port}\n`));
}
