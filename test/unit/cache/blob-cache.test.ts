// Blobs through the core: who joins a flight (and who may not), a late joiner after the commit, a flight
// that failed, HEAD without a download, prefetch for the CLI, and a damaged cached copy at serve time.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bodyOf, counter, coreUnderTest, routeTo, until } from './core-under-test.js';
import { enospc } from './memory-blob-store.js';
import { ScriptedUpstream, sha256 } from './scripted-upstream.js';

async function setup(settings: Parameters<typeof coreUnderTest>[0] = {}) {
  const upstream = new ScriptedUpstream();
  const bytes = randomBytes(10_000);
  const digest = upstream.pushBlob('team/app', bytes);
  const core = await coreUnderTest(settings);
  const route = routeTo(upstream, 'team/app');
  const blob = (head = false) => core.pullThrough.blob(route, digest, { head });
  return { upstream, bytes, digest, core, route, blob };
}

describe('joining a flight', () => {
  it('gives every concurrent request one upstream GET, each its own reader, the last bytes only once verified', async () => {
    const s = await setup();
    const release = s.upstream.hold();
    const first = await s.blob();
    const others = await Promise.all([s.blob(), s.blob(), s.blob()]);
    expect(first.result).toBe('miss');
    expect(others.map((a) => a.result)).toEqual(['joined', 'joined', 'joined']);
    // Another repository of a public upstream joins too, and so does a HEAD (the flight knows the size).
    s.upstream.pushBlob('other/repo', s.bytes);
    const elsewhere = await s.core.pullThrough.blob(routeTo(s.upstream, 'other/repo'), s.digest, { head: false });
    expect(elsewhere.result).toBe('joined');
    expect(await s.blob(true)).toMatchObject({ size: s.bytes.length, result: 'joined' });
    const bodies = [first, ...others, elsewhere].map((a) => bodyOf(a));
    // A range joins the flight too, from its own position.
    const range = bodyOf(await s.blob(), 9_000, 9_999);
    release();
    for (const body of await Promise.all(bodies)) expect(body.equals(s.bytes)).toBe(true);
    expect((await range).equals(s.bytes.subarray(9_000))).toBe(true);
    expect(s.upstream.calls.map((c) => c.method)).toEqual(['getBlob']);
  });

  it('serves a request that comes after the commit from the cache (a hit), not from the flight', async () => {
    const s = await setup();
    await bodyOf(await s.blob());
    const late = await s.blob();
    expect(late.result).toBe('hit');
    expect((await bodyOf(late)).equals(s.bytes)).toBe(true);
    expect(s.upstream.count('getBlob')).toBe(1);
  });

  it('answers everybody who joined a flight that failed to start with its error, and starts afresh for the next request', async () => {
    const s = await setup();
    const missing = sha256(Buffer.from('not upstream'));
    const asks = await Promise.allSettled([1, 2, 3].map(() => s.core.pullThrough.blob(s.route, missing, { head: false })));
    expect(asks.map((a) => a.status === 'rejected' && (a.reason as { code?: string }).code)).toEqual(['BLOB_UNKNOWN', 'BLOB_UNKNOWN', 'BLOB_UNKNOWN']);
    expect(s.upstream.count('getBlob')).toBe(1);
    await expect(s.core.pullThrough.blob(s.route, missing, { head: false })).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    expect(s.upstream.count('getBlob')).toBe(2);
  });

  it('lets nobody new join a flight whose disk failed: the next request downloads on its own', async () => {
    const s = await setup();
    s.core.store.failAfterBytes = 1_000;
    const release = s.upstream.hold();
    const first = await s.blob();
    const reading = bodyOf(first);
    // Once the first half has reached the (failing) disk, the flight leaves the table.
    await until(async () => (await counter(s.core.metrics, 'tender_cache_write_errors_total', { kind: 'blob' })) === 1);
    s.core.store.failAfterBytes = undefined;
    const second = await s.blob();
    expect(second.result).toBe('miss');
    release();
    expect((await reading).equals(s.bytes)).toBe(true);
    expect((await bodyOf(second)).equals(s.bytes)).toBe(true);
    expect(s.upstream.count('getBlob')).toBe(2);
    expect(await counter(s.core.metrics, 'tender_cache_write_errors_total', { kind: 'blob' })).toBe(1);
  });

  it('answers a HEAD of an uncached blob with an upstream HEAD, never a download', async () => {
    const s = await setup();
    expect(await s.blob(true)).toEqual({ size: s.bytes.length, result: 'miss' });
    expect(s.upstream.calls.map((c) => c.method)).toEqual(['headBlob']);
  });
});

