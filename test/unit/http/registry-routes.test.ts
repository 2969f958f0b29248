// The registry API's answers as clients read them: HEAD, Range and If-Range, the digest and namespace headers, tags and referrers.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { sha256, startRegistryApp, type RegistryApp } from './registry-app.js';

const manifestBody = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }));
const manifestType = 'application/vnd.oci.image.manifest.v1+json';
const manifestDigest = sha256(manifestBody);
/** Larger than the test's 64-byte read buffers, so a file answer takes several reads. */
const blobBytes = randomBytes(1000);
const blobDigest = sha256(blobBytes);
const smallBytes = randomBytes(100);
const smallDigest = sha256(smallBytes);

let app: RegistryApp;
beforeAll(async () => {
  app = await startRegistryApp();
  app.core.manifests.set('1.0', { body: manifestBody, mediaType: manifestType });
  app.core.manifests.set(manifestDigest, { body: manifestBody, mediaType: manifestType });
  app.core.blobs.set(blobDigest, { bytes: blobBytes });
  app.core.blobs.set(smallDigest, { bytes: smallBytes, inMemory: true });
});
afterAll(() => app.close());
// @hono/node-server reports a response written twice (hono's HEAD wrapper around a written answer) on console.error.
const consoleError = vi.spyOn(console, 'error');
afterEach(() => {
  expect(consoleError).not.toHaveBeenCalled();
  consoleError.mockClear();
});
beforeEach(() => {
  app.core.calls.length = 0;
  app.core.opened.length = 0;
});

describe('manifests', () => {
  it('GET: the stored bytes with their digest, exact media type, length and ETag', async () => {
    const res = await app.fetch('/v2/library/nginx/manifests/1.0', { headers: { accept: manifestType } });
    expect(res.status).toBe(200);
    expect(res.body.equals(manifestBody)).toBe(true);
    expect(res.headers).toMatchObject({
      'docker-content-digest': manifestDigest,
      'content-type': manifestType,
      'content-length': String(manifestBody.length),
      etag: `"${manifestDigest}"`,
      'docker-distribution-api-version': 'registry/2.0',
      // RFC 9211: answered from the cache.
      'cache-status': 'tender; hit',
    });
    expect(app.core.calls).toEqual([
      { method: 'manifest', upstream: 'docker.io', repository: 'library/nginx', reference: '1.0', head: false, accept: manifestType },
    ]);
  });

  it('HEAD: the same head, no body, and the core is asked for no body', async () => {
    const get = await app.fetch(`/v2/library/nginx/manifests/${manifestDigest}`);
    const head = await app.fetch(`/v2/library/nginx/manifests/${manifestDigest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    for (const name of ['docker-content-digest', 'content-type', 'content-length', 'etag', 'cache-status'])
      expect(head.headers[name], name).toBe(get.headers[name]);
    expect(app.core.calls.map((c) => c.head)).toEqual([false, true]);
  });
});

describe('blobs', () => {
  it('GET: every byte from random access, with digest, length, ETag and Accept-Ranges', async () => {
    const res = await app.fetch(`/v2/library/nginx/blobs/${blobDigest}`);
    expect(res.status).toBe(200);
    expect(sha256(res.body)).toBe(blobDigest);
    expect(res.headers).toMatchObject({
      'docker-content-digest': blobDigest,
      'content-length': String(blobBytes.length),
      'content-type': 'application/octet-stream',
      etag: `"${blobDigest}"`,
      'accept-ranges': 'bytes',
    });
    expect(res.headers['content-encoding']).toBeUndefined(); // never compressed, whatever the client accepts
    expect(app.core.opened).toEqual([0]);
  });

  it('HEAD: length and digest, no body, and nothing opened or downloaded', async () => {
    const res = await app.fetch(`/v2/library/nginx/blobs/${blobDigest}`, { method: 'HEAD', headers: { range: 'bytes=10-19' } });
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(0);
    expect(res.headers).toMatchObject({ 'docker-content-digest': blobDigest, 'content-length': String(blobBytes.length), 'accept-ranges': 'bytes' });
    expect(app.core.calls).toEqual([{ method: 'blob', upstream: 'docker.io', repository: 'library/nginx', reference: blobDigest, head: true }]);
    expect(app.core.opened).toEqual([]);
  });

  it.each([
    ['bytes=10-19', 10, 19],
    ['bytes=990-', 990, 999],
    ['bytes=-5', 995, 999],
    ['bytes=995-5000', 995, 999],
  ])('Range %s: 206 with exactly those bytes and their Content-Range', async (range, start, end) => {
    const res = await app.fetch(`/v2/library/nginx/blobs/${blobDigest}`, { headers: { range } });
    expect(res.status).toBe(206);
    expect(res.body.equals(blobBytes.subarray(start, end + 1))).toBe(true);
    expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${blobBytes.length}`);
    expect(res.headers['content-length']).toBe(String(end - start + 1));
    expect(app.core.opened).toEqual([start]);
  });

  it('Range on a blob served from memory: the same 206', async () => {
    const res = await app.fetch(`/v2/library/nginx/blobs/${smallDigest}`, { headers: { range: 'bytes=50-59' } });
    expect(res.status).toBe(206);
    expect(res.body.equals(smallBytes.subarray(50, 60))).toBe(true);
    expect(res.headers['content-range']).toBe(`bytes 50-59/${smallBytes.length}`);
    expect(app.core.opened).toEqual([]);
  });

  it.each(['bytes=1000-', 'bytes=5000-6000', 'bytes=-0'])('Range %s past the end: 416 RANGE_INVALID with Content-Range */size', async (range) => {
    const res = await app.fetch(`/v2/library/nginx/blobs/${blobDigest}`, { headers: { range } });
    expect(res.status).toBe(416);
    expect(res.headers['content-range']).toBe(`bytes */${blobBytes.length}`);
    expect(JSON.parse(res.body.toString()).errors[0].code).toBe('RANGE_INVALID');
    expect(app.core.opened).toEqual([]);
  });

  it.each(['bytes=5-2', 'bytes=0-1,5-6', 'items=0-5', 'bytes=abc'])('a Range it cannot honour (%s): 200 with the whole blob', async (range) => {
    const res = await app.fetch(`/v2/library/nginx/blobs/${blobDigest}`, { headers: { range } });
    expect(res.status).toBe(200);
    expect(res.body.equals(blobBytes)).toBe(true);
  });

  it('If-Range with this blob ETag: the range; with another validator or a date: the whole blob', async () => {
    const same = await app.fetch(`/v2/library/nginx/blobs/${blobDigest}`, { headers: { range: 'bytes=0-9', 'if-range': `"${blobDigest}"` } });
    expect(same.status).toBe(206);
    expect(same.body.equals(blobBytes.subarray(0, 10))).toBe(true);
    for (const ifRange of [`"${smallDigest}"`, `W/"${blobDigest}"`, 'Sat, 29 Nov 2026 10:00:00 GMT']) {
      const other = await app.fetch(`/v2/library/nginx/blobs/${blobDigest}`, { headers: { range: 'bytes=0-9', 'if-range': ifRange } });
      expect(other.status, ifRange).toBe(200);
      expect(other.body.equals(blobBytes), ifRange).toBe(true);
    }
  });
});

