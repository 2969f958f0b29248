// Eviction through the core: least recently used first, down to the low watermark, never a pinned blob
// (by digest or by repository) and never one a client is reading.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bodyOf, counter, coreUnderTest, routeTo, until } from './core-under-test.js';
import { ScriptedUpstream, sha256 } from './scripted-upstream.js';

const size = 10_000;
const blobs = ['a', 'b', 'c'].map(() => randomBytes(size));
const [a, b, c] = blobs.map(sha256) as [string, string, string];

async function setup(settings: Parameters<typeof coreUnderTest>[0] = {}) {
  const upstream = new ScriptedUpstream();
  for (const bytes of blobs) {
    upstream.pushBlob('team/app', bytes);
    upstream.pushBlob('team/pinned', bytes);
  }
  // Room for two blobs and a half: the third commit evicts down to 95 % of the cap.
  const core = await coreUnderTest({ maxCacheBytes: 25_000, smallBlobBytes: 100, ...settings });
  const fetch = async (digest: string, repository = 'team/app') => bodyOf(await core.pullThrough.blob(routeTo(upstream, repository), digest, { head: false }));
  const cached = () => [a, b, c].filter((d) => core.pullThrough.cachedSize(d) !== undefined);
  return { upstream, core, fetch, cached };
}

describe('eviction', () => {
  it('evicts the least recently used blob when the cap is passed, file and all', async () => {
    const s = await setup();
    await s.fetch(a);
    await s.fetch(b);
    await s.fetch(a); // a is now more recent than b
    await s.fetch(c);
    await until(() => s.cached().length === 2);
    expect(s.cached()).toEqual([a, c]);
    expect(s.core.store.blobs.has(b)).toBe(false);
    expect(await counter(s.core.metrics, 'tender_evictions_total')).toBe(1);
    // Evicted is uncached: the next request fetches it again.
    await s.fetch(b);
    expect(s.upstream.count('getBlob', b)).toBe(2);
  });

  it('never evicts a pinned digest', async () => {
    const s = await setup({ pinnedDigests: [a] });
    await s.fetch(a);
    await s.fetch(b);
    await s.fetch(c);
    await until(() => s.cached().length === 2);
    expect(s.cached()).toEqual([a, c]);
  });

  it('never evicts content fetched through a pinned repository', async () => {
    const s = await setup({ pinnedRepositories: ['registry.test/team/pinned'] });
    await s.fetch(a, 'team/pinned');
    await s.fetch(b);
    await s.fetch(c);
    await until(() => s.cached().length === 2);
    expect(s.cached()).toEqual([a, c]);
    expect(s.core.store.pins.has(a)).toBe(true);
  });

  it('passes a blob by while a client is reading it', async () => {
    const s = await setup();
    await s.fetch(a);
    await s.fetch(b);
    const reading = await (await s.core.pullThrough.blob(routeTo(s.upstream, 'team/app'), a, { head: false })).file!(0, size - 1);
    await s.fetch(b); // a is the least recently used, but in use
    await s.fetch(c);
    await until(() => s.cached().length === 2);
    expect(s.cached()).toEqual([a, c]);
    reading.done();
    await reading.access.close();
  });
});
