// Prebuilt response heads (head-cache.ts): one per digest, rebuilt when what is not the digest's alone changes.
import { describe, expect, it } from 'vitest';
import { HeadCache, withBase } from '../../../src/http/head-cache.js';

const a = `sha256:${'a'.repeat(64)}`;
const b = `sha256:${'b'.repeat(64)}`;
const oci = 'application/vnd.oci.image.manifest.v1+json';
const index = 'application/vnd.oci.image.index.v1+json';
const asRecord = (flat: readonly string[]) =>
  Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i]!.toLowerCase(), flat[2 * i + 1]]));

describe('prebuilt heads', () => {
  it("holds a manifest hit's headers, built once per digest", () => {
    const heads = new HeadCache();
    const head = heads.manifest(a, oci, 123);
    expect(asRecord(head)).toEqual({
      'content-type': oci,
      'docker-content-digest': a,
      etag: `"${a}"`,
      'cache-status': 'tender; hit',
      'content-length': '123',
    });
    expect(heads.manifest(a, oci, 123)).toBe(head);
  });

  it('gives a tag that moved the head of its new digest', () => {
    const heads = new HeadCache();
    const before = heads.manifest(a, oci, 123);
    const after = heads.manifest(b, oci, 456);
    expect(asRecord(after)).toMatchObject({ 'docker-content-digest': b, etag: `"${b}"`, 'content-length': '456' });
    expect(heads.manifest(a, oci, 123)).toBe(before);
  });

  it('builds the head again when the media type or size of a digest is not what it was built for', () => {
    const heads = new HeadCache();
    const first = heads.manifest(a, oci, 123);
    expect(asRecord(heads.manifest(a, index, 123))['content-type']).toBe(index);
    expect(asRecord(heads.manifest(a, index, 124))['content-length']).toBe('124');
    expect(heads.manifest(a, oci, 123)).not.toBe(first);
  });

  it('keeps blob and manifest heads of one digest apart, and is bounded', () => {
    const heads = new HeadCache(2);
    expect(asRecord(heads.blob(a, 10))).toMatchObject({ 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', 'content-length': '10' });
    expect(asRecord(heads.manifest(a, oci, 10))['accept-ranges']).toBeUndefined();
    const kept = heads.blob(a, 10);
    heads.manifest(b, oci, 1);
    heads.blob(b, 1);
    expect(heads.blob(a, 10)).not.toBe(kept);
  });

  it("puts a request's own headers first, leaving the prebuilt list untouched", () => {
    const heads = new HeadCache();
    const head = heads.blob(a, 10);
    const copy = [...head];
    const headers = withBase({ 'x-request-id': 'r-1', 'docker-distribution-api-version': 'registry/2.0' }, head);
    expect(headers.slice(0, 4)).toEqual(['x-request-id', 'r-1', 'docker-distribution-api-version', 'registry/2.0']);
    expect(headers.slice(4)).toEqual(copy);
    expect(head).toEqual(copy);
  });
});
