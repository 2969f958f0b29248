// Every OCI error code as a client gets it: the status from the one table, the spec's JSON body, and nothing internal leaked.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { OciError, ociErrors, type OciErrorCode } from '../../../src/oci/errors.js';
import { startRegistryApp, type RegistryApp } from './registry-app.js';

let app: RegistryApp;
beforeAll(async () => {
  app = await startRegistryApp();
});
afterAll(() => app.close());
// @hono/node-server reports a response written twice (hono's HEAD wrapper around a written answer) on console.error.
const consoleError = vi.spyOn(console, 'error');
afterEach(() => {
  expect(consoleError).not.toHaveBeenCalled();
  consoleError.mockClear();
});

const codes = Object.keys(ociErrors) as OciErrorCode[];

describe('OCI error answers', () => {
  it.each(codes)('%s: its status, the JSON body {"errors":[{code,message,detail}]}, its length, and the registry headers', async (code) => {
    const tag = `fails-${code.toLowerCase()}`;
    app.core.failures.set(tag, new OciError(code, `scripted ${code}`, { detail: { tag } }));
    const res = await app.fetch(`/v2/library/nginx/manifests/${tag}?ns=docker.io`);
    expect(res.status).toBe(ociErrors[code].status);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['content-length']).toBe(String(res.body.length));
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
    expect(res.headers['oci-namespace']).toBe('docker.io');
    expect(JSON.parse(res.body.toString())).toEqual({ errors: [{ code, message: `scripted ${code}`, detail: { tag } }] });
  });

  it.each(codes)('%s on HEAD: the same status and head, no body', async (code) => {
    const tag = `fails-${code.toLowerCase()}`;
    app.core.failures.set(tag, new OciError(code));
    const get = await app.fetch(`/v2/library/nginx/manifests/${tag}`);
    const head = await app.fetch(`/v2/library/nginx/manifests/${tag}`, { method: 'HEAD' });
    expect(head.status).toBe(ociErrors[code].status);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(get.headers['content-length']);
    expect(JSON.parse(get.body.toString()).errors[0]).toEqual({ code, message: ociErrors[code].message });
  });

  it("carries an error's own headers (Retry-After on 429, Content-Range on 416)", async () => {
    app.core.failures.set('busy', new OciError('TOOMANYREQUESTS', 'slow down', { headers: { 'retry-after': '30' } }));
    const res = await app.fetch('/v2/library/nginx/manifests/busy');
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('30');
  });

  it('answers anything that is no OciError as 500 UNKNOWN without its message, and logs the cause once', async () => {
    app.core.failures.set('bug', new TypeError('secret internals at /srv/x'));
    const res = await app.fetch('/v2/library/nginx/manifests/bug', { headers: { 'x-request-id': 'bug-1' } });
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body.toString())).toEqual({ errors: [{ code: 'UNKNOWN', message: 'internal error' }] });
    expect(res.body.toString()).not.toContain('secret internals');
    await expect.poll(() => app.logs.filter((l) => l.requestId === 'bug-1').length).toBe(2);
    const lines = app.logs.filter((l) => l.requestId === 'bug-1');
    expect(lines.filter((l) => l.msg === 'unhandled error')).toHaveLength(1);
    expect(lines.find((l) => l.msg === 'request')).toMatchObject({ status: 500, result: 'error', error: 'internal error' });
  });

  it.each([
    ['a push', 'PUT', '/v2/library/nginx/manifests/1.0', 405, 'UNSUPPORTED'],
    ['an upload', 'POST', '/v2/library/nginx/blobs/uploads/', 405, 'UNSUPPORTED'],
    ['a delete', 'DELETE', '/v2/library/nginx/blobs/sha256:aa', 405, 'UNSUPPORTED'],
    ['a percent-encoded name', 'GET', '/v2/library/ng%41inx/manifests/1.0', 400, 'NAME_INVALID'],
    ['a path that is no registry API', 'GET', '/v2/library/nginx/nothing/here', 404, 'NAME_UNKNOWN'],
    ['a path outside /v2/', 'GET', '/favicon.ico', 404, 'NAME_UNKNOWN'],
  ] as const)('refuses %s with its OCI error', async (_label, method, path, status, code) => {
    const res = await app.fetch(path, { method });
    expect(res.status).toBe(status);
    expect(JSON.parse(res.body.toString()).errors[0].code).toBe(code);
    if (code === 'UNSUPPORTED') expect(res.headers.allow).toBe('GET, HEAD');
  });
});
