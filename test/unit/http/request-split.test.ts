// The split between the plain registry listener and hono (request-split.ts): which request targets go the plain
// way, and, for odd ones, the same answer as when hono routed every request (the reference: `honoOnly`).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientAuth } from '../../../src/http/client-auth.js';
import { isRawRegistryRequest } from '../../../src/http/request-split.js';
import { rawExchange, type RawResponse } from '../../helpers/hostile-corpus.js';
import { ScriptedCore, sha256, startRegistryApp, type RegistryApp } from './registry-app.js';

const raw = (url: string, host: string | null = '127.0.0.1:5000') => isRawRegistryRequest({ url, headers: host === null ? {} : { host } });

describe('which requests the plain registry listener takes', () => {
  it('takes plain /v2 targets', () => {
    for (const url of [
      '/v2',
      '/v2/',
      '/v2?ns=docker.io',
      '/v2/library/alpine/manifests/latest',
      '/v2/library/alpine/manifests/latest?ns=docker.io',
      `/v2/library/alpine/blobs/sha256:${'a'.repeat(64)}`,
      '/v2/ghcr.io/Owner/App/manifests/V1.0',
      '/v2/library/app/blobs/uploads/',
    ])
      expect(raw(url), url).toBe(true);
    expect(raw('/v2/library/alpine/manifests/latest', 'registry.local')).toBe(true);
  });

  it('leaves to hono everything hono would normalise, and everything that is not the registry API', () => {
    for (const url of [
      '//v2/',
      '/v2/../api/v1/images',
      '/v2/..',
      '/v2/./library/alpine/manifests/latest',
      '/v2/library/alpine/manifests/latest?ns=/../x',
      '/v2/%2e%2e/api',
      '/v2/library%2Falpine/manifests/latest',
      '/%76%32/library/alpine/manifests/latest',
      'http://127.0.0.1:5000/v2/library/alpine/manifests/latest',
      'https://evil.example/v2/',
      '*',
      '',
      '/v20',
      '/v2x/manifests',
      '/V2/',
      '/v2#fragment',
      '/v2/library/alpine/manifests/latest#x',
      '/v2/a\\b/manifests/latest',
      '/v2/a b/manifests/latest',
      '/api/v1/images',
      '/healthz',
      '/ui/',
    ])
      expect(raw(url), url).toBe(false);
  });

  it('leaves to hono a request without a Host, or with one @hono/node-server parses', () => {
    expect(raw('/v2/', null)).toBe(false);
    for (const host of ['', 'Registry.Local', 'a b', 'user@host', 'host/path', 'host:99', '[::1]:5000']) expect(raw('/v2/', host), host).toBe(false);
  });
});

