// Tags lists and referrers against upstreams a Debian distribution 2.8 cannot stand in for: one with the
// referrers API, one paging its tags list as distribution 3 does, one whose tags list never ends, and one
// that fails after tender listed it (served stale). The real registry's side (no referrers API, n and last
// ignored) is in pull-through.test.ts and the conformance run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { http } from '../helpers/http-client.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const indexType = 'application/vnd.oci.image.index.v1+json';
const manifestType = 'application/vnd.oci.image.manifest.v1+json';
const digestOf = (n: number) => `sha256:${String(n).padStart(64, '0')}`;
const referrer = (n: number, artifactType: string) => ({
  mediaType: manifestType,
  digest: digestOf(n),
  size: 100 + n,
  artifactType,
  annotations: { n: String(n) },
});

describe('listings against faulty and paginating upstreams', () => {
  let upstream: FaultUpstream;
  let tender: TenderHandle;

  beforeAll(async () => {
    upstream = await startFaultUpstream();
    tender = await startTender({
      upstreams: { 'faulty.test': upstream.url },
      settings: {
        tagTtl: '1h',
        upstreamTimeout: '15s', // the tags walk gets twice this: 200 pages must fit on a loaded 2-core machine
        upstreams: { 'faulty.test': { url: upstream.url, insecure: true, retries: 0 } },
      },
    });
  });

  afterAll(async () => {
    await tender?.stop();
    await upstream?.stop();
  });

  const requestsTo = (fragment: string) => upstream.requests.filter((r) => r.includes(fragment));

  describe('an upstream with the referrers API', () => {
    it('serves its list, filters by artifactType itself, and asks upstream once (unfiltered) for both', async () => {
      upstream.referrers = new Map([
        [digestOf(1), [referrer(2, 'application/vnd.example.sbom'), referrer(3, 'application/vnd.dev.sigstore.bundle.v0.3+json')]],
      ]);
      const base = `${tender.url}/v2/faulty.test/acme/api/referrers/${digestOf(1)}`;
      const all = await http(base);
      expect(all.status).toBe(200);
      expect(all.headers['content-type']).toBe(indexType);
      expect(all.headers['oci-filters-applied']).toBeUndefined();
      expect(JSON.parse(all.body.toString())).toEqual({
        schemaVersion: 2,
        mediaType: indexType,
        manifests: [referrer(2, 'application/vnd.example.sbom'), referrer(3, 'application/vnd.dev.sigstore.bundle.v0.3+json')],
      });
      const sboms = await http(`${base}?artifactType=application/vnd.example.sbom`);
      expect(sboms.headers['oci-filters-applied']).toBe('artifactType');
      expect(JSON.parse(sboms.body.toString()).manifests).toEqual([referrer(2, 'application/vnd.example.sbom')]);
      expect(requestsTo('/acme/api/referrers/')).toEqual([`GET /v2/acme/api/referrers/${digestOf(1)}`]);
      // A digest the API lists nothing for: an empty index, and no fallback to the tag (the API answered).
      const none = await http(`${tender.url}/v2/faulty.test/acme/api/referrers/${digestOf(9)}`);
      expect(JSON.parse(none.body.toString()).manifests).toEqual([]);
      expect(requestsTo('/acme/api/manifests/')).toEqual([]);
    });
  });

  describe('an upstream without the referrers API', () => {
    it('serves the referrers tag index, then an empty index for a digest without one', async () => {
      upstream.referrers = undefined;
      const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: indexType, manifests: [referrer(5, 'application/vnd.example.sig')] }));
      upstream.addManifest('acme/tagged', `sha256-${'0'.repeat(63)}4`, index, indexType);
      const answer = await http(`${tender.url}/v2/faulty.test/acme/tagged/referrers/${digestOf(4)}?artifactType=application/vnd.example.sig`);
      expect(answer.status).toBe(200);
      expect(answer.headers['oci-filters-applied']).toBe('artifactType');
      expect(JSON.parse(answer.body.toString()).manifests).toEqual([referrer(5, 'application/vnd.example.sig')]);
      const empty = await http(`${tender.url}/v2/faulty.test/acme/tagged/referrers/${digestOf(6)}`);
      expect(empty.status).toBe(200);
      expect(JSON.parse(empty.body.toString()).manifests).toEqual([]);
      expect(requestsTo('/acme/tagged/').map((r) => r.replace(/[0-9]{60,}/, '…'))).toEqual([
        'GET /v2/acme/tagged/referrers/sha256:…',
        'GET /v2/acme/tagged/manifests/sha256-…',
        'GET /v2/acme/tagged/referrers/sha256:…',
        'GET /v2/acme/tagged/manifests/sha256-…',
      ]);
    });
  });

  describe('an upstream that pages its tags list', () => {
    it('reads every page once, and pages the sorted list for the client with its own Link', async () => {
      const tags = Array.from({ length: 250 }, (_, i) => `v${String(i).padStart(3, '0')}`);
      upstream.setTagPages('acme/paged', tags, 100);
      const first = await http(`${tender.url}/v2/faulty.test/acme/paged/tags/list?n=120`);
      expect(first.status).toBe(200);
      const body = JSON.parse(first.body.toString()) as { name: string; tags: string[] };
      expect(body).toEqual({ name: 'faulty.test/acme/paged', tags: tags.slice(0, 120) });
      expect(first.headers.link).toBe('</v2/faulty.test/acme/paged/tags/list?n=120&last=v119>; rel="next"');
      const second = await http(`${tender.url}/v2/faulty.test/acme/paged/tags/list?n=120&last=v119`);
      expect(JSON.parse(second.body.toString()).tags).toEqual(tags.slice(120, 240));
      const viaNs = await http(`${tender.url}/v2/acme/paged/tags/list?n=200&last=v119&ns=faulty.test`);
      expect(JSON.parse(viaNs.body.toString()).tags).toEqual(tags.slice(120));
      expect(viaNs.headers.link).toBeUndefined();
      expect(requestsTo('/acme/paged/tags/list')).toEqual([
        'GET /v2/acme/paged/tags/list',
        'GET /v2/acme/paged/tags/list?last=v099&n=100',
        'GET /v2/acme/paged/tags/list?last=v199&n=100',
      ]);
    });

    it('follows only links to the same list on the same upstream', async () => {
      upstream.tagsList = {
        body: { name: 'acme/links', tags: ['b', 'a'] },
        link: [
          '</v2/acme/links/tags/list?last=a&n=1>; rel="first"',
          '<http://169.254.169.254/v2/acme/links/tags/list?n=1>; rel="next"',
          '</v2/other/repo/tags/list?n=1>; rel="next"',
          '<//evil.example/v2/acme/links/tags/list>; rel="next"',
          '</v2/acme/links/tags/list?last=b&x=1>; rel="next"',
        ].join(', '),
      };
      const res = await http(`${tender.url}/v2/faulty.test/acme/links/tags/list?n=1`);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body.toString()).tags).toEqual(['a']);
      expect(res.headers.link).toBe('</v2/faulty.test/acme/links/tags/list?n=1&last=a>; rel="next"');
      // The same-list link was followed once (the same answer again names it: seen, so the walk ends).
      expect(requestsTo('tags/list').filter((r) => !r.includes('/acme/links/'))).not.toContain('GET /v2/other/repo/tags/list?n=1');
      expect(requestsTo('/acme/links/tags/list')).toEqual(['GET /v2/acme/links/tags/list', 'GET /v2/acme/links/tags/list?last=b&x=1']);
    });
  });

  describe('an upstream whose tags list never ends', () => {
    it('answers 405 UNSUPPORTED naming the bound after at most its pages, and goes on serving', async () => {
      upstream.setTagPages('acme/endless', 'endless', 1_000);
      const before = requestsTo('/acme/endless/').length;
      const res = await http(`${tender.url}/v2/faulty.test/acme/endless/tags/list?n=10`);
      expect(res.status).toBe(405);
      const error = JSON.parse(res.body.toString()).errors[0];
      expect(error.code).toBe('UNSUPPORTED');
      expect(error.message).toMatch(/longer than this mirror serves \(more than \d+ (bytes|pages)\)/);
      expect(requestsTo('/acme/endless/').length - before).toBeLessThanOrEqual(200);
      upstream.setTagPages('acme/after', ['x'], 10);
      expect((await http(`${tender.url}/v2/faulty.test/acme/after/tags/list`)).status).toBe(200);
    });
  });
});

