// Upstream faults a real registry cannot produce: wrong bytes, resets, truncation, stalls, 429s, hangs.
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { startTokenRealm, type TokenRealm } from '../helpers/token-realm.js';
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
      settings: {
        tagTtl: '100ms',
        staleTimeout: '500ms',
        upstreamTimeout: '3s',
        maxBlobSize: '8MiB',
        upstreams: { 'faulty.test': { url: upstream.url, insecure: true, retries: 1, idleTimeout: '1s' } },
      },
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

  // tags/list pagination (tender follows the upstream's links and answers with its own): listings-faults.test.ts.

  describe('no upstream condition reaches a client as 500', () => {
    const code = (res: { body: Buffer }) => (JSON.parse(res.body.toString()) as { errors: Array<{ code: string }> }).errors[0]!.code;

    it('passes a 429 with Retry-After: 86400 on at once, with its Retry-After, for manifests, blobs, tag lists and HEAD', async () => {
      const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: indexType, manifests: [], annotations: { limited: 'yes' } }));
      const manifestDigest = upstream.addManifest('acme/limited', 'v1', manifest, indexType);
      const blob = upstream.addBlob(randomBytes(1000));
      for (const key of ['acme/limited:v1', manifestDigest, blob, 'tags:acme/limited']) upstream.setFault(key, 'rate-limit-long');
      const base = `${tender.url}/v2/faulty.test/acme/limited`;
      const before = upstream.requests.length;
      const asks: Array<[string, 'GET' | 'HEAD']> = [
        [`${base}/manifests/v1`, 'GET'],
        [`${base}/manifests/v1`, 'HEAD'],
        [`${base}/manifests/${manifestDigest}`, 'GET'],
        [`${base}/blobs/${blob}`, 'GET'],
        [`${base}/tags/list`, 'GET'],
      ];
      for (const [url, method] of asks) {
        const res = await http(url, { method, headers: { accept: containerdAccept } });
        expect(res.status, `${method} ${url}`).toBe(429);
        expect(res.headers['retry-after'], `${method} ${url}`).toBe('86400');
        if (method === 'GET') expect(code(res)).toBe('TOOMANYREQUESTS');
      }
      // Passed on at once: one upstream request each, no retry after a wait.
      expect(upstream.requests.length - before).toBe(asks.length);
    });

    it('answers 503 UNAVAILABLE when the deadline passes while a manifest body trickles in', async () => {
      const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: indexType, manifests: [], annotations: { pad: 'x'.repeat(200) } }));
      upstream.addManifest('acme/slow', 'v1', body, indexType);
      upstream.setFault('acme/slow:v1', 'trickle');
      const res = await http(`${tender.url}/v2/faulty.test/acme/slow/manifests/v1`, { headers: { accept: containerdAccept } });
      expect(res.status).toBe(503);
      expect(code(res)).toBe('UNAVAILABLE');
    });

    it('serves a manifest the upstream labels text/html with the type its document declares', async () => {
      const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: indexType, manifests: [], annotations: { label: 'html' } }));
      const digest = upstream.addManifest('acme/html', 'v1', body, 'text/html');
      for (const url of [`${tender.url}/v2/faulty.test/acme/html/manifests/v1`, `${tender.url}/v2/faulty.test/acme/html/manifests/${digest}`]) {
        const res = await http(url, { headers: { accept: containerdAccept } });
        expect(res.status).toBe(200);
        expect(res.headers['content-type']).toBe(indexType);
        expect(res.headers.etag).toBe(`"${digest}"`);
      }
    });

    it('refuses with 502 UPSTREAM_ERROR a body that is not a manifest, and caches nothing', async () => {
      const page = Buffer.from('<html><body>Please sign in</body></html>');
      const digest = upstream.addManifest('acme/portal', 'v1', page, 'text/html');
      const labelled = upstream.addManifest('acme/portal', 'v2', Buffer.from('{"hello":"world"}'), 'application/vnd.oci.image.manifest.v1+json');
      for (const reference of ['v1', digest, 'v2', labelled]) {
        const res = await http(`${tender.url}/v2/faulty.test/acme/portal/manifests/${reference}`, { headers: { accept: containerdAccept } });
        expect(res.status, reference).toBe(502);
        expect(code(res)).toBe('UPSTREAM_ERROR');
      }
      expect(await isCached(digest)).toBe(false);
    });

    it('refuses an upstream manifest over 4 MiB with 502 UPSTREAM_ERROR, not 400 MANIFEST_INVALID', async () => {
      const huge = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: indexType, manifests: [], annotations: { pad: 'x'.repeat(5 * 1024 * 1024) } }));
      upstream.addManifest('acme/huge', 'v1', huge, indexType);
      const res = await http(`${tender.url}/v2/faulty.test/acme/huge/manifests/v1`, { headers: { accept: containerdAccept } });
      expect(res.status).toBe(502);
      expect(code(res)).toBe('UPSTREAM_ERROR');
    });
  });

  /** A GET whose body is counted as it arrives; `complete` when it ended cleanly at its Content-Length. */
  async function received(url: string): Promise<{ status: number; bytes: number; body: Buffer; complete: boolean; ms: number }> {
    const started = performance.now();
    const res = await request(url);
    const chunks: Buffer[] = [];
    let complete = true;
    try {
      for await (const chunk of res.body) chunks.push(chunk as Buffer);
    } catch {
      complete = false;
    }
    const body = Buffer.concat(chunks);
    const length = res.headers['content-length'];
    if (length !== undefined && Number(length) !== body.length) complete = false;
    return { status: res.statusCode, bytes: body.length, body, complete, ms: performance.now() - started };
  }

  async function flightsInProgress(): Promise<number> {
    const text = await tender.metrics.registry.getSingleMetricAsString('tender_flights_in_progress');
    return Number(/upstream="faulty.test"\} (\d+)/.exec(text)?.[1] ?? 'NaN');
  }

  async function mismatches(): Promise<number> {
    const text = await tender.metrics.registry.getSingleMetricAsString('tender_digest_mismatches_total');
    return Number(/upstream="faulty.test",kind="blob"\} (\d+)/.exec(text)?.[1] ?? '0');
  }

  /** A manifest served through tender for `repository`, naming `blob` with `size`: tender learns that size. */
  async function serveManifestNaming(repository: string, blob: string, size: number): Promise<void> {
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: blob, size },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: blob, size }],
      }),
    );
    upstream.addManifest(repository, 'v1', body, 'application/vnd.oci.image.manifest.v1+json');
    expect((await http(`${tender.url}/v2/faulty.test/${repository}/manifests/v1`, { headers: { accept: containerdAccept } })).status).toBe(200);
  }

  it('refuses a 10 GiB Content-Length for a blob whose manifest gave its size, before any byte reaches a client', async () => {
    const bytes = randomBytes(200_000);
    const digest = upstream.addBlob(bytes);
    await serveManifestNaming('acme/sized', digest, bytes.length);
    upstream.setFault(digest, 'huge-length');
    const before = await mismatches();
    const res = await http(`${tender.url}/v2/faulty.test/acme/sized/blobs/${digest}`);
    expect(res.status).toBe(502);
    const error = JSON.parse(res.body.toString()).errors[0];
    expect(error.code).toBe('UPSTREAM_ERROR');
    expect(error.message).toContain(`announced ${10 * 2 ** 30} bytes`);
    expect(await mismatches()).toBe(before + 1);
    expect(tender.logs.some((l) => l.digest === digest && l.msg === 'upstream blob length refused; not cached, clients cut off')).toBe(true);
    expect(await isCached(digest)).toBe(false);
    await waitFor(async () => (await flightsInProgress()) === 0);
    upstream.setFault(digest, 'none');
    expect(sha256((await http(`${tender.url}/v2/faulty.test/acme/sized/blobs/${digest}`)).body)).toBe(digest);
  });

  it('refuses a Content-Length over maxBlobSize when no size is known', async () => {
    const digest = upstream.addBlob(randomBytes(1000));
    upstream.setFault(digest, 'huge-length');
    const res = await http(blobUrl(digest));
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body.toString()).errors[0].message).toContain('maxBlobSize');
  });

  it('cuts an endless body at the size a manifest gave, at once: the client never gets more, nor a complete body', async () => {
    const bytes = randomBytes(300_000);
    const digest = upstream.addBlob(bytes);
    await serveManifestNaming('acme/endless', digest, bytes.length);
    upstream.setFault(digest, 'endless');
    const res = await received(`${tender.url}/v2/faulty.test/acme/endless/blobs/${digest}`);
    expect(res.complete).toBe(false);
    expect(res.bytes).toBeLessThan(bytes.length);
    expect(res.body.equals(bytes.subarray(0, res.bytes))).toBe(true);
    await waitFor(async () => (await flightsInProgress()) === 0, 2000);
    expect(await isCached(digest)).toBe(false);
  });

  it('cuts an endless body of unknown size once it passes maxBlobSize (8 MiB here)', async () => {
    const digest = upstream.addBlob(randomBytes(100_000));
    upstream.setFault(digest, 'endless');
    const res = await received(blobUrl(digest));
    expect(res.complete).toBe(false);
    expect(res.bytes).toBeLessThanOrEqual(8 * 1024 * 1024);
    await waitFor(async () => (await flightsInProgress()) === 0, 2000);
    expect(await isCached(digest)).toBe(false);
    expect(tender.logs.some((l) => l.digest === digest && String(l.err).includes('maxBlobSize'))).toBe(true);
  });

  it('reads no further than Content-Length when upstream sends more: the announced bytes are the blob', async () => {
    const bytes = randomBytes(150_000);
    const digest = upstream.addBlob(bytes);
    upstream.setFault(digest, 'longer-than-length');
    const res = await received(blobUrl(digest));
    expect(res.status).toBe(200);
    expect(res.complete).toBe(true);
    expect(res.body.equals(bytes)).toBe(true);
    await waitFor(() => isCached(digest));
  });

  it('sends a cached blob asked for as a manifest the miss way: upstream says 404, and tender never answers it as one', async () => {
    const bytes = randomBytes(5 * 1024 * 1024);
    const digest = upstream.addBlob(bytes);
    expect(sha256((await http(blobUrl(digest))).body)).toBe(digest);
    const before = upstream.count('GET', `/manifests/${digest}`) + upstream.count('HEAD', `/manifests/${digest}`);
    for (const method of ['HEAD', 'GET'] as const) {
      const res = await http(`${tender.url}/v2/faulty.test/acme/app/manifests/${digest}`, { method, headers: { accept: containerdAccept } });
      expect(res.status, method).toBe(404);
      if (method === 'GET') expect(JSON.parse(res.body.toString()).errors[0].code).toBe('MANIFEST_UNKNOWN');
    }
    expect(upstream.count('GET', `/manifests/${digest}`) + upstream.count('HEAD', `/manifests/${digest}`)).toBe(before + 2);
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

describe('token realms the upstream names (credentials go only where they may)', () => {
  let realm: TokenRealm;
  const upstreams: Record<string, FaultUpstream> = {};
  let tender: TenderHandle;
  const basic = `Basic ${Buffer.from('robot:upstream-secret').toString('base64')}`;
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: indexType, manifests: [] }));

  beforeAll(async () => {
    realm = await startTokenRealm();
    for (const name of ['other.test', 'listed.test', 'own.test', 'garbage.test']) {
      upstreams[name] = await startFaultUpstream();
      upstreams[name].addManifest('acme/app', 'v1', manifest, indexType);
    }
    // An insecure (http) upstream naming a plain-http realm on another host: the finding's case.
    upstreams['other.test']!.setBearerRealm(realm.url, 'other');
    upstreams['listed.test']!.setBearerRealm(realm.url, 'listed');
    upstreams['own.test']!.setBearerRealm(upstreams['own.test']!.ownRealm(), 'own');
    upstreams['garbage.test']!.setBearerRealm(realm.url, 'garbage');
    realm.respond = (service) =>
      service === 'garbage'
        ? { status: 200, body: '<html>proxy login</html>' }
        : { status: 200, body: JSON.stringify({ token: `t-${service}`, expires_in: 300 }) };
    const entry = (name: string, extra: Record<string, unknown> = {}) => ({
      url: upstreams[name]!.url,
      insecure: true,
      retries: 0,
      username: 'robot',
      password: 'upstream-secret',
      ...extra,
    });
    tender = await startTender({
      upstreams: Object.fromEntries(Object.entries(upstreams).map(([name, u]) => [name, u.url])),
      settings: {
        upstreams: {
          'other.test': entry('other.test'),
          'listed.test': entry('listed.test', { tokenRealms: [realm.origin] }),
          'own.test': entry('own.test'),
          'garbage.test': entry('garbage.test'),
        },
      },
    });
  });

  afterAll(async () => {
    await tender?.stop();
    for (const u of Object.values(upstreams)) await u.stop();
    await realm?.stop();
  });

  const pull = (name: string, repository = 'acme/app') =>
    http(`${tender.url}/v2/${name}/${repository}/manifests/v1`, { headers: { accept: containerdAccept } });

  it('asks a plain-http realm on another host anonymously, logging why once, and the pull goes on', async () => {
    const res = await pull('other.test');
    expect(res.status).toBe(200);
    upstreams['other.test']!.addManifest('acme/second', 'v1', manifest, indexType);
    expect((await pull('other.test', 'acme/second')).status).toBe(200);
    const asked = realm.requests.filter((r) => r.service === 'other');
    expect(asked).toHaveLength(2);
    expect(asked.every((r) => r.authorization === undefined)).toBe(true);
    const warnings = tender.logs.filter((l) => String(l.msg).startsWith('credentials not sent to the token realm'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ upstream: 'other.test', realm: realm.url });
    expect(String(warnings[0]!.reason)).toMatch(/plain http on another host/);
    expect(JSON.stringify(tender.logs)).not.toContain('upstream-secret');
  });

  it('sends the credentials to that realm once tokenRealms lists it', async () => {
    expect((await pull('listed.test')).status).toBe(200);
    expect(realm.requests.filter((r) => r.service === 'listed').map((r) => r.authorization)).toEqual([basic]);
  });

  it("sends the credentials to the insecure upstream's own host", async () => {
    expect((await pull('own.test')).status).toBe(200);
    expect(upstreams['own.test']!.tokenRequests.map((r) => r.authorization)).toEqual([basic]);
  });

  it('answers 502 UPSTREAM_ERROR when the realm answers garbage', async () => {
    const res = await pull('garbage.test');
    expect(res.status).toBe(502);
    expect((JSON.parse(res.body.toString()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('UPSTREAM_ERROR');
  });
});
