// A token realm on a host of its own (127.0.0.2 by default), for tests of where tender sends upstream credentials.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TokenRealm {
  /** The realm URL to name in a challenge. */
  readonly url: string;
  /** The realm's origin, as tokenRealms lists it. */
  readonly origin: string;
  /** Every token request: its service parameter and Authorization header. */
  readonly requests: Array<{ service: string | null; authorization: string | undefined }>;
  /** What the realm answers (status and raw body); a token by default. */
  respond: (service: string | null, authorization: string | undefined) => { status: number; body: string };
  stop(): Promise<void>;
}

export async function startTokenRealm(host = '127.0.0.2'): Promise<TokenRealm> {
  const requests: TokenRealm['requests'] = [];
  const realm = {
    respond: (_service: string | null, _authorization: string | undefined) => ({
      status: 200,
      body: JSON.stringify({ token: 'realm-token', expires_in: 300 }),
    }),
  };
  const server: Server = createServer((req, res) => {
    const service = new URL(req.url ?? '/', 'http://x').searchParams.get('service');
    requests.push({ service, authorization: req.headers.authorization });
    const answer = realm.respond(service, req.headers.authorization);
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://${host}:${port}`;
  return Object.assign(realm, {
    url: `${origin}/token`,
    origin,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
