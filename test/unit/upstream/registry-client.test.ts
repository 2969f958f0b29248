// RegistryClient against in-process registries: token reuse, credentials, retries, safe redirects, manifest cap.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamConfig } from '../../../src/config.js';
import { createLogger } from '../../../src/log.js';
import { Metrics } from '../../../src/metrics.js';
import { OciError } from '../../../src/oci/errors.js';
import { maxManifestBytes, mediaTypes } from '../../../src/oci/media-types.js';
import { backoff, RegistryClient } from '../../../src/upstream/registry-client.js';
import { startFakeRegistry, startServer, type FakeRegistry, type TestServer } from './fake-registry.js';

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

const manifestBody = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('{}'), size: 2 },
    layers: [],
  }),
);
const manifestDigest = sha256(manifestBody);
const layer = Buffer.from('layer bytes '.repeat(1000));
const layerDigest = sha256(layer);

const servers: TestServer[] = [];
const clients: RegistryClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function sendManifest(res: ServerResponse, body = manifestBody, contentType: string = mediaTypes.ociManifest): void {
  res.writeHead(200, { 'content-type': contentType, 'content-length': body.length, 'docker-content-digest': sha256(body) });
  res.end(body);
}

/** Serves the test manifest for every manifest path; counts nothing itself (the fake registry records requests). */
function manifestRoutes(_req: IncomingMessage, res: ServerResponse, url: URL): void {
  if (/\/manifests\/[^/]+$/.test(url.pathname)) sendManifest(res);
}

async function registry(options: Parameters<typeof startFakeRegistry>[0]): Promise<FakeRegistry> {
  const server = await startFakeRegistry(options);
  servers.push(server);
  return server;
}

async function server(handler: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const started = await startServer(handler);
  servers.push(started);
  return started;
}

function upstreamConfig(url: string, overrides: Partial<UpstreamConfig> = {}): UpstreamConfig {
  return {
    name: 'test.local',
    url,
    aliases: [],
    insecure: true,
    username: undefined,
    password: undefined,
    token: undefined,
    ca: undefined,
    connectTimeoutMs: 2_000,
    headersTimeoutMs: 5_000,
    idleTimeoutMs: 5_000,
    retries: 2,
    connections: 16,
    concurrency: 16,
    allow: [],
    deny: [],
    private: false,
    immutableTags: [],
    immutableTagsMode: 'enforce',
    pins: [],
    offline: false,
    clientCert: undefined,
    clientKey: undefined,
    ...overrides,
  };
}

interface Harness {
  readonly client: RegistryClient;
  readonly sleeps: number[];
  readonly metrics: Metrics;
}

function makeClient(url: string, overrides: Partial<UpstreamConfig> = {}): Harness {
  const sleeps: number[] = [];
  const metrics = new Metrics({ processMetrics: false });
  const client = new RegistryClient(upstreamConfig(url, overrides), metrics, createLogger('silent'), async (ms) => {
    sleeps.push(ms);
  });
  clients.push(client);
  return { client, sleeps, metrics };
}

const signal = () => AbortSignal.timeout(10_000);

async function rejection(promise: Promise<unknown>): Promise<OciError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(OciError);
    return err as OciError;
  }
  throw new Error('expected the call to fail');
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const basicHeader = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

