// The synchronous "answer from memory if you can" step (cache/memory-answers.ts) through the real core: it
// answers a warm hit exactly as the async path would, and steps aside (undefined) whenever the async path has
// something to decide: a miss, an expired tag, a digest the repository is not known to see, a policy, eviction.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Route } from '../../../src/cache/ports.js';
import type { ServePolicy } from '../../../src/cache/serve-policy.js';
import { mediaTypes } from '../../../src/oci/media-types.js';
import { bodyOf, coreUnderTest, routeTo, until } from './core-under-test.js';
import { ScriptedUpstream, sha256 } from './scripted-upstream.js';

const containerd = [mediaTypes.dockerManifest, mediaTypes.dockerManifestList, mediaTypes.ociManifest, mediaTypes.ociIndex, '*/*'].join(', ');
const get = { accept: containerd, head: false };
const head = { accept: containerd, head: true };
const ttl = 60_000;

async function setup(settings: Parameters<typeof coreUnderTest>[0] = {}, upstream = new ScriptedUpstream()) {
  const v1 = upstream.pushImage('team/app', 'latest', [randomBytes(300)], 'v1');
  const v2 = upstream.pushImage('team/app', undefined, [randomBytes(300)], 'v2');
  const core = await coreUnderTest({ tagTtlMs: ttl, ...settings });
  const route = routeTo(upstream, 'team/app');
  return { upstream, core, route, v1, v2, now: core.pullThrough };
}

