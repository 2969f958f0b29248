// In-process fake registries for upstream unit tests: a bearer/basic-protected /v2/ API and its token realm.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly headers: IncomingMessage['headers'];
}

export interface TestServer {
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL, recorded: RecordedRequest) => void | Promise<void>;

/** A plain HTTP server on 127.0.0.1:0 that records every request before handing it to `handler`. */
export async function startServer(handler: Handler): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const recorded = { method: req.method ?? 'GET', path: url.pathname + url.search, authorization: req.headers.authorization, headers: req.headers };
    requests.push(recorded);
    Promise.resolve(handler(req, res, url, recorded)).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface TokenRequest {
  readonly authorization: string | undefined;
  readonly service: string | null;
  readonly scope: string | null;
}

export interface FakeRegistryOptions {
  /** How the /v2/ API is protected. */
  readonly auth: 'bearer' | 'basic' | 'none';
  /** expires_in sent with each token; omitted from the response when undefined. */
  readonly expiresIn?: number;
  /** When set, the token realm (or, for basic auth, the API) demands these Basic credentials. */
  readonly credentials?: { readonly username: string; readonly password: string };
  /** Answers authorized /v2/ requests; whatever it leaves unanswered gets a 404. */
  readonly routes: (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;
}

export interface FakeRegistry extends TestServer {
  readonly tokenRequests: TokenRequest[];
  /** /v2/ requests that reached `routes` (passed authentication). */
  readonly authorizedRequests: RecordedRequest[];
  readonly issuedTokens: string[];
  /** Makes every token issued so far invalid, as a revocation or a rotated signing key does. */
  revokeTokens(): void;
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/**
 * A registry that answers 401 with a Bearer (or Basic) challenge unless the request carries a
 * currently valid token, plus its token realm at /token.
 */
export async function startFakeRegistry(options: FakeRegistryOptions): Promise<FakeRegistry> {
  const tokenRequests: TokenRequest[] = [];
  const authorizedRequests: RecordedRequest[] = [];
  const issuedTokens: string[] = [];
  const tokenExpiry = new Map<string, number>();
  let origin = '';

  const server = await startServer(async (req, res, url, recorded) => {
    if (url.pathname === '/token') {
      tokenRequests.push({
        authorization: req.headers.authorization,
        service: url.searchParams.get('service'),
        scope: url.searchParams.get('scope'),
      });
      const { credentials } = options;
      if (credentials && req.headers.authorization !== basic(credentials.username, credentials.password)) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"details":"incorrect username or password"}');
        return;
      }
      const token = `token-${issuedTokens.length + 1}-${Math.random().toString(36).slice(2)}`;
      issuedTokens.push(token);
      const lifetime = options.expiresIn ?? 60;
      tokenExpiry.set(token, Date.now() + lifetime * 1000);
      const body: Record<string, unknown> = { token, issued_at: new Date().toISOString() };
      if (options.expiresIn !== undefined) body.expires_in = options.expiresIn;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
      return;
    }
    if (!url.pathname.startsWith('/v2/')) {
      res.writeHead(404);
      res.end();
      return;
    }
    const repository = /^\/v2\/(.+?)\/(?:manifests|blobs|tags|referrers)\//.exec(url.pathname)?.[1] ?? '';
    const authorization = req.headers.authorization;
    if (options.auth === 'bearer') {
      const token = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined;
      const expiry = token === undefined ? undefined : tokenExpiry.get(token);
      if (expiry === undefined || expiry < Date.now()) {
        res.writeHead(401, {
          'content-type': 'application/json',
          'www-authenticate': `Bearer realm="${origin}/token",service="test",scope="repository:${repository}:pull"`,
        });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
    } else if (options.auth === 'basic') {
      const { credentials } = options;
      if (!credentials || authorization !== basic(credentials.username, credentials.password)) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="test registry"' });
        res.end();
        return;
      }
    }
    authorizedRequests.push(recorded);
    await options.routes(req, res, url);
    if (!res.headersSent) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
    }
  });
  origin = server.url;
  return { ...server, tokenRequests, authorizedRequests, issuedTokens, revokeTokens: () => tokenExpiry.clear() };
}