describe('a damaged cached copy', () => {
  it('cut short on disk: dropped, and the request that found it is answered from a fresh download', async () => {
    const s = await setup({ smallBlobBytes: 100 });
    await bodyOf(await s.blob());
    s.core.store.damage(s.digest, s.bytes.subarray(0, 5_000));
    const answer = await s.blob();
    expect(answer).toMatchObject({ result: 'hit', size: s.bytes.length });
    expect((await bodyOf(answer)).equals(s.bytes)).toBe(true);
    expect(s.upstream.count('getBlob')).toBe(2);
    expect(await counter(s.core.metrics, 'tender_cache_corruptions_total', { kind: 'blob', reason: 'size' })).toBe(1);
  });

  it('altered in place: the client is cut before its last bytes, the copy quarantined, and the next request fetches it again', async () => {
    const s = await setup({ smallBlobBytes: 100 });
    await bodyOf(await s.blob());
    const flipped = Buffer.from(s.bytes);
    flipped[5_000] = flipped[5_000]! ^ 1;
    s.core.store.damage(s.digest, flipped);
    await expect(bodyOf(await s.blob())).rejects.toThrow(/damaged/);
    expect(s.core.store.quarantined.get(s.digest)?.equals(flipped)).toBe(true);
    expect(await counter(s.core.metrics, 'tender_cache_corruptions_total', { kind: 'blob', reason: 'digest' })).toBe(1);
    const again = await s.blob();
    expect(again.result).toBe('miss');
    expect((await bodyOf(again)).equals(s.bytes)).toBe(true);
  });
});

describe('prefetch (tender seed)', () => {
  it('resolves once the blob is committed, pinned, reporting the bytes it fetched; then it is a hit', async () => {
    const s = await setup();
    let reported = 0;
    const got = await s.core.pullThrough.prefetch(s.route, s.digest, { pin: true, onBytes: (n) => (reported += n) });
    expect(got).toEqual({ fetched: s.bytes.length });
    expect(reported).toBe(s.bytes.length);
    expect(s.core.store.pins.has(s.digest)).toBe(true);
    expect(s.core.pullThrough.cachedSize(s.digest)).toBe(s.bytes.length);
    expect(await s.core.pullThrough.prefetch(s.route, s.digest, { pin: true })).toEqual({ fetched: 0 });
    expect(s.upstream.count('getBlob')).toBe(1);
  });

  it('joins a download a client started, and waits for its commit', async () => {
    const s = await setup();
    const release = s.upstream.hold();
    const client = await s.blob();
    const prefetched = s.core.pullThrough.prefetch(s.route, s.digest, { pin: false });
    release();
    expect(await prefetched).toEqual({ fetched: s.bytes.length });
    expect((await bodyOf(client)).equals(s.bytes)).toBe(true);
    expect(s.upstream.count('getBlob')).toBe(1);
  });

  it('fails when the verified blob cannot be stored, instead of keeping it in memory for nobody', async () => {
    const s = await setup();
    s.core.store.failAfterBytes = 1_000;
    await expect(s.core.pullThrough.prefetch(s.route, s.digest, { pin: true })).rejects.toThrow(/ENOSPC|disk/);
    expect(s.core.pullThrough.cachedSize(s.digest)).toBeUndefined();
  });

  it('fails with the upstream answer for a blob upstream does not have', async () => {
    const s = await setup();
    await expect(s.core.pullThrough.prefetch(s.route, sha256(Buffer.from('absent')), { pin: true })).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    s.core.store.createFailure = enospc();
    await expect(s.core.pullThrough.prefetch(s.route, s.digest, { pin: true })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});
