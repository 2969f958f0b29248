// Issue 16, item 4 on the injected clock: missing tags remembered, cold GET and HEAD of one tag sharing
// one upstream request, and freshness by tag pattern.
import { describe, expect, it } from 'vitest';
import { isOciError } from '../../../src/oci/errors.js';
import { mediaTypes } from '../../../src/oci/media-types.js';
import { counter, coreUnderTest, routeTo, until } from './core-under-test.js';
import { ScriptedUpstream } from './scripted-upstream.js';

const containerd = [mediaTypes.dockerManifest, mediaTypes.dockerManifestList, mediaTypes.ociManifest, mediaTypes.ociIndex, '*/*'].join(', ');
const get = { accept: containerd, head: false };
const head = { accept: containerd, head: true };

async function setup(settings: Parameters<typeof coreUnderTest>[0] = {}) {
  const upstream = new ScriptedUpstream();
  const v1 = upstream.pushImage('team/app', 'latest', [Buffer.from('layer one')], 'v1');
  const core = await coreUnderTest({ tagTtlMs: 300_000, ...settings });
  const route = routeTo(upstream, 'team/app');
  const resolve = (request = get, tag = 'latest') => core.pullThrough.manifest(route, tag, request);
  return { upstream, core, route, resolve, v1 };
}

async function rejection(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise;
  } catch (err) {
    if (isOciError(err)) return { code: err.code, status: err.status, headers: err.headers };
    throw err;
  }
  throw new Error('resolved');
}

describe('missing tags', () => {
  it('answers 404 without asking upstream again within missingTagTtl, counted and marked, then asks again', async () => {
    const s = await setup({ missingTagTtlMs: 10_000 });
    expect(await rejection(s.resolve(get, 'typo'))).toMatchObject({ code: 'MANIFEST_UNKNOWN', status: 404 });
    expect(s.upstream.calls).toHaveLength(1);
    // containerd retries, a crash-looping Pod: GET and HEAD alike, for ten seconds.
    for (const request of [get, head, get, head]) {
      expect(await rejection(s.resolve(request, 'typo'))).toMatchObject({
        code: 'MANIFEST_UNKNOWN',
        headers: { 'Cache-Status': 'tender; hit; detail=missing' },
      });
    }
    s.core.advance(9_999);
    await rejection(s.resolve(get, 'typo'));
    expect(s.upstream.calls).toHaveLength(1);
    expect(await counter(s.core.metrics, 'tender_missing_tag_hits_total', { upstream: 'registry.test' })).toBe(5);
    // After the window upstream is asked again, and a tag pushed meanwhile is found.
    s.upstream.retag('team/app', 'typo', s.v1.digest);
    s.core.advance(1);
    expect(await s.resolve(get, 'typo')).toMatchObject({ digest: s.v1.digest, result: 'miss' });
    expect(s.upstream.calls).toHaveLength(2);
  });

  it('remembers a tag upstream deleted (the revalidation said 404)', async () => {
    const s = await setup({ missingTagTtlMs: 10_000 });
    await s.resolve();
    s.upstream.retag('team/app', 'latest', undefined);
    s.core.advance(300_000);
    await rejection(s.resolve());
    await rejection(s.resolve());
    expect(s.upstream.count('headManifest', 'latest')).toBe(1);
    expect(s.upstream.count('getManifest', 'latest')).toBe(1); // the first sight only
  });

  it('does not remember outages, nor anything when off; a narrow Accept learns with the full list, whose 404 is remembered', async () => {
    const s = await setup({ missingTagTtlMs: 10_000 });
    s.upstream.failure = new Error('connect ECONNREFUSED');
    await expect(s.resolve(get, 'latest')).rejects.toThrow();
    s.upstream.failure = undefined;
    expect(await s.resolve(get, 'latest')).toMatchObject({ digest: s.v1.digest });
    await rejection(s.resolve({ accept: mediaTypes.ociIndex, head: false }, 'narrow'));
    await rejection(s.resolve({ accept: mediaTypes.ociIndex, head: false }, 'narrow'));
    await rejection(s.resolve(get, 'narrow'));
    expect(s.upstream.calls.filter((c) => c.reference === 'narrow').map((c) => c.method)).toEqual(['headManifest']);

    const off = await setup({ missingTagTtlMs: 0 });
    await rejection(off.resolve(get, 'typo'));
    await rejection(off.resolve(get, 'typo'));
    expect(off.upstream.count('getManifest', 'typo')).toBe(2);
  });
});

