// TokenCache: one token request per scope however many callers, credentials only where allowed, failures not cached.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import type { Challenge } from '../../../src/oci/www-authenticate.js';
import { TokenCache, type TokenCacheOptions } from '../../../src/upstream/token-cache.js';
import { startServer, type TestServer } from './fake-registry.js';

const servers: TestServer[] = [];
const agents: Agent[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

interface Realm {
  readonly server: TestServer;
  /** Requests to /token. */
  readonly hits: () => number;
}

/** A token realm that answers with `respond(n)` for the n-th request (1-based). */
async function startRealm(respond: (n: number) => { status: number; body: unknown; delayMs?: number }): Promise<Realm> {
  let count = 0;
  const server = await startServer(async (_req, res, url) => {
    if (url.pathname !== '/token') {
      res.writeHead(404);
      res.end();
      return;
    }
    const answer = respond(++count);
    if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer.body));
  });
  servers.push(server);
  return { server, hits: () => count };
}

function makeCache(overrides: Partial<TokenCacheOptions> = {}) {
  const fetches: Array<'ok' | 'error'> = [];
  const dispatcher = new Agent();
  agents.push(dispatcher);
  const cache = new TokenCache({
    upstream: 'test.local',
    dispatcher,
    credentials: { username: undefined, password: undefined },
    realms: { upstreamUrl: 'http://127.0.0.1:1', insecure: true, tokenRealms: [] },
    timeoutMs: 5_000,
    onFetch: (result) => fetches.push(result),
    ...overrides,
  });
  return { cache, fetches };
}

function challenge(realm: Realm, params: Record<string, string> = {}): Challenge {
  return { scheme: 'bearer', params: { realm: `${realm.server.url}/token`, service: 'test', ...params } };
}

const scope = 'repository:team/app:pull';