describe('listings served stale', () => {
  let upstream: FaultUpstream;
  let tender: TenderHandle;

  beforeAll(async () => {
    upstream = await startFaultUpstream();
    tender = await startTender({
      upstreams: { 'faulty.test': upstream.url },
      settings: {
        tagTtl: '100ms',
        staleTimeout: '500ms',
        upstreamTimeout: '2s',
        upstreams: { 'faulty.test': { url: upstream.url, insecure: true, retries: 0 } },
      },
    });
  });

  afterAll(async () => {
    await tender?.stop();
    await upstream?.stop();
  });

  it('serves the last tags list and referrers list when upstream fails after the TTL', async () => {
    upstream.setTagPages('acme/stale', ['b', 'a'], 10);
    upstream.referrers = new Map([[digestOf(1), [referrer(2, 'application/x')]]]);
    const tags = `${tender.url}/v2/faulty.test/acme/stale/tags/list`;
    const referrers = `${tender.url}/v2/faulty.test/acme/stale/referrers/${digestOf(1)}`;
    expect(JSON.parse((await http(tags)).body.toString()).tags).toEqual(['a', 'b']);
    expect(JSON.parse((await http(referrers)).body.toString()).manifests).toHaveLength(1);
    // Upstream now gone (connections refused), and the TTL long past.
    await upstream.stop();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const staleTags = await http(tags);
    expect(staleTags.status).toBe(200);
    expect(JSON.parse(staleTags.body.toString()).tags).toEqual(['a', 'b']);
    const staleReferrers = await http(referrers);
    expect(staleReferrers.status).toBe(200);
    expect(JSON.parse(staleReferrers.body.toString()).manifests).toHaveLength(1);
    // Never listed before: no list to serve, a clear error (not a 500).
    const never = await http(`${tender.url}/v2/faulty.test/acme/never/tags/list`);
    expect(never.status).toBe(503);
    expect(JSON.parse(never.body.toString()).errors[0].code).toBe('UNAVAILABLE');
  });
});
