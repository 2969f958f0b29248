// The tags list as tender answers it whatever the upstream does: every upstream page, the spec's order,
// `n` and `last`, cached with the tag TTL, stale on failure, offline from what is recorded; bounded.
import { describe, expect, it } from 'vitest';
import { OciError } from '../../../src/oci/errors.js';
import { compareTags, parseTagCount, tagPage } from '../../../src/oci/tag-list.js';
import { coreUnderTest, routeTo } from './core-under-test.js';
import { ScriptedUpstream } from './scripted-upstream.js';

const ttl = 60_000;

async function setup(tags: readonly string[], settings: Parameters<typeof coreUnderTest>[0] = {}) {
  const upstream = new ScriptedUpstream();
  const image = upstream.pushImage('team/app', undefined, [Buffer.from('layer')]);
  for (const tag of tags) upstream.retag('team/app', tag, image.digest);
  const core = await coreUnderTest({ tagTtlMs: ttl, ...settings });
  const route = routeTo(upstream, 'team/app');
  const list = (page: { n?: number; last?: string } = {}) => core.pullThrough.listTags(route, page);
  return { upstream, core, route, image, list };
}

describe('tag list order and pages (pure)', () => {
  it('orders case-insensitively, then by code unit, as a total order', () => {
    expect(['b', 'B', 'a', 'A10', 'a2', 'latest', 'V1', 'v1', '_x', '1.0'].sort(compareTags)).toEqual([
      '1.0',
      '_x',
      'a',
      'A10',
      'a2',
      'B',
      'b',
      'latest',
      'V1',
      'v1',
    ]);
    expect(['b', 'B', 'a', 'A'].sort(compareTags)).toEqual(['A', 'a', 'B', 'b']);
    expect(['a_b', 'a-b', 'a.b', 'ab', 'a0'].sort(compareTags)).toEqual(['a-b', 'a.b', 'a0', 'a_b', 'ab']);
  });

  it('pages with n and last; next names the last tag of a page that has more after it', () => {
    const sorted = ['a', 'b', 'c', 'd', 'e'];
    expect(tagPage(sorted, {})).toEqual({ tags: sorted, next: undefined });
    expect(tagPage(sorted, { n: 2 })).toEqual({ tags: ['a', 'b'], next: 'b' });
    expect(tagPage(sorted, { n: 2, last: 'b' })).toEqual({ tags: ['c', 'd'], next: 'd' });
    expect(tagPage(sorted, { n: 2, last: 'd' })).toEqual({ tags: ['e'], next: undefined });
    expect(tagPage(sorted, { n: 3, last: 'b' })).toEqual({ tags: ['c', 'd', 'e'], next: undefined });
    expect(tagPage(sorted, { last: 'bb' })).toEqual({ tags: ['c', 'd', 'e'], next: undefined }); // last need not be a tag
    expect(tagPage(sorted, { last: 'z' })).toEqual({ tags: [], next: undefined });
    expect(tagPage(sorted, { n: 0 })).toEqual({ tags: [], next: undefined });
    expect(tagPage([], { n: 2 })).toEqual({ tags: [], next: undefined });
  });

  it('takes n as a non-negative decimal integer and ignores anything else', () => {
    expect(parseTagCount('2')).toBe(2);
    expect(parseTagCount('0')).toBe(0);
    expect(parseTagCount('9'.repeat(100))).toBe(Number.MAX_SAFE_INTEGER);
    for (const bad of [null, '', '-1', '1e9', '0x10', ' 1', '1.5']) expect(parseTagCount(bad)).toBeUndefined();
  });
});

