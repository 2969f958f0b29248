// Tag resolution on the injected clock: fresh / expired / stale, revalidation, immutability and pins,
// retry-after, and a record that cannot be read.
import { describe, expect, it } from 'vitest';
import { mediaTypes } from '../../../src/oci/media-types.js';
import { counter, coreUnderTest, routeTo } from './core-under-test.js';
import { eio } from './memory-metadata-store.js';
import { ScriptedUpstream } from './scripted-upstream.js';

const containerd = [mediaTypes.dockerManifest, mediaTypes.dockerManifestList, mediaTypes.ociManifest, mediaTypes.ociIndex, '*/*'].join(', ');
const get = { accept: containerd, head: false };
const head = { accept: containerd, head: true };
const ttl = 60_000;

async function setup(settings: Parameters<typeof coreUnderTest>[0] = {}) {
  const upstream = new ScriptedUpstream();
  const v1 = upstream.pushImage('team/app', 'latest', [Buffer.from('layer one')], 'v1');
  const v2 = upstream.pushImage('team/app', undefined, [Buffer.from('layer two')], 'v2');
  const core = await coreUnderTest({ tagTtlMs: ttl, ...settings });
  const route = routeTo(upstream, 'team/app');
  const resolve = (request = get, tag = 'latest') => core.pullThrough.manifest(route, tag, request);
  const revalidations = (outcome: string) => counter(core.metrics, 'tender_tag_revalidations_total', { outcome });
  return { upstream, core, route, resolve, v1, v2, revalidations };
}

