// The referrers lookup the HTTP route and the signature policy share: the upstream's referrers API (every
// page), else the referrers tag, else none; filtered by tender; cached with the tag TTL, stale on upstream
// failure, kept for an offline upstream; bounded.
import { describe, expect, it } from 'vitest';
import { OciError } from '../../../src/oci/errors.js';
import { mediaTypes } from '../../../src/oci/media-types.js';
import { coreUnderTest, routeTo } from './core-under-test.js';
import { eio } from './memory-metadata-store.js';
import { ScriptedUpstream, sha256 } from './scripted-upstream.js';

const ttl = 60_000;
const sbomType = 'application/vnd.example.sbom.v1';
const sigType = 'application/vnd.dev.sigstore.bundle.v0.3+json';

/** A referrer descriptor as a registry lists it. */
function referrer(n: number, artifactType = sbomType, annotations: Record<string, string> = { 'org.example.n': String(n) }) {
  return { mediaType: mediaTypes.ociManifest, digest: sha256(Buffer.from(`referrer ${n}`)), size: 500 + n, artifactType, annotations };
}

async function setup(settings: Parameters<typeof coreUnderTest>[0] = {}) {
  const upstream = new ScriptedUpstream();
  const image = upstream.pushImage('team/app', 'latest', [Buffer.from('layer')]);
  const core = await coreUnderTest({ tagTtlMs: ttl, ...settings });
  const route = routeTo(upstream, 'team/app');
  const lookup = (artifactType?: string) => core.pullThrough.referrers(route, image.digest, artifactType);
  return { upstream, core, route, image, lookup };
}

/** Pushes the index a client without the referrers API writes under `sha256-<hex>`. */
function pushReferrersTag(upstream: ScriptedUpstream, subject: string, manifests: unknown[]): void {
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests }));
  upstream.pushManifest('team/app', index, mediaTypes.ociIndex, subject.replace(':', '-'));
}

describe('referrers from the upstream referrers API', () => {
  it('answers an image index of the descriptors, artifactType filtered by tender, the body matching the list', async () => {
    const s = await setup();
    s.upstream.referrerLists.set(s.image.digest, [referrer(1), referrer(2, sigType), referrer(3)]);
    const all = await s.lookup();
    expect(all).toMatchObject({ source: 'api', filtered: false, result: 'miss' });
    expect(all.manifests.map((m) => m.size)).toEqual([501, 502, 503]);
    expect(JSON.parse(all.body.toString())).toEqual({
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      manifests: [referrer(1), referrer(2, sigType), referrer(3)],
    });
    const sboms = await s.lookup(sbomType);
    expect(sboms).toMatchObject({ filtered: true, result: 'hit' });
    expect(sboms.manifests.map((m) => m.size)).toEqual([501, 503]);
    expect(JSON.parse(sboms.body.toString()).manifests).toHaveLength(2);
    expect((await s.lookup('application/none')).manifests).toEqual([]);
    // One upstream request: the unfiltered list is cached, every filter is applied to it.
    expect(s.upstream.count('referrers')).toBe(1);
  });

  it('reads every page the upstream links to, in order, without duplicates', async () => {
    const s = await setup();
    s.upstream.pageSize = 2;
    s.upstream.referrerLists.set(s.image.digest, [referrer(1), referrer(2), referrer(3), referrer(2), referrer(4)]);
    const answer = await s.lookup();
    expect(answer.manifests.map((m) => m.size)).toEqual([501, 502, 503, 504]);
    expect(s.upstream.calls.filter((c) => c.method === 'referrers').map((c) => c.reference.slice(71))).toEqual(['', '?page=1', '?page=2']);
  });

  it('serves the cached list within the TTL, then asks again and sees the list grow', async () => {
    const s = await setup();
    s.upstream.referrerLists.set(s.image.digest, [referrer(1)]);
    await s.lookup();
    s.upstream.referrerLists.set(s.image.digest, [referrer(1), referrer(2)]);
    s.core.advance(ttl - 1);
    expect((await s.lookup()).manifests).toHaveLength(1);
    s.core.advance(1);
    const grown = await s.lookup();
    expect(grown).toMatchObject({ result: 'miss', source: 'api' });
    expect(grown.manifests).toHaveLength(2);
    expect(s.upstream.count('referrers')).toBe(2);
  });

  it('leaves out malformed descriptors and keeps the good ones; never serves stray fields', async () => {
    const s = await setup();
    const good = referrer(1);
    s.upstream.referrerLists.set(s.image.digest, [
      { ...good, extra: 'dropped field' },
      { ...referrer(2), digest: 'sha256:short' },
      { ...referrer(3), size: -1 },
      { ...referrer(4), mediaType: 'text/html' },
      { ...referrer(5), annotations: { a: 7 } },
      'not an object',
      { mediaType: mediaTypes.ociIndex, digest: sha256(Buffer.from('index')), size: 10 },
    ]);
    const answer = await s.lookup();
    expect(answer.manifests).toEqual([good, { mediaType: mediaTypes.ociIndex, digest: sha256(Buffer.from('index')), size: 10 }]);
    expect(s.core.logs.some((l) => l.msg === 'malformed referrer descriptors upstream; left out' && l.dropped === 5)).toBe(true);
  });

  it('refuses a malformed digest before asking upstream', async () => {
    const s = await setup();
    await expect(s.core.pullThrough.referrers(s.route, 'sha256:abc')).rejects.toMatchObject({ code: 'DIGEST_INVALID' });
    await expect(s.core.pullThrough.referrers(s.route, 'latest')).rejects.toMatchObject({ code: 'DIGEST_INVALID' });
    expect(s.upstream.calls).toEqual([]);
  });
});

