// A bare server that answers every request with one fixed response: the bench's calibration peers.
//   node bench/calibration-server.ts node <port> <response.json>   node:http, nothing but writeHead + end
//   node bench/calibration-server.ts hono <port> <response.json>   hono on @hono/node-server, one empty handler
// The response (status, headers, body) is the one tender gave for the same URL, so the rows differ only in the
// work done per request, not in bytes on the wire. Run as its own process, like the proxies, so the driver's
// event loop is not in the measurement.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

interface FixedResponse {
  status: number;
  headers: Record<string, string>;
  /** base64 */
  body: string;
}

const [kind, portText, file] = process.argv.slice(2);
if ((kind !== 'node' && kind !== 'hono') || !portText || !file) {
  process.stderr.write('usage: calibration-server.ts node|hono <port> <response.json>\n');
  process.exit(2);
}
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
  const app = new Hono();
  app.all('*', (c) => c.body(body, status as 200, headers));
  serve({ fetch: app.fetch, hostname: '127.0.0.1', port }, () => process.stdout.write(`listening ${port}\n`));
}
