// RegistryClient against in-process registries: token reuse, credentials, retries, safe redirects, manifest cap.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamConfig } from '../../../src/config/upstreams.js';
import { createLogger } from '../../../src/log.js';
import { Metrics } from '../../../src/metrics.js';
import { OciError } from '../../../src/oci/errors.js';
import { maxManifestBytes, mediaTypes } from '../../../src/oci/media-types.js';
import { RegistryClient } from '../../../src/upstream/registry-client.js';
import { backoff } from '../../../src/upstream/retry-policy.js';
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

function sendManifest(res: ServerResponse, body: Buffer = manifestBody, contentType: string = mediaTypes.ociManifest): void {
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
    tokenRealms: [],
    files: { passwordFile: undefined, tokenFile: undefined, caFile: undefined, clientCertFile: undefined, clientKeyFile: undefined },
    addressFamily: 'auto',
    addressAttemptTimeoutMs: 1_000,
    credentialBackoffMs: 300_000,
    tagTtls: [],
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
          // A real manifest padded to the size with an annotation, written in pieces so an unannounced length arrives chunked.
          const head = Buffer.from(`{"schemaVersion":2,"mediaType":"${mediaTypes.ociManifest}","layers":[],"annotations":{"pad":"`);
          const tail = Buffer.from('"}}');
          const body = Buffer.concat([head, Buffer.alloc(size - head.length - tail.length, 0x78), tail]);
          for (let at = 0; at < body.length; at += 64 * 1024) res.write(body.subarray(at, at + 64 * 1024));
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

    // The upstream's fault, not the client's: 502 UPSTREAM_ERROR, never 400 MANIFEST_INVALID.
    it('refuses a manifest over 4 MiB announced by Content-Length with 502 UPSTREAM_ERROR', async () => {
      const reg = await bigManifestRegistry(maxManifestBytes + 1, true);
      const { client } = makeClient(reg.url);
      const err = await rejection(client.getManifest('team/app', 'huge', mediaTypes.ociManifest, signal()));
      expect(err.code).toBe('UPSTREAM_ERROR');
      expect(err.status).toBe(502);
    });

    it('refuses a manifest over 4 MiB sent without Content-Length with 502 UPSTREAM_ERROR', async () => {
      const reg = await bigManifestRegistry(maxManifestBytes + 1, false);
      const { client } = makeClient(reg.url);
      const err = await rejection(client.getManifest('team/app', 'huge', mediaTypes.ociManifest, signal()));
      expect(err.code).toBe('UPSTREAM_ERROR');
    });

    it('refuses a tag list over 4 MiB with 502 UPSTREAM_ERROR', async () => {
      const reg = await registry({
        auth: 'none',
        routes: (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ name: 'team/app', tags: Array.from({ length: 400_000 }, (_, i) => `tag-${i}`) }));
        },
      });
      const { client } = makeClient(reg.url);
      const err = await rejection(client.listTags('team/app', '', signal()));
      expect(err.code).toBe('UPSTREAM_ERROR');
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