describe('referrers without the upstream API', () => {
  it('reads the referrers tag index, through the tag path (cached like any tag)', async () => {
    const s = await setup();
    s.upstream.referrersApi = false;
    pushReferrersTag(s.upstream, s.image.digest, [referrer(1, sigType), referrer(2)]);
    const answer = await s.lookup(sigType);
    expect(answer).toMatchObject({ source: 'tag', filtered: true, result: 'miss' });
    expect(answer.manifests).toEqual([referrer(1, sigType)]);
    expect(s.upstream.count('getManifest', s.image.digest.replace(':', '-'))).toBe(1);
    // The tag has a record like any pulled tag, and the assembled list one of its own.
    expect(await s.core.pullThrough.judge(s.route, s.image.digest.replace(':', '-'))).toEqual({ allowed: true });
    expect((await s.lookup()).manifests).toHaveLength(2);
    expect(s.upstream.count('referrers')).toBe(1);
    expect(s.upstream.count('getManifest', s.image.digest.replace(':', '-'))).toBe(1);
  });

  it('cuts a sha512 subject to 64 characters in the tag, as the spec has clients write it', async () => {
    const s = await setup();
    s.upstream.referrersApi = false;
    const subject = `sha512:${'ab'.repeat(64)}`;
    await s.core.pullThrough.referrers(s.route, subject);
    expect(s.upstream.count('getManifest', `sha512-${'ab'.repeat(32)}`)).toBe(1);
  });

  it('answers an empty index when there is neither an API nor a tag, and when the tag holds no index', async () => {
    const s = await setup();
    s.upstream.referrersApi = false;
    const none = await s.lookup();
    expect(none).toMatchObject({ source: 'none', manifests: [] });
    expect(JSON.parse(none.body.toString())).toEqual({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [] });
    // An image (not an index) under the referrers tag of another subject: no referrers, said in the log.
    const other = s.upstream.pushImage('team/app', undefined, [Buffer.from('other')], 'other');
    s.upstream.retag('team/app', other.digest.replace(':', '-'), s.image.digest);
    expect(await s.core.pullThrough.referrers(s.route, other.digest)).toMatchObject({ source: 'none', manifests: [] });
    expect(s.core.logs.some((l) => l.msg === 'referrers tag holds no image index; no referrers')).toBe(true);
  });

  it('falls back to the tag when the upstream answers its referrers API with something that is no index', async () => {
    const s = await setup();
    s.upstream.referrerLists.set(s.image.digest, ['x']);
    const notIndex = s.upstream.referrers.bind(s.upstream);
    s.upstream.referrers = async (...args) => ({ ...(await notIndex(...args)), body: Buffer.from('<html>welcome</html>') });
    pushReferrersTag(s.upstream, s.image.digest, [referrer(1)]);
    expect(await s.lookup()).toMatchObject({ source: 'tag', manifests: [referrer(1)] });
  });
});

