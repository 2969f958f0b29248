// Who may be served cached content: anyone through a public upstream; through a private upstream, only a
// repository upstream confirms holds the digest (pull secrets are per repository).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bodyOf, counter, coreUnderTest, routeTo, until } from './core-under-test.js';
import { eio } from './memory-metadata-store.js';
import { ScriptedUpstream } from './scripted-upstream.js';

const get = { accept: undefined, head: false };

async function setup(isPrivate: boolean) {
  const upstream = new ScriptedUpstream('private.test', { private: isPrivate });
  const layer = randomBytes(5_000);
  const image = upstream.pushImage('team/a', 'v1', [layer]);
  const core = await coreUnderTest();
  const a = routeTo(upstream, 'team/a');
  const b = routeTo(upstream, 'team/b');
  await core.pullThrough.manifest(a, image.digest, get);
  await bodyOf(await core.pullThrough.blob(a, image.layers[0]!, { head: false }));
  upstream.calls.length = 0;
  return { upstream, core, image, layer, a, b };
}

describe('visibility', () => {
  it('serves what a public upstream served to any repository, without asking again', async () => {
    const s = await setup(false);
    expect((await s.core.pullThrough.manifest(s.b, s.image.digest, get)).result).toBe('hit');
    expect((await s.core.pullThrough.blob(s.b, s.image.layers[0]!, { head: false })).result).toBe('hit');
    expect(s.upstream.calls).toEqual([]);
  });

  it('on a private upstream, refuses content cached for another repository unless upstream confirms this one holds it', async () => {
    const s = await setup(true);
    // team/b does not hold it upstream: the HEAD says so, and so does tender.
    await expect(s.core.pullThrough.manifest(s.b, s.image.digest, get)).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    await expect(s.core.pullThrough.blob(s.b, s.image.layers[0]!, { head: false })).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    expect(s.upstream.calls.map((c) => `${c.method} ${c.repository}`)).toEqual(['headManifest team/b', 'headBlob team/b']);
    // Once team/b holds it upstream, one HEAD confirms, the bytes come from the cache, and it is remembered.
    s.upstream.pushImage('team/b', undefined, [s.layer]);
    s.upstream.calls.length = 0;
    expect((await s.core.pullThrough.manifest(s.b, s.image.digest, get)).result).toBe('hit');
    const blob = await s.core.pullThrough.blob(s.b, s.image.layers[0]!, { head: false });
    expect(blob.result).toBe('hit');
    expect((await bodyOf(blob)).equals(s.layer)).toBe(true);
    await s.core.pullThrough.blob(s.b, s.image.layers[0]!, { head: false });
    expect(s.upstream.calls.map((c) => c.method)).toEqual(['headManifest', 'headBlob']);
    expect(s.upstream.count('getBlob')).toBe(0);
    // The repository that fetched it is never asked.
    await s.core.pullThrough.blob(s.a, s.image.layers[0]!, { head: false });
    expect(s.upstream.calls).toHaveLength(2);
  });

  it('treats a link it cannot read as unknown: upstream confirms, and the failure is counted', async () => {
    const s = await setup(true);
    s.upstream.pushImage('team/b', undefined, [s.layer]);
    const fresh = await coreUnderTest({ shareWith: s.core });
    fresh.metadata.readFailure = eio();
    expect((await fresh.pullThrough.blob(s.a, s.image.layers[0]!, { head: false })).result).toBe('hit');
    expect(s.upstream.calls.map((c) => `${c.method} ${c.repository}`)).toEqual(['headBlob team/a']);
    expect(await counter(fresh.metrics, 'tender_cache_read_errors_total', { kind: 'link' })).toBe(1);
  });

  it('sweeps, once at start, the links whose content left the cache before eviction removed links (and keeps the rest)', async () => {
    const s = await setup(true);
    const gone = `sha256:${'9'.repeat(64)}`;
    // A link an old eviction left behind: private, never listed under its digest.
    s.core.metadata.links.add(`private.test/team/z@${gone}`);
    s.core.metadata.links.add(`public@${gone}`);
    const before = [...s.core.metadata.links].filter((l) => l.endsWith(s.image.digest));
    expect(before).toEqual([`private.test/team/a@${s.image.digest}`]);
    s.core.pullThrough.startScrub();
    await until(() => ![...s.core.metadata.links].some((l) => l.endsWith(gone)));
    expect([...s.core.metadata.links].filter((l) => l.endsWith(s.image.digest))).toEqual(before);
    s.core.pullThrough.close();
  });
});
