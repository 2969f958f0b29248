// parseRegistryPath: every /v2/ shape clients send, and refusal of anything that could smuggle separators.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OciError } from '../../../src/oci/errors.js';
import { parseRegistryPath } from '../../../src/oci/registry-path.js';

const digest = `sha256:${createHash('sha256').update('layer').digest('hex')}`;

function expectNameInvalid(path: string): void {
  let caught: unknown;
  try {
    parseRegistryPath(path);
  } catch (err) {
    caught = err;
  }
  expect(caught, `parseRegistryPath(${JSON.stringify(path.slice(0, 80))}) should throw`).toBeInstanceOf(OciError);
  expect((caught as OciError).code).toBe('NAME_INVALID');
  expect((caught as OciError).status).toBe(400);
}

describe('parseRegistryPath', () => {
  it('recognises the base endpoint with and without trailing slash', () => {
    expect(parseRegistryPath('/v2/')).toEqual({ kind: 'base' });
    expect(parseRegistryPath('/v2')).toEqual({ kind: 'base' });
  });

  it('parses a manifest by tag', () => {
    expect(parseRegistryPath('/v2/library/nginx/manifests/latest')).toEqual({
      kind: 'manifest',
      name: 'library/nginx',
      reference: 'latest',
    });
  });

  it('parses a manifest by digest', () => {
    expect(parseRegistryPath(`/v2/library/nginx/manifests/${digest}`)).toEqual({
      kind: 'manifest',
      name: 'library/nginx',
      reference: digest,
    });
  });

  it('parses a blob', () => {
    expect(parseRegistryPath(`/v2/library/nginx/blobs/${digest}`)).toEqual({ kind: 'blob', name: 'library/nginx', digest });
  });

  it('parses tags/list', () => {
    expect(parseRegistryPath('/v2/library/nginx/tags/list')).toEqual({ kind: 'tags', name: 'library/nginx' });
  });

  it('parses referrers', () => {
    expect(parseRegistryPath(`/v2/library/nginx/referrers/${digest}`)).toEqual({
      kind: 'referrers',
      name: 'library/nginx',
      digest,
    });
  });

  it('keeps single-component and deeply nested names whole', () => {
    expect(parseRegistryPath('/v2/nginx/manifests/1.25')).toEqual({ kind: 'manifest', name: 'nginx', reference: '1.25' });
    expect(parseRegistryPath('/v2/team/app/api/manifests/v1')).toEqual({ kind: 'manifest', name: 'team/app/api', reference: 'v1' });
    expect(parseRegistryPath(`/v2/team/app/api/blobs/${digest}`)).toEqual({ kind: 'blob', name: 'team/app/api', digest });
    expect(parseRegistryPath('/v2/team/app/api/tags/list')).toEqual({ kind: 'tags', name: 'team/app/api' });
  });

  it('leaves a host prefix in the name for the router (CRI-O / podman mirrors)', () => {
    expect(parseRegistryPath('/v2/ghcr.io/org/app/manifests/v1')).toEqual({
      kind: 'manifest',
      name: 'ghcr.io/org/app',
      reference: 'v1',
    });
    expect(parseRegistryPath(`/v2/docker.io/library/nginx/blobs/${digest}`)).toEqual({
      kind: 'blob',
      name: 'docker.io/library/nginx',
      digest,
    });
    expect(parseRegistryPath('/v2/registry.local:5000/team/app/tags/list')).toEqual({
      kind: 'tags',
      name: 'registry.local:5000/team/app',
    });
  });

  it('recognises upload endpoints (so push can be refused as unsupported)', () => {
    // The spec's push endpoint is POST /v2/<name>/blobs/uploads/ — with the trailing slash.
    expect(parseRegistryPath('/v2/library/nginx/blobs/uploads/')).toEqual({ kind: 'upload', name: 'library/nginx' });
    expect(parseRegistryPath('/v2/library/nginx/blobs/uploads')).toEqual({ kind: 'upload', name: 'library/nginx' });
    expect(parseRegistryPath('/v2/team/app/api/blobs/uploads/')).toEqual({ kind: 'upload', name: 'team/app/api' });
    expect(parseRegistryPath('/v2/library/nginx/blobs/uploads/3f1b2c4d-uuid')).toEqual({ kind: 'upload', name: 'library/nginx' });
  });

  it('parses a repository whose last component is a keyword', () => {
    expect(parseRegistryPath('/v2/foo/manifests/manifests/latest')).toEqual({
      kind: 'manifest',
      name: 'foo/manifests',
      reference: 'latest',
    });
    expect(parseRegistryPath(`/v2/foo/blobs/blobs/${digest}`)).toEqual({ kind: 'blob', name: 'foo/blobs', digest });
    expect(parseRegistryPath('/v2/tags/tags/list')).toEqual({ kind: 'tags', name: 'tags' });
    expect(parseRegistryPath('/v2/manifests/manifests/latest')).toEqual({ kind: 'manifest', name: 'manifests', reference: 'latest' });
  });

  it('parses a repository named .../blobs/uploads like any other', () => {
    expect(parseRegistryPath('/v2/foo/blobs/uploads/manifests/latest')).toEqual({
      kind: 'manifest',
      name: 'foo/blobs/uploads',
      reference: 'latest',
    });
    expect(parseRegistryPath(`/v2/foo/blobs/uploads/manifests/${digest}`)).toEqual({
      kind: 'manifest',
      name: 'foo/blobs/uploads',
      reference: digest,
    });
    expect(parseRegistryPath(`/v2/foo/blobs/uploads/blobs/${digest}`)).toEqual({ kind: 'blob', name: 'foo/blobs/uploads', digest });
    expect(parseRegistryPath('/v2/foo/blobs/uploads/tags/list')).toEqual({ kind: 'tags', name: 'foo/blobs/uploads' });
    expect(parseRegistryPath(`/v2/foo/blobs/uploads/referrers/${digest}`)).toEqual({ kind: 'referrers', name: 'foo/blobs/uploads', digest });
    expect(parseRegistryPath('/v2/foo/blobs/uploads/blobs/uploads/')).toEqual({ kind: 'upload', name: 'foo/blobs/uploads' });
  });

  it('still parses the upload endpoints of repository foo', () => {
    expect(parseRegistryPath('/v2/foo/blobs/uploads/')).toEqual({ kind: 'upload', name: 'foo' });
    expect(parseRegistryPath('/v2/foo/blobs/uploads/0b9a6a6e-8f5e-4c0a-9d55-2f5c5d0b7c11')).toEqual({ kind: 'upload', name: 'foo' });
    expect(parseRegistryPath('/v2/foo/blobs/uploads/manifests')).toEqual({ kind: 'upload', name: 'foo' });
  });

  it.each([
    ['encoded slash', '/v2/library%2Fnginx/manifests/latest'],
    ['encoded slash, lowercase', '/v2/library%2fnginx/manifests/latest'],
    ['encoded dot-dot', '/v2/%2e%2e/secret/manifests/latest'],
    ['encoded dot-dot, uppercase', '/v2/library/%2E%2E/manifests/latest'],
    ['encoded digest colon', '/v2/library/nginx/blobs/sha256%3Aabc'],
    ['dot-dot segment', '/v2/library/../nginx/manifests/latest'],
    ['dot-dot as the name', '/v2/../manifests/latest'],
    ['single dot segment', '/v2/library/./nginx/manifests/latest'],
    ['dot-dot as the reference', '/v2/library/nginx/blobs/..'],
    ['empty segment', '/v2/library//nginx/manifests/latest'],
    ['leading empty segment', '/v2//library/nginx/manifests/latest'],
    ['double trailing slash', '/v2/library/nginx/blobs/uploads//'],
    ['NUL byte', '/v2/library/nginx\0/manifests/latest'],
    ['backslash', '/v2/library\\nginx/manifests/latest'],
    ['backslash dot-dot', '/v2/library/..\\..\\etc/manifests/latest'],
  ])('rejects %s with NAME_INVALID', (_label, path) => {
    expectNameInvalid(path);
  });

  it('rejects paths over 2048 characters', () => {
    const name = Array.from({ length: 300 }, () => 'abcdef').join('/');
    const path = `/v2/${name}/manifests/latest`;
    expect(path.length).toBeGreaterThan(2048);
    expectNameInvalid(path);
  });

  it('accepts a long but legal path under the limit', () => {
    const name = `ghcr.io/${'a'.repeat(255)}`;
    expect(parseRegistryPath(`/v2/${name}/manifests/latest`)).toEqual({ kind: 'manifest', name, reference: 'latest' });
  });

  it.each([
    ['not a registry path', '/healthz'],
    ['another API version', '/v1/library/nginx/manifests/latest'],
    ['prefix that only starts with v2', '/v2x/library/nginx/manifests/latest'],
    ['name only', '/v2/library/nginx'],
    ['unknown action', '/v2/library/nginx/layers/latest'],
    ['manifests without a name', '/v2/manifests/latest'],
    ['blobs without a name', `/v2/blobs/${digest}`],
    ['tags without list', '/v2/library/nginx/tags'],
    ['_catalog', '/v2/_catalog'],
  ])('returns undefined for %s', (_label, path) => {
    expect(parseRegistryPath(path)).toBeUndefined();
  });
});