describe('tag freshness', () => {
  it('asks upstream once on first sight, nothing within the window, and serves from the record', async () => {
    const s = await setup();
    expect(await s.resolve()).toMatchObject({ digest: s.v1.digest, result: 'miss' });
    expect(s.upstream.calls.map((c) => c.method)).toEqual(['getManifest']);
    s.upstream.retag('team/app', 'latest', s.v2.digest);
    s.core.advance(ttl - 1);
    for (const request of [get, head, get]) expect(await s.resolve(request)).toMatchObject({ digest: s.v1.digest, result: 'hit' });
    expect(s.upstream.calls).toHaveLength(1);
  });

  it('revalidates an expired tag with one HEAD (and no GET) when it did not move', async () => {
    const s = await setup();
    await s.resolve();
    s.core.advance(ttl);
    const answers = await Promise.all(Array.from({ length: 5 }, () => s.resolve()));
    for (const answer of answers) expect(answer).toMatchObject({ digest: s.v1.digest, result: 'hit' });
    expect(s.upstream.count('headManifest', 'latest')).toBe(1);
    expect(s.upstream.count('getManifest')).toBe(1); // the first sight only
    expect(await s.revalidations('unchanged')).toBe(1);
    // Confirmed: fresh again for a whole window.
    s.core.advance(ttl - 1);
    await s.resolve();
    expect(s.upstream.count('headManifest')).toBe(1);
  });

  it('follows a moved tag: the new manifest is fetched by digest, never by tag', async () => {
    const s = await setup();
    await s.resolve();
    s.upstream.retag('team/app', 'latest', s.v2.digest);
    s.core.advance(ttl);
    const moved = await s.resolve();
    expect(moved).toMatchObject({ digest: s.v2.digest, result: 'miss' });
    expect(moved.body?.equals(s.v2.manifest)).toBe(true);
    expect(s.upstream.calls.slice(1).map((c) => `${c.method} ${c.reference}`)).toEqual([`headManifest latest`, `getManifest ${s.v2.digest}`]);
    expect(await s.revalidations('changed')).toBe(1);
    expect(s.core.metadata.tags.get('registry.test/team/app:latest')?.digest).toBe(s.v2.digest);
  });

  it('serves the last known digest (stale) when upstream fails, and asks again only after the back-off', async () => {
    const s = await setup();
    await s.resolve();
    s.upstream.failure = new Error('connect ECONNREFUSED');
    s.core.advance(ttl);
    expect(await s.resolve()).toMatchObject({ digest: s.v1.digest, result: 'stale' });
    expect(await s.revalidations('error')).toBe(1);
    // Within the back-off: stale without asking (or logging) again.
    const warnings = () => s.core.logs.filter((l) => l.msg === 'upstream revalidation failed; serving last known digest');
    s.core.advance(9_999);
    expect(await s.resolve()).toMatchObject({ digest: s.v1.digest, result: 'stale' });
    expect(s.upstream.count('headManifest')).toBe(1);
    expect(warnings()).toHaveLength(1);
    s.core.advance(1);
    expect(await s.resolve()).toMatchObject({ result: 'stale' });
    expect(s.upstream.count('headManifest')).toBe(2);
    expect(warnings()).toHaveLength(2);
    // Upstream is back: the next expired request revalidates and the tag is fresh again.
    s.upstream.failure = undefined;
    s.core.advance(10_000);
    expect(await s.resolve()).toMatchObject({ digest: s.v1.digest, result: 'hit' });
  });

  it('serves stale when upstream does not answer within staleTimeout, without waiting for it', async () => {
    const s = await setup({ staleTimeoutMs: 1 });
    await s.resolve();
    s.upstream.hang = true;
    s.core.advance(ttl);
    expect(await s.resolve()).toMatchObject({ digest: s.v1.digest, result: 'stale' });
    expect(await s.revalidations('timeout')).toBe(1);
    s.core.close();
  });

  it('forgets a tag upstream deleted, and answers MANIFEST_UNKNOWN', async () => {
    const s = await setup();
    await s.resolve();
    s.upstream.retag('team/app', 'latest', undefined);
    s.core.advance(ttl);
    await expect(s.resolve()).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    expect(s.core.metadata.tags.has('registry.test/team/app:latest')).toBe(false);
    expect(await s.revalidations('gone')).toBe(1);
  });

  it('never expires a record of an offline upstream', async () => {
    const s = await setup();
    await s.resolve();
    const offline = new ScriptedUpstream('registry.test', { offline: true });
    offline.failure = new Error('must not be asked');
    s.core.advance(365 * 24 * 3600_000);
    expect(await s.core.pullThrough.manifest(routeTo(offline, 'team/app'), 'latest', get)).toMatchObject({ digest: s.v1.digest, result: 'hit' });
    expect(offline.calls).toEqual([]);
  });

  it('answers a HEAD of an unknown tag with an upstream HEAD only, and records it', async () => {
    const s = await setup();
    expect(await s.resolve(head)).toMatchObject({ digest: s.v1.digest, body: undefined, result: 'miss' });
    expect(s.upstream.calls.map((c) => c.method)).toEqual(['headManifest']);
    // The GET that follows (containerd) takes the body by digest; the tag is fresh.
    expect(await s.resolve(get)).toMatchObject({ digest: s.v1.digest, result: 'miss' });
    expect(s.upstream.calls.map((c) => `${c.method} ${c.reference}`)).toEqual(['headManifest latest', `getManifest ${s.v1.digest}`]);
  });

  it('records for a client with a narrow Accept only what a HEAD with the full list says, never its own answer', async () => {
    const s = await setup();
    await s.resolve({ accept: mediaTypes.dockerManifest, head: false });
    // What every client gets; this client takes no OCI manifest, so its answer is fetched for it alone.
    expect(s.core.metadata.tags.get('registry.test/team/app:latest')?.digest).toBe(s.v1.digest);
    expect(s.upstream.calls.map((c) => `${c.method} ${c.reference}`)).toEqual(['headManifest latest', 'getManifest latest']);
    s.upstream.retag('team/app', 'latest', s.v2.digest);
    await s.resolve({ accept: mediaTypes.dockerManifest, head: false });
    expect(s.core.metadata.tags.get('registry.test/team/app:latest')?.digest).toBe(s.v1.digest);
  });
});