describe('RegistryClient: every upstream condition is an OCI error', () => {
  it('passes a 429 with a Retry-After beyond 10 s on at once, with its Retry-After, for every kind of request', async () => {
    const reg = await registry({
      auth: 'none',
      routes: (_req, res) => {
        res.writeHead(429, { 'retry-after': '86400' });
        res.end();
      },
    });
    const { client, sleeps } = makeClient(reg.url, { retries: 3 });
    const calls = [
      client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal()),
      client.headManifest('team/app', 'v1', mediaTypes.ociManifest, signal()),
      client.getBlob('team/app', layerDigest, signal()),
      client.headBlob('team/app', layerDigest, signal()),
      client.listTags('team/app', '', signal()),
      client.referrers('team/app', manifestDigest, '', signal()),
    ];
    for (const call of calls) {
      const err = await rejection(call);
      expect(err.code).toBe('TOOMANYREQUESTS');
      expect(err.headers['Retry-After']).toBe('86400');
    }
    expect(sleeps).toEqual([]);
    expect(reg.requests).toHaveLength(calls.length);
  });

  it('stops waiting when retries would wait more than 10 s in total', async () => {
    const reg = await registry({
      auth: 'none',
      routes: (_req, res) => {
        res.writeHead(503, { 'retry-after': '6' });
        res.end();
      },
    });
    const { client, sleeps } = makeClient(reg.url, { retries: 5 });
    const err = await rejection(client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal()));
    expect(err.code).toBe('UNAVAILABLE');
    expect(sleeps).toEqual([6_000]);
  });

  it('passes the 429 on when the deadline ends a retry wait, instead of an abort error', async () => {
    const reg = await registry({
      auth: 'none',
      routes: (_req, res) => {
        res.writeHead(429, { 'retry-after': '5' });
        res.end();
      },
    });
    const client = new RegistryClient(upstreamConfig(reg.url, { retries: 3 }), new Metrics({ processMetrics: false }), createLogger('silent'), (ms, s) =>
      sleepFor(ms, undefined, { signal: s }),
    );
    clients.push(client);
    const err = await rejection(client.getManifest('team/app', 'v1', mediaTypes.ociManifest, AbortSignal.timeout(200)));
    expect(err.code).toBe('TOOMANYREQUESTS');
    expect(err.headers['Retry-After']).toBe('5');
  });

  it('gives UNAVAILABLE when the deadline passes while a manifest body stalls', async () => {
    const reg = await registry({
      auth: 'none',
      routes: (_req, res) => {
        res.writeHead(200, { 'content-type': mediaTypes.ociManifest, 'content-length': manifestBody.length });
        res.write(manifestBody.subarray(0, 10)); // and never the rest
      },
    });
    const { client } = makeClient(reg.url);
    const err = await rejection(client.getManifest('team/app', 'v1', mediaTypes.ociManifest, AbortSignal.timeout(300)));
    expect(err.code).toBe('UNAVAILABLE');
  });

  it('gives UNAVAILABLE when the connection breaks in the middle of a manifest body', async () => {
    const reg = await registry({
      auth: 'none',
      routes: (req, res) => {
        res.writeHead(200, { 'content-type': mediaTypes.ociManifest, 'content-length': manifestBody.length });
        res.write(manifestBody.subarray(0, 10), () => req.socket.resetAndDestroy());
      },
    });
    const { client } = makeClient(reg.url, { retries: 0 });
    const err = await rejection(client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal()));
    expect(err.code).toBe('UNAVAILABLE');
  });

  it('gives 502 UPSTREAM_ERROR when the token realm answers garbage', async () => {
    const realm = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('<html>gateway says hi</html>');
    });
    const reg = await server((_req, res) => {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm.url}/token",service="x"` });
      res.end();
    });
    const { client } = makeClient(reg.url);
    const err = await rejection(client.getManifest('team/app', 'v1', mediaTypes.ociManifest, signal()));
    expect(err.code).toBe('UPSTREAM_ERROR');
    expect(err.status).toBe(502);
  });

  it('gives 502 UPSTREAM_ERROR for a redirect to another scheme', async () => {
    const reg = await server((_req, res) => {
      res.writeHead(307, { location: 'file:///etc/passwd' });
      res.end();
    });
    const { client } = makeClient(reg.url);
    const err = await rejection(client.getBlob('team/app', layerDigest, signal()));
    expect(err.code).toBe('UPSTREAM_ERROR');
  });
});