describe('a cold tag asked by GET and HEAD at the same moment', () => {
  it('GET first: the HEAD shares its one upstream GET (joined)', async () => {
    const s = await setup();
    const release = s.upstream.pause();
    const getting = s.resolve(get);
    await until(() => s.upstream.calls.length === 1);
    const heading = s.resolve(head);
    const another = s.resolve(get);
    release();
    expect(await getting).toMatchObject({ digest: s.v1.digest, result: 'miss' });
    expect(await heading).toMatchObject({ digest: s.v1.digest, body: undefined, result: 'joined' });
    const joined = await another;
    expect(joined).toMatchObject({ digest: s.v1.digest, result: 'joined' });
    expect(joined.body?.equals(s.v1.manifest)).toBe(true);
    expect(s.upstream.calls.map((c) => `${c.method} ${c.reference}`)).toEqual(['getManifest latest']);
  });

  it('HEAD first: the GET waits for its digest and fetches by digest, shared with the GET by digest that follows the HEAD', async () => {
    const s = await setup();
    const release = s.upstream.pause();
    const heading = s.resolve(head);
    await until(() => s.upstream.calls.length === 1);
    const getting = s.resolve(get);
    release();
    expect(await heading).toMatchObject({ digest: s.v1.digest, result: 'miss' });
    expect((await getting).body?.equals(s.v1.manifest)).toBe(true);
    // containerd's own GET by digest after its HEAD: already cached.
    expect(await s.core.pullThrough.manifest(s.route, s.v1.digest, get)).toMatchObject({ result: 'hit' });
    expect(s.upstream.calls.map((c) => `${c.method} ${c.reference}`)).toEqual(['headManifest latest', `getManifest ${s.v1.digest}`]);
  });

  it('shares a 404 too, and remembers it', async () => {
    const s = await setup({ missingTagTtlMs: 10_000 });
    const release = s.upstream.pause();
    const answers = [s.resolve(get, 'typo'), s.resolve(head, 'typo'), s.resolve(get, 'typo')].map(rejection);
    await until(() => s.upstream.calls.length === 1);
    release();
    for (const answer of await Promise.all(answers)) expect(answer).toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    expect(s.upstream.calls).toHaveLength(1);
  });
});

describe('freshness by tag pattern', () => {
  const rules = [
    { pattern: 'v*.*.*', ttlMs: Number.POSITIVE_INFINITY },
    { pattern: 'latest', ttlMs: 60_000 },
  ];

  it('revalidates latest every minute, never a version tag, and others after tagTtl', async () => {
    const s = await setup({ tagTtls: rules });
    for (const tag of ['v1.2.3', 'main']) s.upstream.retag('team/app', tag, s.v1.digest);
    for (const tag of ['latest', 'v1.2.3', 'main']) await s.resolve(get, tag);
    s.core.advance(60_000);
    for (const tag of ['latest', 'v1.2.3', 'main']) await s.resolve(get, tag);
    expect(s.upstream.calls.filter((c) => c.method === 'headManifest').map((c) => c.reference)).toEqual(['latest']);
    s.core.advance(240_000);
    for (const tag of ['v1.2.3', 'main']) await s.resolve(get, tag);
    expect(s.upstream.calls.filter((c) => c.method === 'headManifest').map((c) => c.reference)).toEqual(['latest', 'main']);
    s.core.advance(10 * 365 * 24 * 3600_000);
    await s.resolve(get, 'v1.2.3');
    expect(s.upstream.count('headManifest', 'v1.2.3')).toBe(0);
  });

  it("tries an upstream's own rules first, repository:tag patterns included, then the global ones", async () => {
    const tagPolicies = new Map([
      ['registry.test', { immutableTags: [], immutableTagsMode: 'enforce' as const, pins: [], tagTtls: [{ pattern: 'team/app:v*.*.*', ttlMs: 0 }] }],
    ]);
    const s = await setup({ tagTtls: rules, tagPolicies });
    s.upstream.retag('team/app', 'v1.2.3', s.v1.digest);
    await s.resolve(get, 'v1.2.3');
    await s.resolve(get, 'v1.2.3');
    // ttl 0: every request asks (one HEAD each), the upstream's rule before the global "never".
    expect(s.upstream.count('headManifest', 'v1.2.3')).toBe(1);
  });
});