describe('RegistryClient', () => {
  describe('bearer tokens', () => {
    it('fetches exactly one token for the first manifest GET and returns the manifest', async () => {
      const reg = await registry({ auth: 'bearer', routes: manifestRoutes });
      const { client } = makeClient(reg.url);

      const manifest = await client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal());

      expect(manifest.body.equals(manifestBody)).toBe(true);
      expect(manifest.mediaType).toBe(mediaTypes.ociManifest);
      expect(manifest.digest).toBe(manifestDigest);
      expect(reg.tokenRequests).toHaveLength(1);
      expect(reg.tokenRequests[0]).toMatchObject({ service: 'test', scope: 'repository:team/app:pull', authorization: undefined });
      expect(reg.authorizedRequests).toHaveLength(1);
      expect(reg.authorizedRequests[0]!.authorization).toBe(`Bearer ${reg.issuedTokens[0]}`);
      expect(reg.authorizedRequests[0]!.headers.accept).toBe(mediaTypes.ociManifest);
    });

    it('reuses the token for 10 further GETs, sending it up front', async () => {
      const reg = await registry({ auth: 'bearer', routes: manifestRoutes });
      const { client } = makeClient(reg.url);
      await client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal());
      const requestsAfterFirst = reg.requests.length;

      for (let i = 0; i < 10; i++) await client.getManifest('team/app', `v${i}`, mediaTypes.ociManifest, signal());

      expect(reg.tokenRequests).toHaveLength(1);
      // No 401 round-trips: each further GET is exactly one request.
      expect(reg.requests.length - requestsAfterFirst).toBe(10);
      expect(reg.authorizedRequests).toHaveLength(11);
    });

    it('shares one token fetch among 10 concurrent first GETs', async () => {
      const reg = await registry({ auth: 'bearer', routes: manifestRoutes });
      const { client } = makeClient(reg.url);

      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => client.getManifest('team/app', `v${i}`, mediaTypes.ociManifest, signal())));

      expect(results.every((m) => m.body.equals(manifestBody))).toBe(true);
      expect(reg.tokenRequests).toHaveLength(1);
      expect(reg.authorizedRequests).toHaveLength(10);
    });

    it('reuses a cached token for 10 concurrent GETs', async () => {
      const reg = await registry({ auth: 'bearer', routes: manifestRoutes });
      const { client } = makeClient(reg.url);
      await client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal());
      const requestsAfterFirst = reg.requests.length;

      await Promise.all(Array.from({ length: 10 }, () => client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal())));

      expect(reg.tokenRequests).toHaveLength(1);
      expect(reg.requests.length - requestsAfterFirst).toBe(10);
    });

    it('asks for a separate token per repository scope', async () => {
      const reg = await registry({ auth: 'bearer', routes: manifestRoutes });
      const { client } = makeClient(reg.url);
      await client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal());
      await client.getManifest('team/other', 'v1', mediaTypes.ociManifest, signal());
      await client.getManifest('team/app', 'v2', mediaTypes.ociManifest, signal());

      expect(reg.tokenRequests.map((t) => t.scope)).toEqual(['repository:team/app:pull', 'repository:team/other:pull']);
    });

    it('sends configured credentials to the realm as Basic', async () => {
      const credentials = { username: 'robot', password: 'pa:ss word' };
      const reg = await registry({ auth: 'bearer', credentials, routes: manifestRoutes });
      const { client } = makeClient(reg.url, credentials);

      await client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal());

      expect(reg.tokenRequests).toHaveLength(1);
      expect(reg.tokenRequests[0]!.authorization).toBe(basicHeader(credentials.username, credentials.password));
      // Credentials go to the realm only; the registry itself sees the bearer token.
      expect(reg.authorizedRequests[0]!.authorization).toBe(`Bearer ${reg.issuedTokens[0]}`);
      expect(reg.requests.filter((r) => r.path.startsWith('/v2/')).every((r) => !r.authorization?.startsWith('Basic'))).toBe(true);
    });

    it('fetches a new token once the old one expired', async () => {
      const reg = await registry({ auth: 'bearer', expiresIn: 1, routes: manifestRoutes });
      const { client } = makeClient(reg.url);
      await client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal());
      await client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal());
      expect(reg.tokenRequests).toHaveLength(1);

      await new Promise((resolve) => setTimeout(resolve, 1_200));
      const manifest = await client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal());

      expect(manifest.body.equals(manifestBody)).toBe(true);
      expect(reg.tokenRequests).toHaveLength(2);
      expect(reg.authorizedRequests.at(-1)!.authorization).toBe(`Bearer ${reg.issuedTokens[1]}`);
    });

    it('drops a token the registry starts refusing, fetches exactly one new one, and succeeds', async () => {
      const reg = await registry({ auth: 'bearer', routes: manifestRoutes });
      const { client } = makeClient(reg.url);
      await client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal());
      expect(reg.tokenRequests).toHaveLength(1);

      reg.revokeTokens();
      const manifest = await client.getManifest('team/app', 'v2', mediaTypes.ociManifest, signal());

      expect(manifest.body.equals(manifestBody)).toBe(true);
      expect(reg.tokenRequests).toHaveLength(2);
      expect(reg.authorizedRequests.at(-1)!.authorization).toBe(`Bearer ${reg.issuedTokens[1]}`);
      // The revoked token served v1, was refused once for v2, and was never sent again.
      const revoked = `Bearer ${reg.issuedTokens[0]}`;
      expect(reg.requests.filter((r) => r.authorization === revoked)).toHaveLength(2);

      // The new token is cached: the next GET is one request, no realm round-trip.
      const before = reg.requests.length;
      await client.getManifest('team/app', 'v3', mediaTypes.ociManifest, signal());
      expect(reg.requests.length - before).toBe(1);
      expect(reg.tokenRequests).toHaveLength(2);
    });

    it('shares one new token among 10 concurrent GETs refused with a revoked token', async () => {
      const reg = await registry({ auth: 'bearer', routes: manifestRoutes });
      const { client } = makeClient(reg.url);
      await client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal());
      reg.revokeTokens();

      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => client.getManifest('team/app', `v${i}`, mediaTypes.ociManifest, signal())));

      expect(results.every((m) => m.body.equals(manifestBody))).toBe(true);
      expect(reg.tokenRequests).toHaveLength(2);
      expect(reg.authorizedRequests).toHaveLength(11);
    });

    it('shares one token fetch among 10 concurrent first GETs that queue behind a concurrency of 3', async () => {
      const reg = await registry({ auth: 'bearer', routes: manifestRoutes });
      const { client } = makeClient(reg.url, { concurrency: 3 });

      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => client.getManifest('team/app', `v${i}`, mediaTypes.ociManifest, signal())));

      expect(results.every((m) => m.body.equals(manifestBody))).toBe(true);
      expect(reg.tokenRequests).toHaveLength(1);
      expect(reg.authorizedRequests).toHaveLength(10);
    });

    it('gives DENIED, without the password, when the realm refuses the configured credentials', async () => {
      const password = 'wrong-Pa55word-xyzzy';
      const reg = await registry({ auth: 'bearer', credentials: { username: 'robot', password: 'the-right-one' }, routes: manifestRoutes });
      const { client, sleeps } = makeClient(reg.url, { username: 'robot', password });

      const err = await rejection(client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal()));

      expect(err.code).toBe('DENIED');
      expect(err.status).toBe(403);
      const encoded = Buffer.from(`robot:${password}`).toString('base64');
      for (const text of [err.message, err.toBody(), String((err.cause as Error | undefined)?.message)]) {
        expect(text).not.toContain(password);
        expect(text).not.toContain(encoded);
      }
      // A refusal is an answer: the realm is asked once, not retried.
      expect(reg.tokenRequests).toHaveLength(1);
      expect(reg.tokenRequests[0]!.authorization).toBe(basicHeader('robot', password));
      expect(reg.authorizedRequests).toHaveLength(0);
      expect(sleeps).toHaveLength(0);
    });

    it('counts token fetches in metrics', async () => {
      const reg = await registry({ auth: 'bearer', routes: manifestRoutes });
      const { client, metrics } = makeClient(reg.url);
      await client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal());
      await client.getManifest('team/app', 'v2', mediaTypes.ociManifest, signal());

      const metric = await metrics.tokenFetches.get();
      const ok = metric.values.find((v) => v.labels.upstream === 'test.local' && v.labels.result === 'ok');
      expect(ok?.value).toBe(1);
    });
  });

  describe('basic auth', () => {
    it('answers a Basic challenge with the configured credentials, then sends them up front', async () => {
      const credentials = { username: 'robot', password: 'secret' };
      const reg = await registry({ auth: 'basic', credentials, routes: manifestRoutes });
      const { client } = makeClient(reg.url, credentials);

      const manifest = await client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal());
      expect(manifest.body.equals(manifestBody)).toBe(true);
      expect(reg.authorizedRequests[0]!.authorization).toBe(basicHeader('robot', 'secret'));
      expect(reg.tokenRequests).toHaveLength(0);

      const before = reg.requests.length;
      await client.getManifest('team/app', 'v2', mediaTypes.ociManifest, signal());
      expect(reg.requests.length - before).toBe(1);
      expect(reg.requests.at(-1)!.authorization).toBe(basicHeader('robot', 'secret'));
    });

    it('gives DENIED when a Basic challenge cannot be answered', async () => {
      const reg = await registry({ auth: 'basic', credentials: { username: 'robot', password: 'secret' }, routes: manifestRoutes });
      const { client } = makeClient(reg.url);

      const err = await rejection(client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal()));
      expect(err.code).toBe('DENIED');
    });
  });

  describe('retries and errors', () => {
    it('retries a 503 and returns the following 200', async () => {
      let attempts = 0;
      const reg = await registry({
        auth: 'none',
        routes: (_req, res) => {
          attempts++;
          if (attempts === 1) {
            res.writeHead(503);
            res.end('busy');
            return;
          }
          sendManifest(res);
        },
      });
      const { client, sleeps } = makeClient(reg.url, { retries: 2 });

      const manifest = await client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal());

      expect(manifest.body.equals(manifestBody)).toBe(true);
      expect(attempts).toBe(2);
      expect(sleeps).toHaveLength(1);
    });

    it('retries a 429 after its Retry-After: 0', async () => {
      let attempts = 0;
      const reg = await registry({
        auth: 'none',
        routes: (_req, res) => {
          attempts++;
          if (attempts === 1) {
            res.writeHead(429, { 'retry-after': '0' });
            res.end();
            return;
          }
          sendManifest(res);
        },
      });
      const { client, sleeps } = makeClient(reg.url, { retries: 2 });

      await client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal());

      expect(attempts).toBe(2);
      expect(sleeps).toEqual([0]);
    });

    it('gives TOOMANYREQUESTS with Retry-After when the rate limit persists', async () => {
      let attempts = 0;
      const reg = await registry({
        auth: 'none',
        routes: (_req, res) => {
          attempts++;
          res.writeHead(429, { 'retry-after': '7' });
          res.end();
        },
      });
      const { client, sleeps } = makeClient(reg.url, { retries: 1 });

      const err = await rejection(client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal()));
      expect(err.code).toBe('TOOMANYREQUESTS');
      expect(err.status).toBe(429);
      expect(err.headers['Retry-After']).toBe('7');
      expect(attempts).toBe(2);
      expect(sleeps).toEqual([7_000]);
    });

    it('maps a manifest 404 to MANIFEST_UNKNOWN without retrying', async () => {
      const reg = await registry({ auth: 'bearer', routes: () => undefined });
      const { client, sleeps } = makeClient(reg.url);

      const err = await rejection(client.getManifest('team/app', 'missing', mediaTypes.ociManifest, signal()));
      expect(err.code).toBe('MANIFEST_UNKNOWN');
      expect(err.status).toBe(404);
      expect(reg.authorizedRequests).toHaveLength(1);
      expect(sleeps).toHaveLength(0);
    });

    it('maps a blob 404 to BLOB_UNKNOWN', async () => {
      const reg = await registry({ auth: 'none', routes: () => undefined });
      const { client } = makeClient(reg.url);

      const err = await rejection(client.getBlob('team/app', layerDigest, signal()));
      expect(err.code).toBe('BLOB_UNKNOWN');
      expect(err.status).toBe(404);
    });

    it('gives UNAVAILABLE after retries+1 attempts of a persistent 500', async () => {
      let attempts = 0;
      const reg = await registry({
        auth: 'none',
        routes: (_req, res) => {
          attempts++;
          res.writeHead(500);
          res.end('broken');
        },
      });
      const { client, sleeps } = makeClient(reg.url, { retries: 3 });

      const err = await rejection(client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal()));
      expect(err.code).toBe('UNAVAILABLE');
      expect(err.status).toBe(503);
      expect(attempts).toBe(4);
      expect(sleeps).toHaveLength(3);
    });

    it('does not retry with retries: 0', async () => {
      let attempts = 0;
      const reg = await registry({
        auth: 'none',
        routes: (_req, res) => {
          attempts++;
          res.writeHead(502);
          res.end();
        },
      });
      const { client } = makeClient(reg.url, { retries: 0 });

      await rejection(client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal()));
      expect(attempts).toBe(1);
    });

    it('gives UNAVAILABLE, after retrying, when nothing listens', async () => {
      const closed = await startServer(() => undefined);
      await closed.close();
      const { client, sleeps } = makeClient(closed.url, { retries: 2 });

      const err = await rejection(client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal()));
      expect(err.code).toBe('UNAVAILABLE');
      expect(sleeps).toHaveLength(2);
    });
  });

  describe('redirects', () => {
    it('follows a blob redirect to another origin without sending Authorization there', async () => {
      const cdn = await server((_req, res, url) => {
        if (url.pathname === '/signed/layer' && url.searchParams.get('sig') === 'abc') {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': layer.length });
          res.end(layer);
          return;
        }
        res.writeHead(403);
        res.end();
      });
      const reg = await registry({
        auth: 'bearer',
        routes: (_req, res, url) => {
          if (url.pathname === `/v2/team/app/blobs/${layerDigest}`) {
            res.writeHead(307, { location: `${cdn.url}/signed/layer?sig=abc` });
            res.end();
          }
        },
      });
      const { client } = makeClient(reg.url);

      const blob = await client.getBlob('team/app', layerDigest, signal());

      expect((await readAll(blob.body)).equals(layer)).toBe(true);
      expect(blob.size).toBe(layer.length);
      expect(reg.authorizedRequests[0]!.authorization).toBe(`Bearer ${reg.issuedTokens[0]}`);
      expect(cdn.requests).toHaveLength(1);
      expect(cdn.requests[0]!.authorization).toBeUndefined();
    });

    it('does not send Basic credentials to a redirect target either', async () => {
      const credentials = { username: 'robot', password: 'secret' };
      const cdn = await server((_req, res) => {
        res.writeHead(200, { 'content-length': layer.length });
        res.end(layer);
      });
      const reg = await registry({
        auth: 'basic',
        credentials,
        routes: (_req, res) => {
          res.writeHead(302, { location: `${cdn.url}/blob` });
          res.end();
        },
      });
      const { client } = makeClient(reg.url, credentials);

      const blob = await client.getBlob('team/app', layerDigest, signal());
      expect((await readAll(blob.body)).equals(layer)).toBe(true);

      expect(cdn.requests).toHaveLength(1);
      expect(cdn.requests[0]!.authorization).toBeUndefined();
    });
  });

  describe('manifest size cap', () => {
    function bigManifestRegistry(size: number, announceLength: boolean) {
      return registry({
        auth: 'none',
        routes: (_req, res) => {
          const headers: Record<string, string | number> = { 'content-type': mediaTypes.ociManifest };
          if (announceLength) headers['content-length'] = size;
          res.writeHead(200, headers);
          // Written in pieces so an unannounced length arrives chunked.
          const piece = Buffer.alloc(64 * 1024, 0x20);
          let left = size;
          while (left > 0) {
            const n = Math.min(left, piece.length);
            res.write(piece.subarray(0, n));
            left -= n;
          }
          res.end();
        },
      });
    }

    it('accepts a manifest of exactly 4 MiB', async () => {
      const reg = await bigManifestRegistry(maxManifestBytes, true);
      const { client } = makeClient(reg.url);
      const manifest = await client.getManifest('team/app', 'big', mediaTypes.ociManifest, signal());
      expect(manifest.body.length).toBe(maxManifestBytes);
    });

    it('refuses a manifest over 4 MiB announced by Content-Length', async () => {
      const reg = await bigManifestRegistry(maxManifestBytes + 1, true);
      const { client } = makeClient(reg.url);
      const err = await rejection(client.getManifest('team/app', 'huge', mediaTypes.ociManifest, signal()));
      expect(err.code).toBe('MANIFEST_INVALID');
    });

    it('refuses a manifest over 4 MiB sent without Content-Length', async () => {
      const reg = await bigManifestRegistry(maxManifestBytes + 1, false);
      const { client } = makeClient(reg.url);
      const err = await rejection(client.getManifest('team/app', 'huge', mediaTypes.ociManifest, signal()));
      expect(err.code).toBe('MANIFEST_INVALID');
    });
  });

  describe('responses', () => {
    it('reads the media type from the body when upstream sends a generic Content-Type', async () => {
      const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.dockerManifestList, manifests: [] }));
      const reg = await registry({ auth: 'none', routes: (_req, res) => sendManifest(res, index, 'application/json') });
      const { client } = makeClient(reg.url);

      const manifest = await client.getManifest('team/app', 'v1', '*/*', signal());
      expect(manifest.mediaType).toBe(mediaTypes.dockerManifestList);
    });

    it('answers a manifest HEAD with digest, media type and size', async () => {
      const reg = await registry({
        auth: 'bearer',
        routes: (req, res) => {
          res.writeHead(200, {
            'content-type': mediaTypes.ociManifest,
            'content-length': manifestBody.length,
            'docker-content-digest': manifestDigest,
          });
          res.end(req.method === 'HEAD' ? undefined : manifestBody);
        },
      });
      const { client } = makeClient(reg.url);

      const head = await client.headManifest('team/app', 'v1', mediaTypes.ociManifest, signal());
      expect(head).toEqual({ digest: manifestDigest, mediaType: mediaTypes.ociManifest, size: manifestBody.length });
      expect(reg.authorizedRequests[0]!.method).toBe('HEAD');
    });

    it('maps a tags/list 404 to NAME_UNKNOWN', async () => {
      const reg = await registry({ auth: 'none', routes: () => undefined });
      const { client } = makeClient(reg.url);
      const err = await rejection(client.listTags('team/app', '', signal()));
      expect(err.code).toBe('NAME_UNKNOWN');
    });
  });
});

