// The inventory in the real core (in-memory ports, scripted upstream, a clock the test moves): records from pulls,
// labels from the config once cached, tag history across a move, batched aggregates, eviction and retention.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { mediaTypes } from '../../../src/oci/media-types.js';
import { coreUnderTest, counter, routeTo, testClient, bodyOf } from './core-under-test.js';
import { MemoryInventoryStore } from './memory-inventory-store.js';
import { ScriptedUpstream } from './scripted-upstream.js';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An image whose config carries labels and whose manifest carries annotations, as `docker build` with LABELs makes. */
function labelledImage(upstream: ScriptedUpstream, repository: string, tag: string, seed: string) {
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { 'org.opencontainers.image.source': `https://git.example/${seed}`, maintainer: 'ops' } },
    }),
  );
  const layer = randomBytes(300);
  const configDigest = upstream.pushBlob(repository, config);
  const layerDigest = upstream.pushBlob(repository, layer);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
      annotations: { 'org.opencontainers.image.revision': `rev-${seed}`, 'org.opencontainers.image.version': seed },
    }),
  );
  const digest = upstream.pushManifest(repository, manifest, mediaTypes.ociManifest, tag);
  return { digest, config: configDigest, layer: layerDigest, manifest };
}

const get = (client = testClient) => ({ accept: undefined, head: false, client });