describe('the same answers as hono alone', () => {
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }));
  const blob = randomBytes(500);
  const core = new ScriptedCore();
  core.manifests.set('v1', { body: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
  core.blobs.set(sha256(blob), { bytes: blob });
  let split: RegistryApp;
  let hono: RegistryApp;
  beforeAll(async () => {
    [split, hono] = await Promise.all([startRegistryApp({ core }), startRegistryApp({ core, honoOnly: true })]);
  });
  afterAll(async () => {
    await Promise.all([split.close(), hono.close()]);
  });

  /** Status, body and headers, without what differs per request (request id, date). */
  const comparable = (r: RawResponse) => {
    const { 'x-request-id': id, date, ...headers } = r.headers;
    return { status: r.status, headers, body: r.body.toString('latin1'), id: id !== undefined };
  };
  const exchange = (port: number, request: string) => rawExchange(port, Buffer.from(request, 'latin1'), { head: request.startsWith('HEAD ') });

  const targets = [
    '/v2',
    '/v2/',
    '//v2/',
    '/v2//library/app/manifests/v1',
    '/v2/../api/v1/images',
    '/v2/./library/app/manifests/v1',
    '/v2/%2e%2e/healthz',
    '/v2/library%2Fapp/manifests/v1',
    '/%76%32/library/app/manifests/v1',
    '/v2/library/app/manifests/v1',
    '/v2/library/app/manifests/v1?ns=ghcr.io',
    '/v2/library/app/manifests/v1?ns=',
    `/v2/library/app/blobs/${sha256(blob)}`,
    '/v2/library/app/blobs/sha256:short',
    '/v2/library/app/blobs/uploads/',
    '/v2/library/app/manifests/v1#fragment',
    '/v2x',
    '/v2?ns=a',
    'http://127.0.0.1/v2/library/app/manifests/v1',
    'http://evil.example/v2/',
  ];

  it.each(targets)('GET %s', async (target) => {
    const request = `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
    const [a, b] = await Promise.all([exchange(split.port, request), exchange(hono.port, request)]);
    expect(comparable(a)).toEqual(comparable(b));
  });

  it.each([
    'HEAD /v2/library/app/manifests/v1 HTTP/1.1\r\nHost: 127.0.0.1\r\n',
    'PUT /v2/library/app/manifests/v1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}',
    'DELETE /v2/library/app/manifests/v1 HTTP/1.1\r\nHost: 127.0.0.1\r\n',
    'GET /v2/library/app/manifests/v1 HTTP/1.1\r\nHost: Registry.Local:5000\r\n',
    'GET /v2/library/app/manifests/v1 HTTP/1.1\r\nHost: a b\r\n',
    'GET /v2/library/app/manifests/v1 HTTP/1.0\r\n',
    `GET /v2/library/app/blobs/${sha256(blob)} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=10-19\r\n`,
  ])('%j', async (head) => {
    const request = head.includes('\r\n\r\n') ? head.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n') : `${head}Connection: close\r\n\r\n`;
    const [a, b] = await Promise.all([exchange(split.port, request), exchange(hono.port, request)]);
    expect(comparable(a)).toEqual(comparable(b));
  });
});

describe('client authentication, the same both ways', () => {
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }));
  const core = new ScriptedCore();
  core.manifests.set('v1', { body: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
  const auth = () =>
    new ClientAuth({
      realm: 'tender-test',
      users: new Map(),
      userRepositories: new Map(),
      tokens: [{ name: 'nodes', token: 'node-token-1', repositories: ['docker.io/library/**'] }],
      protect: [],
      maxFailures: 0,
      failureWindowMs: 60_000,
      verifyQueue: 4,
    });
  const auths: ClientAuth[] = [];
  let split: RegistryApp;
  let hono: RegistryApp;
  beforeAll(async () => {
    auths.push(auth(), auth());
    [split, hono] = await Promise.all([startRegistryApp({ core, clientAuth: auths[0]! }), startRegistryApp({ core, honoOnly: true, clientAuth: auths[1]! })]);
  });
  afterAll(async () => {
    await Promise.all([split.close(), hono.close(), ...auths.map((a) => a.close())]);
  });

  it.each([
    ['no credentials', '/v2/library/app/manifests/v1', undefined, 401],
    ['a wrong token', '/v2/library/app/manifests/v1', 'Bearer wrong', 401],
    ['the token', '/v2/library/app/manifests/v1', 'Bearer node-token-1', 200],
    ['the token as a Basic password', '/v2/library/app/manifests/v1', `Basic ${Buffer.from('any:node-token-1').toString('base64')}`, 200],
    ['the token outside its scope', '/v2/other/app/manifests/v1', 'Bearer node-token-1', 403],
    ['the base path without credentials', '/v2/', undefined, 401],
  ])('%s', async (_name, target, authorization, status) => {
    const request = `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${authorization ? `Authorization: ${authorization}\r\n` : ''}Connection: close\r\n\r\n`;
    const exchange = (port: number) => rawExchange(port, Buffer.from(request, 'latin1'));
    const [a, b] = await Promise.all([exchange(split.port), exchange(hono.port)]);
    const { 'x-request-id': _a, date: _da, ...headersA } = a.headers;
    const { 'x-request-id': _b, date: _db, ...headersB } = b.headers;
    expect(a.status).toBe(status);
    expect({ status: a.status, headers: headersA, body: a.body.toString() }).toEqual({ status: b.status, headers: headersB, body: b.body.toString() });
    // The request line names who asked, or the refused request's repository.
    const line = split.logs.findLast((l) => l.msg === 'request' && l.path === target);
    expect(line).toMatchObject({ status, kind: target === '/v2/' ? 'base' : 'manifest' });
    if (status === 200) expect(line).toMatchObject({ identity: 'token:nodes' });
  });
});
