// Upstream faults a real registry cannot produce: wrong bytes, resets, truncation, stalls, 429s, hangs.
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { containerdAccept, http } from '../helpers/http-client.js';
import { sha256 } from '../helpers/images.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const indexType = 'application/vnd.oci.image.index.v1+json';

describe('upstream faults', () => {
  let upstream: FaultUpstream;
  let tender: TenderHandle;

  beforeAll(async () => {
    upstream = await startFaultUpstream();
    tender = await startTender({
      upstreams: { 'faulty.test': upstream.url },
      settings: { tagTtl: '100ms', staleTimeout: '500ms', upstreams: { 'faulty.test': { url: upstream.url, insecure: true, retries: 1, idleTimeout: '1s' } } },
    });
  });

  afterAll(async () => {
    await tender?.stop();
    await upstream?.stop();
  });

  afterEach(async () => {
    // Whatever happened, nothing half-written may be left behind.
    await waitFor(async () => (await readdir(join(tender.cacheDir, 'tmp'))).length === 0);
  });

  const blobUrl = (digest: string) => `${tender.url}/v2/faulty.test/acme/app/blobs/${digest}`;

  async function outcome(url: string): Promise<{ ok: true; body: Buffer; status: number } | { ok: false }> {
    try {
      const res = await http(url);
      return { ok: true, body: res.body, status: res.status };
    } catch {
      return { ok: false };
    }
  }

  async function isCached(digest: string): Promise<boolean> {
    const hex = digest.slice(7);
    return stat(join(tender.cacheDir, 'blobs', 'sha256', hex.slice(0, 2), hex)).then(
      () => true,
      () => false,
    );
  }

  for (const fault of ['wrong-bytes', 'reset', 'truncate'] as const) {
    it(`a blob answered with "${fault}" reaches no client intact, is not cached, and the next request fetches cleanly`, async () => {
      const bytes = randomBytes(2_000_000);
      const digest = upstream.addBlob(bytes);
      upstream.setFault(digest, fault);
      const first = await outcome(blobUrl(digest));
      // The client must notice: an error, or bytes that fail its own digest check.
      if (first.ok) expect(sha256(first.body)).not.toBe(digest);
      expect(await isCached(digest)).toBe(false);

      upstream.setFault(digest, 'none');
      const second = await http(blobUrl(digest));
      expect(second.status).toBe(200);
      expect(sha256(second.body)).toBe(digest);
      expect(await isCached(digest)).toBe(true);
    });
  }

  it('resumes a download that broke off with a Range request: the client gets every byte, upstream sends each byte once', async () => {
    const bytes = randomBytes(3_000_000);
    const digest = upstream.addBlob(bytes);
    upstream.setFault(digest, 'reset-once');
    const before = upstream.requests.length;
    const res = await http(blobUrl(digest));
    expect(res.status).toBe(200);
    expect(sha256(res.body)).toBe(digest);
    expect(await isCached(digest)).toBe(true);
    const sent = upstream.requests.slice(before).filter((r) => r.includes(digest));
    expect(sent).toHaveLength(2);
    const resumes = await tender.metrics.registry.getSingleMetricAsString('tender_upstream_resumes_total');
    expect(resumes).toMatch(/upstream="faulty.test"\} [1-9]/);
  });

  it('counts and logs a digest mismatch', async () => {
    const bytes = randomBytes(100_000);
    const digest = upstream.addBlob(bytes);
    upstream.setFault(digest, 'wrong-bytes');
    await outcome(blobUrl(digest));
    const metrics = await tender.metrics.registry.getSingleMetricAsString('tender_digest_mismatches_total');
    expect(metrics).toMatch(/tender_digest_mismatches_total\{upstream="faulty.test",kind="blob"\} [1-9]/);
    expect(tender.logs.some((l) => l.digest === digest && String(l.msg).includes('does not match'))).toBe(true);
  });

  it('a stalled upstream fails the flight after the idle timeout and leaves nothing behind', async () => {
    const bytes = randomBytes(500_000);
    const digest = upstream.addBlob(bytes);
    upstream.setFault(digest, 'stall');
    const first = await outcome(blobUrl(digest));
    if (first.ok) expect(sha256(first.body)).not.toBe(digest);
    expect(await isCached(digest)).toBe(false);
  });

  it('refuses a manifest whose bytes do not match the digest asked for, and caches nothing', async () => {
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: indexType, manifests: [] }));
    const digest = upstream.addManifest('acme/app', 'bad', body, indexType);
    upstream.setFault(digest, 'wrong-bytes');
    const res = await http(`${tender.url}/v2/faulty.test/acme/app/manifests/${digest}`);
    expect(res.status).toBe(502);
    expect(await isCached(digest)).toBe(false);
    upstream.setFault(digest, 'none');
    const again = await http(`${tender.url}/v2/faulty.test/acme/app/manifests/${digest}`);
    expect(again.status).toBe(200);
    expect(again.body.equals(body)).toBe(true);
  });

  it('retries a 429 with Retry-After before answering', async () => {
    const digest = upstream.addBlob(randomBytes(1000));
    upstream.setFault(digest, 'rate-limit-once');
    const res = await http(blobUrl(digest));
    expect(res.status).toBe(200);
    expect(upstream.count('GET', digest)).toBe(2);
  });

  it('serves the last known digest when revalidation hangs, within the stale timeout', async () => {
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: indexType, manifests: [], annotations: { v: '1' } }));
    const digest = upstream.addManifest('acme/app', 'stable', body, indexType);
    const url = `${tender.url}/v2/faulty.test/acme/app/manifests/stable`;
    expect((await http(url, { headers: { accept: containerdAccept } })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 150)); // past the 100 ms tag TTL
    upstream.setFault('acme/app:stable', 'hang');
    const started = performance.now();
    const stale = await http(url, { headers: { accept: containerdAccept } });
    const elapsed = performance.now() - started;
    expect(stale.status).toBe(200);
    expect(stale.headers['docker-content-digest']).toBe(digest);
    expect(elapsed).toBeLessThan(1500);
    upstream.setFault('acme/app:stable', 'none');
  });

  it("never lets a narrow client's Accept become the tag for everyone", async () => {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: indexType, manifests: [], annotations: { multi: 'yes' } }));
    const single = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }));
    const indexDigest = upstream.addManifest('acme/multi', 'latest', index, indexType);
    upstream.addManifest('acme/multi', 'latest#narrow', single, 'application/vnd.oci.image.manifest.v1+json');
    const url = `${tender.url}/v2/faulty.test/acme/multi/manifests/latest`;
    const narrow = await http(url, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(narrow.headers['docker-content-digest']).not.toBe(indexDigest);
    for (const method of ['HEAD', 'GET'] as const) {
      const full = await http(url, { method, headers: { accept: containerdAccept } });
      expect(full.headers['docker-content-digest'], method).toBe(indexDigest);
    }
  });

  it('rewrites tags/list pagination links back to the mirror path', async () => {
    upstream.tagsList = { body: { name: 'acme/app', tags: ['a', 'b'] }, link: '</v2/acme/app/tags/list?last=b&n=2>; rel="next"' };
    const viaPrefix = await http(`${tender.url}/v2/faulty.test/acme/app/tags/list?n=2`);
    expect(viaPrefix.headers.link).toBe('</v2/faulty.test/acme/app/tags/list?last=b&n=2>; rel="next"');
    const viaNs = await http(`${tender.url}/v2/acme/app/tags/list?n=2&ns=faulty.test`);
    expect(viaNs.headers.link).toBe('</v2/acme/app/tags/list?last=b&n=2&ns=faulty.test>; rel="next"');
  });

  it('answers 503 UNAVAILABLE for an uncached blob while upstream fails', async () => {
    const digest = upstream.addBlob(randomBytes(1000));
    upstream.setFault(digest, 'unavailable');
    const res = await http(blobUrl(digest));
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body.toString()).errors[0].code).toBe('UNAVAILABLE');
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