describe('inventory records from pulls', () => {
  it('records what, where from and the tag; the config labels once the config is cached; contains answers for the layer', async () => {
    const upstream = new ScriptedUpstream();
    const image = labelledImage(upstream, 'team/app', 'v1', 'one');
    const core = await coreUnderTest();
    const route = routeTo(upstream, 'team/app');
    await core.pullThrough.manifest(route, 'v1', get());
    expect(core.pullThrough.queries.show(image.digest)).toMatchObject({
      digest: image.digest,
      mediaType: mediaTypes.ociManifest,
      upstream: 'registry.test',
      repository: 'team/app',
      source: 'pull-through',
      tags: ['v1'],
      annotations: { 'org.opencontainers.image.revision': 'rev-one', 'org.opencontainers.image.version': 'one' },
      labels: {},
      config: image.config,
      state: 'cached',
    });
    // The client fetches the config next: its labels join the record.
    await bodyOf(await core.pullThrough.blob(route, image.config, { head: false }));
    await vi.waitFor(() =>
      expect(core.pullThrough.queries.show(image.digest)!.labels).toEqual({ 'org.opencontainers.image.source': 'https://git.example/one', maintainer: 'ops' }),
    );
    expect(core.pullThrough.queries.contains(image.layer).map((i) => [i.digest, i.tags])).toEqual([[image.digest, ['v1']]]);
    expect(core.pullThrough.queries.contains(image.config).map((i) => i.digest)).toEqual([image.digest]);
    expect(core.pullThrough.queries.contains(sha(Buffer.from('nothing')))).toEqual([]);
  });

  it('keeps a moved tag visible: both digests, the old one no longer current, the time of the move', async () => {
    const upstream = new ScriptedUpstream();
    const first = labelledImage(upstream, 'team/app', 'latest', 'first');
    const core = await coreUnderTest({ tagTtlMs: 1000 });
    const route = routeTo(upstream, 'team/app');
    await core.pullThrough.manifest(route, 'latest', get());
    const before = core.now;
    core.advance(60_000);
    const second = labelledImage(upstream, 'team/app', 'latest', 'second');
    expect((await core.pullThrough.manifest(route, 'latest', get())).digest).toBe(second.digest);
    const history = core.pullThrough.queries.history('registry.test', 'team/app');
    expect(history).toEqual([
      { tag: 'latest', digest: first.digest, firstSeen: new Date(before).toISOString(), lastSeen: new Date(before).toISOString(), current: false },
      { tag: 'latest', digest: second.digest, firstSeen: new Date(core.now).toISOString(), lastSeen: new Date(core.now).toISOString(), current: true },
    ]);
    expect(core.pullThrough.queries.show(first.digest)!.tags).toEqual([]);
    expect(core.pullThrough.queries.show(second.digest)!.tags).toEqual(['latest']);
    // Confirmed again later: lastSeen moves, firstSeen (the move) stays.
    core.advance(60_000);
    await core.pullThrough.manifest(route, 'latest', get());
    const again = core.pullThrough.queries.history('registry.test', 'team/app').find((h) => h.digest === second.digest)!;
    expect(again.lastSeen).toBe(new Date(core.now).toISOString());
    expect(again.firstSeen).toBe(new Date(core.now - 60_000).toISOString());
  });

  it('counts pulls, hits and distinct clients in memory, and writes them in one batch, not per request', async () => {
    const upstream = new ScriptedUpstream();
    const image = labelledImage(upstream, 'team/app', 'v1', 'counted');
    const store = new MemoryInventoryStore();
    const core = await coreUnderTest({ inventory: store });
    const route = routeTo(upstream, 'team/app');
    await core.pullThrough.manifest(route, 'v1', get());
    for (let i = 0; i < 5; i++) await core.pullThrough.manifest(route, image.digest, get({ address: `10.0.0.${i % 2}`, requestId: `r${i}` }));
    core.advance(25 * 3_600_000);
    await core.pullThrough.manifest(route, 'v1', get({ address: '10.0.0.9', requestId: 'late', userAgent: 'ctr/2' }));
    expect(store.saves).toBe(0);
    const pulls = core.pullThrough.queries.pulls(image.digest)!;
    expect(pulls).toMatchObject({ pulls: 7, hits: 6, distinctClients24h: 1, distinctClientsAtLeast: false, lastPulled: new Date(core.now).toISOString() });
    expect(pulls.recent[0]).toEqual({ at: new Date(core.now).toISOString(), client: '10.0.0.9', userAgent: 'ctr/2', tag: 'v1', result: 'hit', method: 'GET' });
    // The core's own walks are no pulls.
    await core.pullThrough.image(route, 'v1');
    expect(core.pullThrough.queries.pulls(image.digest)!.pulls).toBe(7);
    await core.pullThrough.inventory.flush();
    expect(store.saves).toBe(1);
    expect(store.records.get(image.digest)!.pulls.counts).toEqual({ test: { pulls: 7, hits: 6 } });
  });

  it('keeps records the store refused, counts the failure, and writes them at the next flush', async () => {
    const upstream = new ScriptedUpstream();
    const image = labelledImage(upstream, 'team/app', 'v1', 'refused');
    const store = new MemoryInventoryStore();
    const core = await coreUnderTest({ inventory: store });
    await core.pullThrough.manifest(routeTo(upstream, 'team/app'), 'v1', get());
    store.writeFailure = new Error('EIO');
    await core.pullThrough.inventory.flush();
    expect(await counter(core.metrics, 'tender_inventory_write_errors_total')).toBe(1);
    expect(store.records.size).toBe(0);
    store.writeFailure = undefined;
    await core.pullThrough.inventory.flush();
    expect(store.records.get(image.digest)?.tags.map((t) => t.tag)).toEqual(['v1']);
  });

  it('loads what the store holds at start (a restart keeps the record and its counts)', async () => {
    const upstream = new ScriptedUpstream();
    const image = labelledImage(upstream, 'team/app', 'v1', 'restart');
    const store = new MemoryInventoryStore();
    const first = await coreUnderTest({ inventory: store });
    await first.pullThrough.manifest(routeTo(upstream, 'team/app'), 'v1', get());
    await first.pullThrough.inventory.flush();
    const second = await coreUnderTest({ inventory: store });
    expect(second.pullThrough.queries.show(image.digest)).toMatchObject({ tags: ['v1'], pulls: 1 });
  });
});