describe('tags lists from upstream', () => {
  it('sorts what upstream sends in any order, and pages it for the client', async () => {
    const s = await setup(['v2', 'latest', 'V1', 'alpha', 'v10', 'v1']);
    expect(await s.list()).toEqual({ tags: ['alpha', 'latest', 'V1', 'v1', 'v10', 'v2'], next: undefined, result: 'miss' });
    expect(await s.list({ n: 2 })).toEqual({ tags: ['alpha', 'latest'], next: 'latest', result: 'hit' });
    expect(await s.list({ n: 2, last: 'latest' })).toEqual({ tags: ['V1', 'v1'], next: 'v1', result: 'hit' });
    expect(await s.list({ n: 0 })).toMatchObject({ tags: [], next: undefined });
    expect(s.upstream.count('listTags')).toBe(1);
  });

  it('reads every page an upstream that paginates links to', async () => {
    const s = await setup(Array.from({ length: 25 }, (_, i) => `t${String(i).padStart(2, '0')}`).reverse());
    s.upstream.pageSize = 10;
    const all = await s.list();
    expect(all.tags).toHaveLength(25);
    expect(all.tags[0]).toBe('t00');
    expect(s.upstream.calls.filter((c) => c.method === 'listTags').map((c) => c.reference)).toEqual(['tags', 'tags?page=1', 'tags?page=2']);
  });

  it('serves the cached list within the TTL, asks again after it, and follows new tags', async () => {
    const s = await setup(['a']);
    await s.list();
    s.upstream.retag('team/app', 'b', s.image.digest);
    s.core.advance(ttl - 1);
    expect((await s.list()).tags).toEqual(['a']);
    s.core.advance(1);
    expect(await s.list()).toMatchObject({ tags: ['a', 'b'], result: 'miss' });
    expect(s.upstream.count('listTags')).toBe(2);
  });

  it('serves the last list stale when upstream is down, and forgets it when upstream says the repository is gone', async () => {
    const s = await setup(['a']);
    await s.list();
    s.core.advance(ttl);
    s.upstream.failure = new OciError('UNAVAILABLE', 'down');
    expect(await s.list()).toMatchObject({ tags: ['a'], result: 'stale' });
    s.upstream.failure = undefined;
    s.core.advance(ttl);
    s.upstream.retag('team/app', 'a', undefined);
    await expect(s.list()).rejects.toMatchObject({ code: 'NAME_UNKNOWN', status: 404 });
    expect(s.core.metadata.listings.size).toBe(0);
  });

  it('answers 404 for a repository upstream does not have, and 503 when upstream is down with nothing cached', async () => {
    const s = await setup([]);
    await expect(s.list()).rejects.toMatchObject({ code: 'NAME_UNKNOWN' });
    s.upstream.failure = new OciError('UNAVAILABLE', 'down');
    await expect(s.list()).rejects.toMatchObject({ code: 'UNAVAILABLE', status: 503 });
  });

  it('leaves out tags the grammar forbids, and refuses an answer that is no tags list', async () => {
    const s = await setup(['ok']);
    const real = s.upstream.listTags.bind(s.upstream);
    s.upstream.listTags = async (...args) => ({
      ...(await real(...args)),
      body: Buffer.from(JSON.stringify({ name: 'x', tags: ['ok', '../etc', 7, '', 'ok', 'x'.repeat(200)] })),
    });
    expect((await s.list()).tags).toEqual(['ok']);
    expect(s.core.logs.some((l) => l.msg === 'malformed tags in the upstream tags list; left out' && l.dropped === 4)).toBe(true);
    const t = await setup(['ok']);
    t.upstream.listTags = async (...args) => ({ ...(await real(...args)), body: Buffer.from('<html>') });
    await expect(t.list()).rejects.toMatchObject({ code: 'UPSTREAM_ERROR' });
    const u = await setup(['ok']);
    u.upstream.listTags = async (...args) => ({ ...(await real(...args)), body: Buffer.from('{"name":"x","tags":null}') });
    expect((await u.list()).tags).toEqual([]);
  });
});

describe('tags lists are bounded', () => {
  it('serves a list of 20,000 tags, and pages through it', async () => {
    const many = Array.from({ length: 20_000 }, (_, i) => `build-${i}`);
    const s = await setup(many);
    s.upstream.pageSize = 1_000;
    const first = await s.list({ n: 100 });
    expect(first.tags).toHaveLength(100);
    expect((await s.list()).tags).toHaveLength(20_000);
    expect(s.upstream.count('listTags')).toBe(20);
  });

  it('refuses with 405 UNSUPPORTED past its pages or bytes, having read no more than that', async () => {
    const tags = Array.from({ length: 100 }, (_, i) => `t${i}`);
    const s = await setup(tags, { listingLimits: { tags: { maxBytes: 1024 * 1024, maxPages: 3 } } });
    s.upstream.pageSize = 10;
    await expect(s.list()).rejects.toMatchObject({ code: 'UNSUPPORTED', status: 405, message: expect.stringContaining('more than 3 pages') });
    expect(s.upstream.count('listTags')).toBe(3);
    const b = await setup(tags, { listingLimits: { tags: { maxBytes: 100, maxPages: 100 } } });
    await expect(b.list()).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringContaining('more than 100 bytes') });
  });
});

describe('tags lists offline', () => {
  it('lists what was last listed, for good; else the tags tender holds records of; else 404', async () => {
    const s = await setup(['b', 'a']);
    await s.list();
    const offline = await coreUnderTest({ tagTtlMs: ttl, shareWith: s.core });
    offline.advance(100 * ttl);
    const gone = new ScriptedUpstream(s.upstream.name, { offline: true });
    expect(await offline.pullThrough.listTags(routeTo(gone, 'team/app'), { n: 1 })).toEqual({ tags: ['a'], next: 'a', result: 'hit' });
    // Never listed, but pulled (or imported): those tags.
    await s.core.pullThrough.manifest(routeTo(s.upstream, 'team/app'), 'a', { accept: undefined, head: false });
    s.upstream.pushImage('other/repo', 'v2', [Buffer.from('x')]);
    s.upstream.pushImage('other/repo', 'V1', [Buffer.from('y')]);
    for (const tag of ['v2', 'V1']) await s.core.pullThrough.manifest(routeTo(s.upstream, 'other/repo'), tag, { accept: undefined, head: false });
    expect((await offline.pullThrough.listTags(routeTo(gone, 'other/repo'), {})).tags).toEqual(['V1', 'v2']);
    await expect(offline.pullThrough.listTags(routeTo(gone, 'never/seen'), {})).rejects.toMatchObject({ code: 'NAME_UNKNOWN' });
    expect(gone.calls).toEqual([]);
  });
});