describe('namespace and routing headers', () => {
  it('echoes ?ns= as OCI-Namespace and routes by it, on answers and on errors', async () => {
    const ok = await app.fetch(`/v2/org/app/blobs/${smallDigest}?ns=ghcr.io`);
    expect(ok.headers['oci-namespace']).toBe('ghcr.io');
    expect(app.core.calls[0]).toMatchObject({ upstream: 'ghcr.io', repository: 'org/app' });
    const denied = await app.fetch(`/v2/org/app/manifests/1.0?ns=evil.example`);
    expect(denied.status).toBe(403);
    expect(denied.headers['oci-namespace']).toBe('evil.example');
    expect(JSON.parse(denied.body.toString()).errors[0].code).toBe('DENIED');
  });

  it('sends no OCI-Namespace without ns, and none for an ns no header may hold', async () => {
    expect((await app.fetch(`/v2/library/nginx/blobs/${smallDigest}`)).headers['oci-namespace']).toBeUndefined();
    const odd = await app.fetch(`/v2/library/nginx/blobs/${smallDigest}?ns=docker.io%0D%0Ax-injected:%201`);
    expect(odd.headers['oci-namespace']).toBeUndefined();
    expect(odd.headers['x-injected']).toBeUndefined();
  });

  it('routes a registry prefix in the path and answers /v2/ with the API version, HEAD without a body', async () => {
    await app.fetch(`/v2/ghcr.io/org/app/manifests/1.0`);
    expect(app.core.calls[0]).toMatchObject({ upstream: 'ghcr.io', repository: 'org/app' });
    const base = await app.fetch('/v2/');
    expect(base).toMatchObject({ status: 200, headers: { 'docker-distribution-api-version': 'registry/2.0', 'content-type': 'application/json' } });
    expect(base.body.toString()).toBe('{}');
    const head = await app.fetch('/v2/', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  it('puts an x-request-id on every answer: written directly, errors, and hono responses', async () => {
    for (const [path, method] of [
      [`/v2/library/nginx/blobs/${blobDigest}`, 'GET'],
      [`/v2/library/nginx/manifests/1.0`, 'HEAD'],
      ['/v2/library/nginx/manifests/missing-tag', 'GET'],
      ['/healthz', 'GET'],
      ['/nowhere', 'GET'],
    ] as const) {
      app.core.failures.set('missing-tag', new (await import('../../../src/oci/errors.js')).OciError('MANIFEST_UNKNOWN'));
      const res = await app.fetch(path, { method, headers: { 'x-request-id': 'req-42' } });
      expect(res.headers['x-request-id'], `${method} ${path}`).toBe('req-42');
    }
  });
});

describe('tags and referrers', () => {
  it('answers a page of the tags list with a Link to the next on this mirror, ns kept; HEAD gets the head only', async () => {
    const get = await app.fetch('/v2/library/nginx/tags/list?n=1&last=a&ns=docker.io&other=x');
    expect(get.status).toBe(200);
    expect(get.headers['content-type']).toBe('application/json');
    expect(JSON.parse(get.body.toString())).toEqual({ name: 'library/nginx', tags: ['b'] });
    expect(get.headers['content-length']).toBe(String(get.body.length));
    expect(get.headers.link).toBe('</v2/library/nginx/tags/list?n=1&last=b&ns=docker.io>; rel="next"');
    expect(app.core.calls[0]).toMatchObject({ method: 'listTags', reference: '{"n":1,"last":"a"}' }); // ns and unknown parameters stay here
    const head = await app.fetch('/v2/library/nginx/tags/list?n=1&last=a&ns=docker.io', { method: 'HEAD' });
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(get.headers['content-length']);
    // The name as the client spelled it (a path prefix included); no Link on the last page, none for n=0.
    const prefixed = await app.fetch('/v2/ghcr.io/team/app/tags/list?n=5');
    expect(JSON.parse(prefixed.body.toString())).toEqual({ name: 'ghcr.io/team/app', tags: ['a', 'b', 'c'] });
    expect(prefixed.headers.link).toBeUndefined();
    const none = await app.fetch('/v2/library/nginx/tags/list?n=0');
    expect(JSON.parse(none.body.toString()).tags).toEqual([]);
    expect(none.headers.link).toBeUndefined();
    // A malformed n is ignored (distribution 2.8 ignored every n): the whole list.
    for (const n of ['-1', '1e9', 'x', '']) expect(JSON.parse((await app.fetch(`/v2/library/nginx/tags/list?n=${n}`)).body.toString()).tags).toHaveLength(3);
  });

  it('answers referrers as an image index, saying when artifactType was applied', async () => {
    const referrers = await app.fetch(`/v2/library/nginx/referrers/${manifestDigest}?artifactType=application/x`);
    expect(referrers.status).toBe(200);
    expect(referrers.headers['content-type']).toBe('application/vnd.oci.image.index.v1+json');
    expect(referrers.headers['oci-filters-applied']).toBe('artifactType');
    expect(app.core.calls[0]).toMatchObject({ method: 'referrers', reference: `${manifestDigest} application/x` });
    const all = await app.fetch(`/v2/library/nginx/referrers/${manifestDigest}`, { method: 'HEAD' });
    expect(all.headers['oci-filters-applied']).toBeUndefined();
    expect(all.body.length).toBe(0);
    expect(Number(all.headers['content-length'])).toBeGreaterThan(0);
  });
});

describe('the request log', () => {
  it('has one line per request with the status the client got, HEAD and errors included', async () => {
    const id = { 'x-request-id': 'log-test' };
    await app.fetch(`/v2/library/nginx/blobs/${blobDigest}`, { method: 'HEAD', headers: id });
    await app.fetch(`/v2/library/nginx/blobs/${blobDigest}`, { headers: { range: 'bytes=0-1', ...id } });
    await app.fetch('/v2/library/ng%41inx/blobs/x', { headers: id });
    await app.fetch('/v2/library/nginx/manifests/1.0', { method: 'DELETE', headers: id });
    // A line is written when its response closes: wait for the last one.
    const ours = () => app.logs.filter((l) => l.msg === 'request' && l.requestId === 'log-test');
    await expect.poll(() => ours().length).toBe(4);
    const lines = ours();
    expect(lines.map((l) => [l.method, l.status, l.kind])).toEqual([
      ['HEAD', 200, 'blob'],
      ['GET', 206, 'blob'],
      ['GET', 400, 'other'],
      ['DELETE', 405, 'manifest'],
    ]);
    expect(lines[1]!.bytes).toBe(2);
  });
});