describe('TokenCache', () => {
  it('fetches a token once and serves it from cache afterwards', async () => {
    const realm = await startRealm((n) => ({ status: 200, body: { token: `t${n}`, expires_in: 300 } }));
    const { cache, fetches } = makeCache();

    expect(cache.peek(scope)).toBeUndefined();
    expect(await cache.get(scope, challenge(realm))).toBe('t1');
    expect(await cache.get(scope, challenge(realm))).toBe('t1');
    expect(cache.peek(scope)).toBe('t1');
    expect(realm.hits()).toBe(1);
    expect(fetches).toEqual(['ok']);
  });

  it('sends service and scope to the realm, anonymously when no credentials are set', async () => {
    const realm = await startRealm(() => ({ status: 200, body: { token: 'anon' } }));
    const { cache } = makeCache();

    await cache.get(scope, challenge(realm));

    const request = realm.server.requests[0]!;
    const url = new URL(request.path, realm.server.url);
    expect(url.searchParams.get('service')).toBe('test');
    expect(url.searchParams.get('scope')).toBe(scope);
    expect(request.authorization).toBeUndefined();
  });

  it('shares one realm request among concurrent callers', async () => {
    const realm = await startRealm((n) => ({ status: 200, body: { token: `t${n}` }, delayMs: 50 }));
    const { cache } = makeCache();

    const tokens = await Promise.all(Array.from({ length: 10 }, () => cache.get(scope, challenge(realm))));

    expect(new Set(tokens)).toEqual(new Set(['t1']));
    expect(realm.hits()).toBe(1);
  });

  it('keeps tokens per scope', async () => {
    const realm = await startRealm((n) => ({ status: 200, body: { token: `t${n}` } }));
    const { cache } = makeCache();

    const a = await cache.get('repository:a/one:pull', challenge(realm));
    const b = await cache.get('repository:b/two:pull', challenge(realm));

    expect(a).not.toBe(b);
    expect(realm.hits()).toBe(2);
    expect(cache.peek('repository:a/one:pull')).toBe(a);
    expect(cache.peek('repository:b/two:pull')).toBe(b);
  });

  it("asks for the challenge's scope and caches the token under the requested scope too", async () => {
    const realm = await startRealm(() => ({ status: 200, body: { token: 'wide' } }));
    const { cache } = makeCache();
    const wider = 'repository:team/app:pull,push';

    expect(await cache.get(scope, challenge(realm, { scope: wider }))).toBe('wide');

    expect(new URL(realm.server.requests[0]!.path, realm.server.url).searchParams.get('scope')).toBe(wider);
    expect(cache.peek(scope)).toBe('wide');
  });

  it('accepts access_token (OAuth2 form) as well as token', async () => {
    const realm = await startRealm(() => ({ status: 200, body: { access_token: 'oauth' } }));
    const { cache } = makeCache();
    expect(await cache.get(scope, challenge(realm))).toBe('oauth');
  });

  it('sends configured credentials as Basic', async () => {
    const realm = await startRealm(() => ({ status: 200, body: { token: 't' } }));
    const { cache } = makeCache({ credentials: { username: 'robot', password: 's3cret' } });

    await cache.get(scope, challenge(realm));

    expect(realm.server.requests[0]!.authorization).toBe(`Basic ${Buffer.from('robot:s3cret').toString('base64')}`);
  });

  it('asks a plain-http realm anonymously, and says why, unless the upstream is insecure', async () => {
    const realm = await startRealm(() => ({ status: 200, body: { token: 't' } }));
    const refused: string[] = [];
    const { cache } = makeCache({
      credentials: { username: 'robot', password: 's3cret' },
      realms: { upstreamUrl: realm.server.url, insecure: false, tokenRealms: [] },
      onRefusedRealm: (_url, reason) => refused.push(reason),
    });

    expect(await cache.get(scope, challenge(realm))).toBe('t');
    expect(realm.hits()).toBe(1);
    expect(realm.server.requests[0]!.authorization).toBeUndefined();
    expect(refused).toEqual([expect.stringMatching(/plain http/)]);
  });

  it('sends no credentials to a plain-http realm on another host than an insecure upstream', async () => {
    const realm = await startRealm(() => ({ status: 200, body: { token: 't' } }));
    const refused: string[] = [];
    const { cache } = makeCache({
      credentials: { username: 'robot', password: 's3cret' },
      // The realm is 127.0.0.1; the upstream is "localhost": another host by name.
      realms: { upstreamUrl: 'http://localhost:5000', insecure: true, tokenRealms: [] },
      onRefusedRealm: (_url, reason) => refused.push(reason),
    });

    await cache.get(scope, challenge(realm));
    expect(realm.server.requests[0]!.authorization).toBeUndefined();
    expect(refused).toEqual([expect.stringMatching(/another host/)]);
  });

  it('sends credentials to a plain-http realm on another host when tokenRealms lists its origin', async () => {
    const realm = await startRealm(() => ({ status: 200, body: { token: 't' } }));
    const { cache } = makeCache({
      credentials: { username: 'robot', password: 's3cret' },
      realms: { upstreamUrl: 'http://localhost:5000', insecure: true, tokenRealms: [realm.server.url] },
    });

    await cache.get(scope, challenge(realm));
    expect(realm.server.requests[0]!.authorization).toBe(`Basic ${Buffer.from('robot:s3cret').toString('base64')}`);
  });

  it('refuses garbage, oversized and unusable token answers as UPSTREAM_ERROR', async () => {
    const answers: Array<{ status: number; raw: string }> = [
      { status: 200, raw: '<html>not json</html>' },
      { status: 200, raw: JSON.stringify({ token: 'a'.repeat(300 * 1024) }) },
      { status: 200, raw: JSON.stringify({ token: 'bad\r\ntoken' }) },
      { status: 200, raw: JSON.stringify({ token: 42 }) },
      { status: 200, raw: 'null' },
    ];
    const server = await startServer((_req, res) => {
      const answer = answers.shift()!;
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.raw);
    });
    servers.push(server);
    const { cache } = makeCache();
    const realmChallenge: Challenge = { scheme: 'bearer', params: { realm: `${server.url}/token` } };
    for (let i = 0; i < 5; i++) {
      await expect(cache.get(`${scope}${i}`, realmChallenge)).rejects.toMatchObject({ code: 'UPSTREAM_ERROR' });
    }
  });

  it('refuses a realm that is not an http(s) URL without contacting anything', async () => {
    const { cache } = makeCache();
    for (const realm of ['file:///etc/passwd', 'not a url', 'gopher://127.0.0.1/x']) {
      await expect(cache.get(scope, { scheme: 'bearer', params: { realm } })).rejects.toMatchObject({ code: 'UPSTREAM_ERROR' });
    }
  });

  it('fails on a realm error, counts it, and does not cache the failure', async () => {
    const realm = await startRealm((n) => (n === 1 ? { status: 500, body: {} } : { status: 200, body: { token: 'second' } }));
    const { cache, fetches } = makeCache();

    await expect(cache.get(scope, challenge(realm))).rejects.toThrow(/500/);
    expect(cache.peek(scope)).toBeUndefined();
    expect(await cache.get(scope, challenge(realm))).toBe('second');
    expect(realm.hits()).toBe(2);
    expect(fetches).toEqual(['error', 'ok']);
  });

  it('fails when the realm sends no token', async () => {
    const realm = await startRealm(() => ({ status: 200, body: { expires_in: 60 } }));
    const { cache } = makeCache();
    await expect(cache.get(scope, challenge(realm))).rejects.toThrow();
    expect(cache.peek(scope)).toBeUndefined();
  });

  it('fails on a bearer challenge without a realm', async () => {
    const { cache } = makeCache();
    await expect(cache.get(scope, { scheme: 'bearer', params: { service: 'x' } })).rejects.toThrow(/realm/);
  });

  it('forgets a token once it expires', async () => {
    const realm = await startRealm((n) => ({ status: 200, body: { token: `t${n}`, expires_in: 1 } }));
    const { cache } = makeCache();

    expect(await cache.get(scope, challenge(realm))).toBe('t1');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(cache.peek(scope)).toBeUndefined();
    expect(await cache.get(scope, challenge(realm))).toBe('t2');
  });
});
