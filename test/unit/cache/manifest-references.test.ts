// Manifest references as the spec has a registry answer them: a tag the grammar forbids is a manifest not
// found (404, no upstream request), a malformed digest is 400; and a tag asked for with a narrow Accept is
// served from the tag record within the window.
import { describe, expect, it } from 'vitest';
import { mediaTypes } from '../../../src/oci/media-types.js';
import { coreUnderTest, routeTo } from './core-under-test.js';
import { ScriptedUpstream } from './scripted-upstream.js';

const ttl = 60_000;

async function setup() {
  const upstream = new ScriptedUpstream();
  const image = upstream.pushImage('team/app', 'latest', [Buffer.from('layer')]);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      manifests: [{ mediaType: mediaTypes.ociManifest, digest: image.digest, size: image.manifest.length }],
    }),
  );
  const indexDigest = upstream.pushManifest('team/app', index, mediaTypes.ociIndex, 'multi');
  const core = await coreUnderTest({ tagTtlMs: ttl });
  const route = routeTo(upstream, 'team/app');
  return { upstream, core, route, image, indexDigest };
}

describe('invalid references', () => {
  it('answers a tag the grammar forbids with 404 MANIFEST_UNKNOWN, GET and HEAD, without asking upstream', async () => {
    const s = await setup();
    for (const tag of ['.INVALID_MANIFEST_NAME', '-v1', 't'.repeat(129), 'v1$(id)', 'a/b', '*']) {
      for (const head of [false, true]) {
        await expect(s.core.pullThrough.manifest(s.route, tag, { accept: undefined, head }), tag).rejects.toMatchObject({
          code: 'MANIFEST_UNKNOWN',
          status: 404,
        });
      }
    }
    expect(s.upstream.calls).toEqual([]);
  });

  it('answers a malformed digest with 400 DIGEST_INVALID: a reference with ":" can only be meant as one', async () => {
    const s = await setup();
    for (const reference of ['md5:d41d8cd98f00b204e9800998ecf8427e', 'sha256:abc', 'SHA256:' + 'a'.repeat(64), 'app:v1', `v1@${s.image.digest}`]) {
      await expect(s.core.pullThrough.manifest(s.route, reference, { accept: undefined, head: false }), reference).rejects.toMatchObject({
        code: 'DIGEST_INVALID',
        status: 400,
      });
    }
    expect(s.upstream.calls).toEqual([]);
  });
});

describe('a narrow Accept', () => {
  it('is served from the tag record within the window once tender knows what the tag points to', async () => {
    const s = await setup();
    const narrow = { accept: mediaTypes.ociManifest, head: false };
    const first = await s.core.pullThrough.manifest(s.route, 'latest', narrow);
    expect(first).toMatchObject({ digest: s.image.digest, mediaType: mediaTypes.ociManifest, result: 'miss' });
    expect(first.body?.equals(s.image.manifest)).toBe(true);
    // What the tag points to for everyone (a HEAD with the full list), then the manifest by digest.
    expect(s.upstream.calls.map((c) => `${c.method} ${c.reference}`)).toEqual(['headManifest latest', `getManifest ${s.image.digest}`]);
    s.core.advance(ttl - 1);
    for (const request of [narrow, { ...narrow, head: true }, { accept: undefined, head: false }]) {
      expect(await s.core.pullThrough.manifest(s.route, 'latest', request)).toMatchObject({ digest: s.image.digest, result: 'hit' });
    }
    expect(s.upstream.calls).toHaveLength(2);
  });

  it('asks upstream each time when the tag points to a type the client does not take (a registry may convert)', async () => {
    const s = await setup();
    const narrow = { accept: mediaTypes.ociManifest, head: false };
    // The index is recorded for everyone; this client does not take an index, so its answer is its own,
    // from upstream (the scripted upstream ignores Accept; a real one may convert or refuse).
    await s.core.pullThrough.manifest(s.route, 'multi', narrow);
    await s.core.pullThrough.manifest(s.route, 'multi', narrow);
    expect(s.upstream.count('headManifest', 'multi')).toBe(1);
    expect(s.upstream.count('getManifest', 'multi')).toBe(2);
    // A client that takes the index is served what the record says.
    expect(await s.core.pullThrough.manifest(s.route, 'multi', { accept: mediaTypes.ociIndex, head: true })).toMatchObject({
      digest: s.indexDigest,
      result: 'hit',
    });
    expect(s.upstream.calls).toHaveLength(3);
  });
});