describe('tag policies', () => {
  const policies = (mode: 'enforce' | 'warn', pins: string[] = []) => new Map([['registry.test', { immutableTags: ['v*'], immutableTagsMode: mode, pins }]]);

  it('keeps the first digest of an immutable tag that moved upstream (enforce), logging and counting both digests', async () => {
    const s = await setup({ tagPolicies: policies('enforce') });
    s.upstream.retag('team/app', 'v1.0', s.v1.digest);
    expect(await s.resolve(get, 'v1.0')).toMatchObject({ digest: s.v1.digest });
    s.upstream.retag('team/app', 'v1.0', s.v2.digest);
    s.core.advance(ttl);
    expect(await s.resolve(get, 'v1.0')).toMatchObject({ digest: s.v1.digest, result: 'hit' });
    expect(await counter(s.core.metrics, 'tender_tag_changes_refused_total', { mode: 'enforce' })).toBe(1);
    expect(await s.revalidations('refused')).toBe(1);
    const logged = s.core.logs.find((l) => l.msg === 'immutable tag moved upstream; keeping the first digest');
    expect(logged).toMatchObject({ kept: s.v1.digest, upstream_digest: s.v2.digest, mode: 'enforce' });
    // A tag the policy does not name follows upstream.
    s.upstream.retag('team/app', 'latest', s.v2.digest);
    expect(await s.resolve(get, 'latest')).toMatchObject({ digest: s.v2.digest });
  });

  it('follows the move in warn mode, but says so', async () => {
    const s = await setup({ tagPolicies: policies('warn') });
    s.upstream.retag('team/app', 'v1.0', s.v1.digest);
    await s.resolve(get, 'v1.0');
    s.upstream.retag('team/app', 'v1.0', s.v2.digest);
    s.core.advance(ttl);
    expect(await s.resolve(get, 'v1.0')).toMatchObject({ digest: s.v2.digest });
    expect(await counter(s.core.metrics, 'tender_tag_changes_refused_total', { mode: 'warn' })).toBe(1);
  });

  it('serves exactly the pinned digest for a pinned tag, never asking upstream about the tag', async () => {
    const s = await setup();
    const pinned = await setup({ tagPolicies: policies('enforce', [`team/app:stable@${s.v2.digest}`]) });
    pinned.upstream.retag('team/app', 'stable', pinned.v1.digest);
    expect(await pinned.resolve(get, 'stable')).toMatchObject({ digest: pinned.v2.digest });
    expect(pinned.upstream.calls.filter((c) => c.reference === 'stable')).toEqual([]);
  });
});

describe('an unreadable tag record', () => {
  it('is resolved upstream as a miss (never a 500), counted, and logged once per interval', async () => {
    const s = await setup();
    for (const tag of ['a', 'b', 'c', 'd']) s.upstream.retag('team/app', tag, s.v1.digest);
    s.core.metadata.readFailure = eio();
    for (const tag of ['a', 'b', 'c']) expect(await s.resolve(get, tag)).toMatchObject({ digest: s.v1.digest, result: 'miss' });
    expect(await counter(s.core.metrics, 'tender_cache_read_errors_total', { kind: 'tag' })).toBe(3);
    const logged = () => s.core.logs.filter((l) => l.msg === 'cache metadata read failed; going on as if nothing were recorded' && l.kind === 'tag');
    expect(logged()).toHaveLength(1);
    s.core.advance(30_000);
    await s.resolve(get, 'd');
    expect(logged()).toHaveLength(2);
    expect(logged()[1]).toMatchObject({ alsoFailed: 2 });
  });

  it('falls back to the record in memory when one is there, expired or not', async () => {
    const s = await setup();
    await s.resolve();
    s.core.metadata.readFailure = eio();
    s.core.advance(ttl);
    expect(await s.resolve()).toMatchObject({ digest: s.v1.digest, result: 'hit' });
    expect(s.upstream.count('headManifest')).toBe(1);
  });
});