describe('eviction and the records of evicted content', () => {
  it('marks the record, removes the manifest record and visibility links, and drops the record after the retention', async () => {
    const upstream = new ScriptedUpstream();
    const store = new MemoryInventoryStore();
    const core = await coreUnderTest({ maxCacheBytes: 2000, inventory: store, inventoryRetentionMs: 3_600_000 });
    const route = routeTo(upstream, 'team/app');
    const old = labelledImage(upstream, 'team/app', 'old', 'old');
    await core.pullThrough.manifest(route, 'old', get());
    expect(core.metadata.manifests.has(old.digest)).toBe(true);
    expect([...core.metadata.links].some((l) => l.endsWith(old.digest))).toBe(true);
    core.advance(1000);
    // Newer content pushes the old manifest out (least recently used first).
    for (let i = 0; i < 4; i++) {
      const image = upstream.pushImage('team/app', `n${i}`, [randomBytes(600)], `n${i}`);
      await core.pullThrough.manifest(route, `n${i}`, get());
      for (const layer of image.layers) await bodyOf(await core.pullThrough.blob(route, layer, { head: false }));
    }
    expect(core.pullThrough.cachedSize(old.digest)).toBeUndefined();
    await vi.waitFor(() => expect(core.metadata.manifests.has(old.digest)).toBe(false));
    expect([...core.metadata.links].some((l) => l.endsWith(old.digest))).toBe(false);
    expect(core.pullThrough.queries.show(old.digest)).toMatchObject({ state: 'evicted', tags: ['old'] });
    expect(core.pullThrough.queries.list({}, undefined, 100).images.map((i) => i.digest)).not.toContain(old.digest);
    expect(core.pullThrough.queries.list({ state: 'evicted' }, undefined, 100).images.map((i) => i.digest)).toContain(old.digest);
    await core.pullThrough.inventory.flush();
    expect(store.records.has(old.digest)).toBe(true);
    core.advance(3_600_001);
    await core.pullThrough.inventory.flush();
    expect(core.pullThrough.queries.show(old.digest)).toBeUndefined();
    expect(store.records.has(old.digest)).toBe(false);
  });
});

describe('listing', () => {
  it('pages with a cursor, newest first, and filters by upstream, repository pattern, pinned and pulled since', async () => {
    const upstream = new ScriptedUpstream();
    const core = await coreUnderTest({ pinnedRepositories: ['registry.test/pinned/*'] });
    const digests: string[] = [];
    for (let i = 0; i < 5; i++) {
      const repository = i === 4 ? 'pinned/app' : `team/app${i}`;
      digests.push(labelledImage(upstream, repository, 'v1', `l${i}`).digest);
      await core.pullThrough.manifest(routeTo(upstream, repository), 'v1', get());
      core.advance(1000);
    }
    const first = core.pullThrough.queries.list({}, undefined, 2);
    expect(first.images.map((i) => i.digest)).toEqual([digests[4], digests[3]]);
    const second = core.pullThrough.queries.list({}, first.next, 2);
    expect(second.images.map((i) => i.digest)).toEqual([digests[2], digests[1]]);
    const third = core.pullThrough.queries.list({}, second.next, 2);
    expect(third.images.map((i) => i.digest)).toEqual([digests[0]]);
    expect(third.next).toBeUndefined();
    expect(core.pullThrough.queries.list({ repository: 'team/*' }, undefined, 10).images).toHaveLength(4);
    expect(core.pullThrough.queries.list({ repository: 'registry.test/pinned/**' }, undefined, 10).images.map((i) => i.digest)).toEqual([digests[4]]);
    expect(core.pullThrough.queries.list({ upstream: 'elsewhere' }, undefined, 10).images).toEqual([]);
    expect(core.pullThrough.queries.list({ pulledSince: core.now - 2500 }, undefined, 10).images).toHaveLength(2);
    expect(core.pullThrough.queries.list({ signed: true }, undefined, 10).images).toEqual([]);
    // A cursor that is not ours starts from the top rather than failing.
    expect(core.pullThrough.queries.list({}, '%%%not-a-cursor', 1).images.map((i) => i.digest)).toEqual([digests[4]]);
    core.pullThrough.inventory.verdict(digests[0]!, { policy: 'cosign-keys', verified: true, key: 'release', at: core.now });
    expect(core.pullThrough.queries.list({ signed: true }, undefined, 10).images.map((i) => [i.digest, i.signature])).toEqual([[digests[0], 'verified']]);
  });
});