describe('referrers when upstream fails', () => {
  it('serves the last list stale when upstream is down after the TTL, and fails without one', async () => {
    const s = await setup();
    s.upstream.referrerLists.set(s.image.digest, [referrer(1)]);
    await s.lookup();
    s.upstream.failure = new OciError('UNAVAILABLE', 'upstream down');
    s.core.advance(ttl);
    expect(await s.lookup()).toMatchObject({ result: 'stale', manifests: [referrer(1)] });
    expect(s.core.logs.filter((l) => l.msg === 'upstream list refresh failed; serving the last known list')).toHaveLength(1);
    // Not asked again (nor logged) for a while.
    const calls = s.upstream.calls.length;
    expect(await s.lookup()).toMatchObject({ result: 'stale' });
    expect(s.upstream.calls.length).toBe(calls);
    const other = s.upstream.pushImage('team/app', undefined, [Buffer.from('never looked up')], 'new');
    await expect(s.core.pullThrough.referrers(s.route, other.digest)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('keeps the list for an offline upstream for good, from the metadata store another core wrote', async () => {
    const s = await setup();
    s.upstream.referrersApi = false;
    pushReferrersTag(s.upstream, s.image.digest, [referrer(1)]);
    await s.lookup();
    const offline = await coreUnderTest({ tagTtlMs: ttl, shareWith: s.core });
    const offlineUpstream = new ScriptedUpstream(s.upstream.name, { offline: true });
    offline.advance(10 * ttl);
    const answer = await offline.pullThrough.referrers(routeTo(offlineUpstream, 'team/app'), s.image.digest);
    expect(answer).toMatchObject({ result: 'hit', source: 'tag', manifests: [referrer(1)] });
    expect(offlineUpstream.calls).toEqual([]);
  });

  it('offline: records nothing, so a referrers tag brought in later is seen at once; a list recorded online is kept', async () => {
    const s = await setup();
    s.upstream.referrerLists.set(s.image.digest, [referrer(7)]);
    await s.lookup(); // recorded online, from the API
    const offline = await coreUnderTest({ tagTtlMs: ttl, shareWith: s.core });
    const offlineUpstream = new ScriptedUpstream(s.upstream.name, { offline: true });
    const offlineRoute = routeTo(offlineUpstream, 'team/app');
    expect(await offline.pullThrough.referrers(offlineRoute, s.image.digest)).toMatchObject({ source: 'api', manifests: [referrer(7)] });
    const other = s.upstream.pushImage('team/app', undefined, [Buffer.from('other')], 'other');
    expect(await offline.pullThrough.referrers(offlineRoute, other.digest)).toMatchObject({ source: 'none', manifests: [] });
    // The referrers tag arrives (seeded here through the online core sharing the cache; an import does the same).
    pushReferrersTag(s.upstream, other.digest, [referrer(8)]);
    await s.core.pullThrough.manifest(s.route, other.digest.replace(':', '-'), { accept: undefined, head: false });
    expect(await offline.pullThrough.referrers(offlineRoute, other.digest)).toMatchObject({ source: 'tag', manifests: [referrer(8)] });
    // An offline upstream's referrers API is never asked (its manifest lookups are the "not seeded" answers).
    expect(offlineUpstream.count('referrers')).toBe(0);
    expect(offline.metadata.listings.size).toBe(1);
  });

  it('asks upstream when the metadata store cannot be read, and answers all the same', async () => {
    const s = await setup();
    s.upstream.referrerLists.set(s.image.digest, [referrer(1)]);
    s.core.metadata.readFailure = eio();
    s.core.metadata.writeFailure = eio();
    expect((await s.lookup()).manifests).toEqual([referrer(1)]);
  });
});

describe('referrers lists are bounded', () => {
  it('serves a list of 10,000 referrers with annotations', async () => {
    const s = await setup();
    s.upstream.pageSize = 1_000;
    const many = Array.from({ length: 10_000 }, (_, i) =>
      referrer(i, i % 2 ? sbomType : sigType, { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' }),
    );
    s.upstream.referrerLists.set(s.image.digest, many);
    const answer = await s.lookup(sigType);
    expect(answer.manifests).toHaveLength(5_000);
    expect(s.upstream.count('referrers')).toBe(10);
  });

  it('refuses a list longer than its bounds with a clear error, having read no more than the bound', async () => {
    const s = await setup({ listingLimits: { referrers: { maxBytes: 64 * 1024, maxPages: 5 } } });
    s.upstream.pageSize = 10;
    s.upstream.referrerLists.set(
      s.image.digest,
      Array.from({ length: 100 }, (_, i) => referrer(i)),
    );
    await expect(s.lookup()).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringContaining('more than 5 pages') });
    expect(s.upstream.count('referrers')).toBe(5);
    const big = await setup({ listingLimits: { referrers: { maxBytes: 2 * 1024, maxPages: 100 } } });
    big.upstream.referrerLists.set(
      big.image.digest,
      Array.from({ length: 100 }, (_, i) => referrer(i)),
    );
    await expect(big.lookup()).rejects.toMatchObject({ code: 'UNSUPPORTED', status: 405, message: expect.stringContaining('more than 2048 bytes') });
  });

  it('stops at a page that links back to an earlier one', async () => {
    const s = await setup();
    s.upstream.referrerLists.set(s.image.digest, [referrer(1)]);
    const once = s.upstream.referrers.bind(s.upstream);
    s.upstream.referrers = async (...args) => ({ ...(await once(...args)), headers: { link: '<?page=0>; rel="next"' } });
    expect((await s.lookup()).manifests).toEqual([referrer(1)]);
    expect(s.upstream.count('referrers')).toBe(2);
  });
});
