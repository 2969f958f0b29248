// What the CLI asks of the core: the one image walk (seed through the pull path, export from the cache
// only), storing verified content and adopting it (import), and the pull-event hook.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { mediaTypes } from '../../../src/oci/media-types.js';
import { coreUnderTest, routeTo, testClient } from './core-under-test.js';
import { ScriptedUpstream, type PushedImage } from './scripted-upstream.js';

function pushIndex(upstream: ScriptedUpstream, tag: string) {
  const amd64 = upstream.pushImage('team/app', undefined, [randomBytes(500)], 'amd64');
  const arm64 = upstream.pushImage('team/app', undefined, [randomBytes(500)], 'arm64');
  const child = (image: PushedImage, architecture: string) => ({
    mediaType: mediaTypes.ociManifest,
    digest: image.digest,
    size: image.manifest.length,
    platform: { os: 'linux', architecture },
  });
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [child(amd64, 'amd64'), child(arm64, 'arm64')] }));
  const digest = upstream.pushManifest('team/app', body, mediaTypes.ociIndex, tag);
  return { digest, body, amd64, arm64 };
}

describe('image walk', () => {
  it('walks an index through the pull path, narrowed to the platforms asked for', async () => {
    const upstream = new ScriptedUpstream();
    const index = pushIndex(upstream, 'v1');
    const core = await coreUnderTest();
    const route = routeTo(upstream, 'team/app');
    const walked = await core.pullThrough.image(route, 'v1', { platforms: ['linux/arm64'] });
    expect(walked.top).toEqual({ digest: index.digest, mediaType: mediaTypes.ociIndex, size: index.body.length });
    expect(walked.manifests.map((m) => m.digest)).toEqual([index.digest, index.arm64.digest]);
    expect(walked.blobs.map((b) => b.digest)).toEqual([index.arm64.config, ...index.arm64.layers]);
    // From the cache only: the platform never fetched is left out, and nothing is asked upstream.
    upstream.calls.length = 0;
    const cached = await core.pullThrough.image(route, index.digest, { cachedOnly: true });
    expect(cached.manifests.map((m) => m.digest)).toEqual([index.digest, index.arm64.digest]);
    expect(cached.missing.map((m) => m.digest)).toEqual([index.amd64.digest]);
    expect(upstream.calls).toEqual([]);
  });
});

describe('prefetch, store and adopt (seed, import)', () => {
  it('adopts content verified into the store: tag, manifest records, pins and visibility, as if pulled through', async () => {
    const upstream = new ScriptedUpstream('private.test', { private: true });
    const image = upstream.pushImage('team/app', undefined, [randomBytes(700)]);
    const core = await coreUnderTest();
    const route = routeTo(upstream, 'team/app');
    for (const [digest, bytes] of [...image.blobs, [image.digest, image.manifest] as const]) {
      expect(await core.pullThrough.storeVerified(digest, bytes.length, Readable.from([bytes]))).toEqual({ stored: true });
    }
    await core.pullThrough.adopt({ route, tag: '1.0', digest: image.digest, mediaType: '' });
    upstream.failure = new Error('offline: must not be asked');
    expect(await core.pullThrough.manifest(route, '1.0', { accept: undefined, head: false })).toMatchObject({
      digest: image.digest,
      mediaType: mediaTypes.ociManifest,
      result: 'hit',
    });
    expect((await core.pullThrough.blob(route, image.layers[0]!, { head: false })).result).toBe('hit');
    expect([...core.store.pins].sort()).toEqual([image.digest, ...image.blobs.keys()].sort());
    // Private: another repository of the same upstream was not given it (upstream, asked, does not have it there).
    upstream.failure = undefined;
    await expect(core.pullThrough.blob(routeTo(upstream, 'team/other'), image.layers[0]!, { head: false })).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
  });

  it('refuses content that does not match its digest, and an image whose blobs are not all there', async () => {
    const upstream = new ScriptedUpstream();
    const image = upstream.pushImage('team/app', undefined, [randomBytes(700)]);
    const core = await coreUnderTest();
    const stored = await core.pullThrough.storeVerified(image.layers[0]!, 5, Readable.from([Buffer.from('wrong')]));
    expect(stored).toMatchObject({ stored: false, reason: expect.stringContaining('does not match its digest') });
    await core.pullThrough.storeVerified(image.digest, image.manifest.length, Readable.from([image.manifest]));
    await expect(core.pullThrough.adopt({ route: routeTo(upstream, 'team/app'), tag: '1.0', digest: image.digest, mediaType: '' })).rejects.toMatchObject({
      name: 'AdoptionError',
      message: `${image.config} is referenced but not in the cache`,
    });
    expect(core.metadata.tags.size).toBe(0);
  });
});

describe('pull events', () => {
  it('tells the listener about every manifest a client pulled, and a listener that throws never fails a pull', async () => {
    const upstream = new ScriptedUpstream();
    const image = upstream.pushImage('team/app', 'v1', [randomBytes(100)]);
    const core = await coreUnderTest();
    const route = routeTo(upstream, 'team/app');
    await core.pullThrough.manifest(route, 'v1', { accept: undefined, head: true, client: testClient });
    await core.pullThrough.manifest(route, image.digest, { accept: undefined, head: false, client: { address: '192.0.2.8', requestId: 'req-2' } });
    // A request that names no client is the core's own (nothing to announce).
    await core.pullThrough.manifest(route, image.digest, { accept: undefined, head: false });
    const common = { time: core.now, upstream: 'registry.test', repository: 'team/app', digest: image.digest, mediaType: mediaTypes.ociManifest };
    expect(core.events).toEqual([
      {
        ...common,
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        size: image.manifest.length,
        tag: 'v1',
        cacheResult: 'miss',
        method: 'HEAD',
        clientAddress: '192.0.2.7',
        userAgent: 'containerd/2.0',
        identity: 'alice',
        requestId: 'req-1',
        host: 'mirror.test',
      },
      {
        ...common,
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        size: image.manifest.length,
        cacheResult: 'miss',
        method: 'GET',
        clientAddress: '192.0.2.8',
        requestId: 'req-2',
      },
    ]);
    expect(core.events[0]!.id).not.toBe(core.events[1]!.id);
    // Seeding and judging are not pulls: they are not announced.
    await core.pullThrough.image(route, 'v1');
    await core.pullThrough.judge(route, 'v1');
    expect(core.events).toHaveLength(2);
    core.events.push = () => {
      throw new Error('listener down');
    };
    expect((await core.pullThrough.manifest(route, 'v1', { accept: undefined, head: false, client: testClient })).digest).toBe(image.digest);
  });
});

describe('readiness', () => {
  it('names a disk that takes no writes, and a metadata store that cannot be read', async () => {
    const core = await coreUnderTest();
    expect(await core.pullThrough.readiness()).toEqual([]);
    core.store.probeFailure = Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' });
    expect(await core.pullThrough.readiness()).toEqual([expect.stringMatching(/^cache directory does not take writes: EROFS/)]);
    core.store.probeFailure = undefined;
    core.metadata.readFailure = new Error('EIO');
    expect(await core.pullThrough.readiness()).toEqual(['metadata store unreachable']);
  });
});