describe('manifests answered from memory', () => {
  it('answers a cached manifest by digest with no await, as the async path does, and nothing uncached', async () => {
    const s = await setup();
    expect(s.now.manifestNow(s.route, s.v1.digest, get)).toBeUndefined();
    const first = await s.now.manifest(s.route, s.v1.digest, get);
    expect(first.result).toBe('miss');
    const hit = s.now.manifestNow(s.route, s.v1.digest, get);
    expect(hit).toMatchObject({ digest: s.v1.digest, mediaType: mediaTypes.ociManifest, size: s.v1.manifest.length, result: 'hit' });
    expect(hit?.body?.equals(s.v1.manifest)).toBe(true);
    expect(await s.now.manifest(s.route, s.v1.digest, get)).toEqual(hit);
    // HEAD: the same answer and length (the HTTP layer sends no body).
    expect(s.now.manifestNow(s.route, s.v1.digest, head)).toMatchObject({ digest: s.v1.digest, size: s.v1.manifest.length, result: 'hit' });
    expect(s.upstream.count('getManifest')).toBe(1);
  });

  it('answers a fresh tag from its record, steps aside once it expires, and follows the tag when it moves', async () => {
    const s = await setup();
    expect(s.now.manifestNow(s.route, 'latest', get)).toBeUndefined();
    await s.now.manifest(s.route, 'latest', get);
    expect(s.now.manifestNow(s.route, 'latest', get)).toMatchObject({ digest: s.v1.digest, result: 'hit' });
    expect(s.now.manifestNow(s.route, 'latest', head)).toMatchObject({ digest: s.v1.digest, size: s.v1.manifest.length, body: undefined, result: 'hit' });
    // A client that takes none of the recorded type is the async path's (it asks upstream for its own answer).
    expect(s.now.manifestNow(s.route, 'latest', { accept: mediaTypes.dockerManifest, head: false })).toBeUndefined();
    s.upstream.retag('team/app', 'latest', s.v2.digest);
    s.core.advance(ttl);
    expect(s.now.manifestNow(s.route, 'latest', get)).toBeUndefined();
    expect(await s.now.manifest(s.route, 'latest', get)).toMatchObject({ digest: s.v2.digest, result: 'miss' });
    expect(s.now.manifestNow(s.route, 'latest', get)).toMatchObject({ digest: s.v2.digest, result: 'hit' });
  });

  it('announces a memory answer as a pull event, once', async () => {
    const s = await setup();
    const client = { address: '192.0.2.1', requestId: 'r-1' };
    await s.now.manifest(s.route, 'latest', { ...get, client });
    expect(s.now.manifestNow(s.route, 'latest', { ...get, client: { ...client, requestId: 'r-2' } })).toBeDefined();
    expect(s.core.events.map((e) => [e.requestId, e.digest, e.cacheResult])).toEqual([
      ['r-1', s.v1.digest, 'miss'],
      ['r-2', s.v1.digest, 'hit'],
    ]);
  });

  it('leaves a digest cached through another repository of a private upstream to the async path (which confirms it upstream)', async () => {
    const upstream = new ScriptedUpstream('private.test', { private: true });
    upstream.pushImage('team/other', 'latest', [], 'v1');
    const s = await setup({}, upstream);
    const other = routeTo(upstream, 'team/other');
    await s.now.manifest(s.route, s.v1.digest, get);
    // team/other holds another manifest; ask for v1 through it: not known to be visible there.
    expect(s.now.manifestNow(other, s.v1.digest, get)).toBeUndefined();
    await expect(s.now.manifest(other, s.v1.digest, get)).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    expect(s.now.manifestNow(s.route, s.v1.digest, get)).toMatchObject({ result: 'hit' });
  });

  it('steps aside for a policy that refuses or cannot judge from memory; the async path decides', async () => {
    const refused = new Set<string>();
    const screen: ServePolicy = {
      screen: (_route: Route, reference: string) =>
        refused.has(reference) ? { allowed: false, reason: 'not-allowed', message: 'refused by the test' } : { allowed: true },
    };
    let judged = 0;
    const judge: ServePolicy = {
      screen: () => ({ allowed: true }),
      judge: async () => {
        judged += 1;
        return { allowed: true };
      },
    };
    const s = await setup({ policies: [screen, judge] });
    await s.now.manifest(s.route, s.v1.digest, get);
    expect(s.now.manifestNow(s.route, s.v1.digest, get)).toBeUndefined(); // judge has no judgeNow
    await s.now.manifest(s.route, s.v1.digest, get);
    expect(judged).toBe(2);
    const t = await setup({ policies: [screen] });
    await t.now.manifest(t.route, t.v1.digest, get);
    expect(t.now.manifestNow(t.route, t.v1.digest, get)).toBeDefined();
    refused.add(t.v1.digest);
    expect(t.now.manifestNow(t.route, t.v1.digest, get)).toBeUndefined();
    await expect(t.now.manifest(t.route, t.v1.digest, get)).rejects.toMatchObject({ code: 'DENIED' });
  });

  it('never answers an evicted manifest from memory', async () => {
    const s = await setup({ maxCacheBytes: 2_500, smallBlobBytes: 100 });
    await s.now.manifest(s.route, s.v1.digest, get);
    expect(s.now.manifestNow(s.route, s.v1.digest, get)).toBeDefined();
    // Fill the cache past its cap with blobs used after the manifest: the manifest is the least recent.
    for (let i = 0; i < 3; i++) {
      const bytes = randomBytes(1_000);
      s.upstream.pushBlob('team/app', bytes);
      await bodyOf(await s.now.blob(s.route, sha256(bytes), { head: false }));
    }
    await until(() => s.now.cachedSize(s.v1.digest) === undefined);
    expect(s.now.manifestNow(s.route, s.v1.digest, get)).toBeUndefined();
  });
});

describe('blobs answered from memory', () => {
  it('answers a small blob in memory and a large committed one, never a HEAD or an uncached blob', async () => {
    const s = await setup({ smallBlobBytes: 400 });
    const [layer] = s.v1.layers as [string];
    const large = randomBytes(2_000);
    const largeDigest = s.upstream.pushBlob('team/app', large);
    expect(s.now.blobNow(s.route, layer, false)).toBeUndefined();
    // The download, then the first hit, which reads the small blob into memory (hashed).
    for (let i = 0; i < 2; i++) await bodyOf(await s.now.blob(s.route, layer, { head: false }));
    await bodyOf(await s.now.blob(s.route, largeDigest, { head: false }));
    const small = s.now.blobNow(s.route, layer, false);
    expect(small).toMatchObject({ size: 300, result: 'hit' });
    expect(small?.bytes?.equals(s.v1.blobs.get(layer)!)).toBe(true);
    const big = s.now.blobNow(s.route, largeDigest, false);
    expect(big).toMatchObject({ size: 2_000, result: 'hit' });
    expect((await bodyOf(big!)).equals(large)).toBe(true);
    expect(s.now.blobNow(s.route, layer, true)).toBeUndefined();
    expect(s.now.blobNow(s.route, 'sha256:nothex', false)).toBeUndefined();
    expect(s.upstream.count('getBlob')).toBe(2);
  });
});