describe('RegistryClient: manifest media types', () => {
  async function manifestAs(body: Buffer, contentType: string) {
    const reg = await registry({ auth: 'none', routes: (_req, res) => sendManifest(res, body, contentType) });
    return makeClient(reg.url).client.getManifest('team/app', 'v1', '*/*', signal());
  }

  it('stores a manifest labelled text/html with the type its document declares', async () => {
    const manifest = await manifestAs(manifestBody, 'text/html; charset=utf-8');
    expect(manifest.mediaType).toBe(mediaTypes.ociManifest);
  });

  it('keeps a manifest type from the Content-Type', async () => {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    expect((await manifestAs(index, mediaTypes.dockerManifestList)).mediaType).toBe(mediaTypes.dockerManifestList);
    expect((await manifestAs(index, 'application/octet-stream')).mediaType).toBe(mediaTypes.ociIndex);
  });

  it('refuses with 502 a body that is not a manifest, whatever its label', async () => {
    for (const [body, type] of [
      ['<html><body>login</body></html>', 'text/html'],
      ['<html><body>login</body></html>', mediaTypes.ociManifest],
      ['{"hello":"world"}', mediaTypes.ociManifest],
      ['[1,2,3]', 'application/json'],
      ['{"schemaVersion":2,"mediaType":"text/html","layers":[]}', 'application/json'],
      ['{"schemaVersion":3,"layers":[]}', mediaTypes.ociManifest],
    ] as const) {
      const err = await rejection(manifestAs(Buffer.from(body), type));
      expect(err.code, `${type}: ${body}`).toBe('UPSTREAM_ERROR');
    }
  });

  it('passes no media type on from a HEAD labelled with something that is not a manifest type', async () => {
    const reg = await registry({
      auth: 'none',
      routes: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html', 'content-length': manifestBody.length, 'docker-content-digest': manifestDigest });
        res.end();
      },
    });
    const head = await makeClient(reg.url).client.headManifest('team/app', 'v1', '*/*', signal());
    expect(head.mediaType).toBeUndefined();
    expect(head.digest).toBe(manifestDigest);
  });
});

describe('RegistryClient: pagination links', () => {
  async function linkFor(link: string, query = ''): Promise<string | undefined> {
    const reg = await registry({
      auth: 'none',
      routes: (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', link });
        res.end('{"name":"team/app","tags":[]}');
      },
    });
    return (await makeClient(reg.url).client.listTags('team/app', query, signal())).headers.link;
  }

  it('keeps every entry naming this tag list on this upstream, reduced to its query', async () => {
    expect(await linkFor('</v2/team/app/tags/list?n=2&last=b>; rel="next", </v2/team/app/tags/list?n=2>; rel="first"')).toBe(
      '<?n=2&last=b>; rel="next", <?n=2>; rel="first"',
    );
  });

  it('drops entries on another host, another path or another repository', async () => {
    const link = [
      '<http://evil.example/v2/team/app/tags/list?n=2>; rel="next"',
      '</v2/other/repo/tags/list?n=2>; rel="next"',
      '</v2/team/app/manifests/latest>; rel="next"',
      '<//evil.example/v2/team/app/tags/list>; rel="next"',
      '</v2/team/app/tags/list?last=z>; rel="next"',
    ].join(', ');
    expect(await linkFor(link)).toBe('<?last=z>; rel="next"');
    expect(await linkFor('<http://evil.example/x>; rel="next"')).toBeUndefined();
  });
});

describe('backoff', () => {
  it('honours Retry-After seconds', () => {
    expect(backoff(0, '0')).toBe(0);
    expect(backoff(0, '3')).toBe(3_000);
    expect(backoff(5, '2')).toBe(2_000);
  });

  it('gives up on a Retry-After longer than 10 s (the answer is passed on instead)', () => {
    expect(backoff(0, '10')).toBe(10_000);
    expect(backoff(0, '11')).toBeUndefined();
    expect(backoff(0, '86400')).toBeUndefined();
  });

  it('honours a Retry-After HTTP date', () => {
    const now = Date.parse('2024-01-01T00:00:00Z');
    expect(backoff(0, new Date(now + 4_000).toUTCString(), now)).toBe(4_000);
    expect(backoff(0, new Date(now + 3_600_000).toUTCString(), now)).toBeUndefined();
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