describe('backoff', () => {
  it('honours Retry-After seconds', () => {
    expect(backoff(0, '0')).toBe(0);
    expect(backoff(0, '3')).toBe(3_000);
    expect(backoff(5, '2')).toBe(2_000);
  });

  it('caps a long Retry-After at 10 s', () => {
    expect(backoff(0, '120')).toBe(10_000);
    expect(backoff(0, '86400')).toBe(10_000);
  });

  it('honours a Retry-After HTTP date', () => {
    const now = Date.parse('2024-01-01T00:00:00Z');
    expect(backoff(0, new Date(now + 4_000).toUTCString(), now)).toBe(4_000);
    expect(backoff(0, new Date(now + 3_600_000).toUTCString(), now)).toBe(10_000);
  });

  it('falls back to exponential backoff for a past date, garbage or no Retry-After', () => {
    const now = Date.parse('2024-01-01T00:00:00Z');
    for (const retryAfter of [new Date(now - 5_000).toUTCString(), 'soon', undefined]) {
      const ms = backoff(0, retryAfter, now);
      expect(ms).toBeGreaterThanOrEqual(100);
      expect(ms).toBeLessThanOrEqual(200);
    }
  });

  it('grows exponentially with jitter and caps at 10 s', () => {
    for (let i = 0; i < 50; i++) {
      const third = backoff(3, undefined);
      expect(third).toBeGreaterThanOrEqual(800);
      expect(third).toBeLessThanOrEqual(1_600);
      const late = backoff(30, undefined);
      expect(late).toBeGreaterThanOrEqual(5_000);
      expect(late).toBeLessThanOrEqual(10_000);
    }
  });
});
