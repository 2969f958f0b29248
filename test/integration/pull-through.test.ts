// Pull-through against a real upstream (distribution): bytes, digests, routing, and what reaches upstream.
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { containerdAccept, http } from '../helpers/http-client.js';
import { pushCosignSignature, pushHelmChart, pushImage, pushIndex, sha256, type PushedImage, type PushedIndex } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

describeWithBinaries(['docker-registry'], 'pull-through against a real upstream', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let image: PushedImage;
  let index: PushedIndex;
  let nested: PushedImage;
  let chart: PushedImage;
  let signature: PushedImage;

  beforeAll(async () => {
    registry = await startRegistry();
    image = await pushImage(registry, 'library/app', 'v1', { layerSizes: [300_000, 1_500_000, 10], seed: 'app', mediaType: 'docker' });
    index = await pushIndex(registry, 'multi/arch', 'v2', {
      seed: 'multi',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
      layerSizes: [200_000, 50_000],
    });
    nested = await pushImage(registry, 'team/app/api', '1.0.0', { layerSizes: [70_000], seed: 'nested' });
    chart = await pushHelmChart(registry, 'charts/demo', '0.1.0', 'chart');
    signature = await pushCosignSignature(registry, 'library/app', image.digest, 'sig');
    tender = await startTender({ upstreams: { 'docker.io': registry.url, 'registry.test:5000': registry.url } });
  });

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
  });

  const base = () => tender.url;

  async function upstreamCount(filter: Parameters<RegistryHandle['count']>[0]): Promise<number> {
    await registry.settle();
    return registry.count(filter);
  }

  it('answers /v2/ with the API version header', async () => {
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await http(`${base()}/v2/`, { method });
      expect(res.status).toBe(200);
      expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
    }
  });

  it('resolves a tag the way containerd does (HEAD with its Accept list, then GET by digest) with ns=', async () => {
    await registry.settle();
    registry.resetLog();
    const head = await http(`${base()}/v2/library/app/manifests/v1?ns=registry.test:5000`, { method: 'HEAD', headers: { accept: containerdAccept } });
    expect(head.status).toBe(200);
    expect(head.headers['docker-content-digest']).toBe(image.digest);
    expect(head.headers['content-type']).toBe(image.mediaType);
    expect(Number(head.headers['content-length'])).toBe(image.manifest.length);
    expect(head.headers['oci-namespace']).toBe('registry.test:5000');
    expect(head.body.length).toBe(0);
    // A HEAD is answered with an upstream HEAD: no manifest body is downloaded for it.
    expect(await upstreamCount({ kind: 'manifests', method: 'GET' })).toBe(0);
    expect(await upstreamCount({ kind: 'manifests', method: 'HEAD' })).toBe(1);

    const manifest = await http(`${base()}/v2/library/app/manifests/${image.digest}?ns=registry.test:5000`, { headers: { accept: containerdAccept } });
    expect(manifest.status).toBe(200);
    expect(manifest.body.equals(image.manifest)).toBe(true);
    expect(manifest.headers['content-type']).toBe(image.mediaType);

    for (const blob of [image.config, ...image.layers]) {
      const res = await http(`${base()}/v2/library/app/blobs/${blob.digest}?ns=registry.test:5000`, { headers: { 'accept-encoding': 'gzip, deflate, br' } });
      expect(res.status).toBe(200);
      expect(res.headers['content-encoding']).toBeUndefined();
      expect(Number(res.headers['content-length'])).toBe(blob.size);
      expect(res.headers['docker-content-digest']).toBe(blob.digest);
      expect(sha256(res.body)).toBe(blob.digest);
    }
  });

  it('serves a second pull of every blob with zero upstream blob requests, from any repository of the upstream', async () => {
    await registry.settle();
    registry.resetLog();
    for (const blob of [image.config, ...image.layers]) {
      // The same digests through another repository name and the prefix form: content addressing, no upstream call.
      const res = await http(`${base()}/v2/registry.test:5000/other/repo/blobs/${blob.digest}`);
      expect(sha256(res.body)).toBe(blob.digest);
    }
    expect(await upstreamCount({ kind: 'blobs' })).toBe(0);
  });

  it('stores manifests byte-exact with their media type: index, nested repository, helm chart, cosign signature', async () => {
    const cases: Array<[string, PushedImage | PushedIndex, string]> = [
      ['multi/arch', index, 'v2'],
      ['team/app/api', nested, '1.0.0'],
      ['charts/demo', chart, '0.1.0'],
      ['library/app', signature, `sha256-${image.digest.slice(7)}.sig`],
    ];
    for (const [repository, pushed, tag] of cases) {
      for (const url of [
        `${base()}/v2/${repository}/manifests/${tag}?ns=registry.test:5000`,
        `${base()}/v2/registry.test:5000/${repository}/manifests/${tag}`,
      ]) {
        const res = await http(url, { headers: { accept: containerdAccept } });
        expect(res.status, url).toBe(200);
        expect(res.body.equals(pushed.manifest)).toBe(true);
        expect(res.headers['content-type']).toBe(pushed.mediaType);
        expect(res.headers['docker-content-digest']).toBe(pushed.digest);
      }
    }
    const helmLayer = chart.layers[0]!;
    const layer = await http(`${base()}/v2/registry.test:5000/charts/demo/blobs/${helmLayer.digest}`);
    expect(sha256(layer.body)).toBe(helmLayer.digest);
  });

  it('routes Docker Hub one-component names to library/ for the default upstream and docker.io', async () => {
    const viaDefault = await http(`${base()}/v2/app/manifests/v1`, { headers: { accept: containerdAccept } });
    const viaNs = await http(`${base()}/v2/app/manifests/v1?ns=docker.io`, { headers: { accept: containerdAccept } });
    const viaPrefix = await http(`${base()}/v2/docker.io/app/manifests/v1`, { headers: { accept: containerdAccept } });
    for (const res of [viaDefault, viaNs, viaPrefix]) {
      expect(res.status).toBe(200);
      expect(res.headers['docker-content-digest']).toBe(image.digest);
    }
  });

  it('refuses unknown registries with 403 DENIED and never dials them', async () => {
    await registry.settle();
    registry.resetLog();
    const attempts = [
      `${base()}/v2/library/app/manifests/v1?ns=evil.example.com`,
      `${base()}/v2/library/app/manifests/v1?ns=127.0.0.1:${registry.port}`,
      `${base()}/v2/evil.example.com/library/app/manifests/v1`,
      `${base()}/v2/127.0.0.1:${registry.port}/library/app/blobs/${image.config.digest}`,
      `${base()}/v2/localhost:${registry.port}/library/app/manifests/v1`,
    ];
    for (const url of attempts) {
      const res = await http(url);
      expect(res.status, url).toBe(403);
      const body = JSON.parse(res.body.toString()) as { errors: Array<{ code: string }> };
      expect(body.errors[0]!.code).toBe('DENIED');
    }
    expect(await upstreamCount({})).toBe(0);
  });

  it('keeps the connection open across HEAD and GET requests (no double writeHead after a HEAD)', async () => {
    // A raw socket: undici itself asks for Connection: close on HEAD, which would hide the bug.
    const { connect } = await import('node:net');
    const { port } = new URL(base());
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const ask = async (method: string, path: string, until: number) => {
      socket.write(`${method} ${path} HTTP/1.1\r\nHost: tender\r\nAccept: ${containerdAccept}\r\n\r\n`);
      const deadline = Date.now() + 3000;
      while ((received.match(/HTTP\/1\.1 200 OK/g) ?? []).length < until && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    };
    await ask('HEAD', `/v2/library/app/manifests/v1?ns=registry.test:5000`, 1);
    await ask('HEAD', `/v2/library/app/blobs/${image.config.digest}?ns=registry.test:5000`, 2);
    await ask('GET', `/v2/library/app/manifests/${image.digest}?ns=registry.test:5000`, 3);
    expect((received.match(/HTTP\/1\.1 200 OK/g) ?? []).length).toBe(3);
    expect(received).not.toMatch(/connection: close/i);
    expect(socket.destroyed).toBe(false);
    socket.destroy();
  });

  it('never echoes a hostile ns into a header, and still refuses it', async () => {
    const res = await http(`${base()}/v2/library/app/manifests/v1?ns=docker.io%0d%0aX-Injected:%201`);
    expect(res.status).toBe(403);
    expect(res.headers['x-injected']).toBeUndefined();
    expect(res.headers['oci-namespace']).toBeUndefined();
    expect(JSON.parse(res.body.toString()).errors[0].code).toBe('DENIED');
  });

  it('answers HEAD of an uncached blob with an upstream HEAD, never a GET', async () => {
    const fresh = await pushImage(registry, 'head/only', 'v1', { layerSizes: [400_000], seed: 'head-only' });
    await registry.settle();
    registry.resetLog();
    const layer = fresh.layers[0]!;
    const res = await http(`${base()}/v2/head/only/blobs/${layer.digest}?ns=registry.test:5000`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(Number(res.headers['content-length'])).toBe(layer.size);
    expect(await upstreamCount({ kind: 'blobs', method: 'GET' })).toBe(0);
    expect(await upstreamCount({ kind: 'blobs', method: 'HEAD' })).toBe(1);
    const missing = await http(`${base()}/v2/head/only/blobs/sha256:${'0'.repeat(64)}?ns=registry.test:5000`, { method: 'HEAD' });
    expect(missing.status).toBe(404);
  });

  it('serves single ranges of cached blobs (206) and refuses unsatisfiable ones (416)', async () => {
    const layer = image.layers[1]!;
    const url = `${base()}/v2/library/app/blobs/${layer.digest}?ns=docker.io`;
    const part = await http(url, { headers: { range: 'bytes=1000-1999' } });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 1000-1999/${layer.size}`);
    expect(part.body.equals(layer.bytes.subarray(1000, 2000))).toBe(true);
    const resume = await http(url, { headers: { range: `bytes=${layer.size - 10}-` } });
    expect(resume.status).toBe(206);
    expect(resume.body.equals(layer.bytes.subarray(layer.size - 10))).toBe(true);
    const beyond = await http(url, { headers: { range: `bytes=${layer.size}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers['content-range']).toBe(`bytes */${layer.size}`);
  });

  it('shares one upstream GET among concurrent requests for an uncached blob, across repositories and routes', async () => {
    const fresh = await pushImage(registry, 'herd/one', 'v1', { layerSizes: [3_000_000], seed: 'herd' });
    const layer = fresh.layers[0]!;
    await registry.settle();
    registry.resetLog();
    const urls = Array.from({ length: 12 }, (_, i) =>
      i % 3 === 0
        ? `${base()}/v2/herd/one/blobs/${layer.digest}?ns=registry.test:5000`
        : i % 3 === 1
          ? `${base()}/v2/registry.test:5000/herd/one/blobs/${layer.digest}`
          : `${base()}/v2/registry.test:5000/herd/one/blobs/${layer.digest}`,
    );
    const answers = await Promise.all(urls.map((url, i) => http(url, i === 5 ? { headers: { range: 'bytes=100-' } } : {})));
    for (const [i, res] of answers.entries()) {
      if (i === 5) {
        expect(res.status).toBe(206);
        expect(res.body.equals(layer.bytes.subarray(100))).toBe(true);
      } else {
        expect(sha256(res.body)).toBe(layer.digest);
      }
    }
    expect(await upstreamCount({ kind: 'blobs', method: 'GET' })).toBe(1);
  });

  it("answers tags/list with the spec's n, last and Link itself (distribution 2.8 ignores them); ns never goes upstream", async () => {
    for (const tag of ['c', 'a', 'b']) await pushImage(registry, 'paged/repo', tag, { layerSizes: [10], seed: `paged-${tag}` });
    await registry.settle();
    registry.resetLog();
    const res = await http(`${base()}/v2/paged/repo/tags/list?n=1&last=a&ns=registry.test:5000`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({ name: 'paged/repo', tags: ['b'] });
    expect(res.headers.link).toBe('</v2/paged/repo/tags/list?n=1&last=b&ns=registry.test%3A5000>; rel="next"');
    const rest = await http(`${base()}/v2/paged/repo/tags/list?n=5&last=b&ns=registry.test:5000`);
    expect(JSON.parse(rest.body.toString()).tags).toEqual(['c']);
    expect(rest.headers.link).toBeUndefined();
    await registry.settle();
    // The whole list once, without the client's parameters; the second page came from tender's cache.
    const sent = registry.requests().filter((r) => r.kind === 'tags');
    expect(sent.map((r) => r.path)).toEqual(['/v2/paged/repo/tags/list']);
    const unknown = await http(`${base()}/v2/no/such/tags/list?ns=registry.test:5000`);
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body.toString()).errors[0].code).toBe('NAME_UNKNOWN');
  });

  it('answers referrers itself when the upstream has no referrers API: the referrers tag, else an empty index', async () => {
    registry.resetLog();
    const res = await http(`${base()}/v2/library/app/referrers/${image.digest}?ns=registry.test:5000`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/vnd.oci.image.index.v1+json');
    expect(JSON.parse(res.body.toString())).toEqual({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] });
    await registry.settle();
    // The spec's client fallback: the API (a 404 from distribution 2.8), then the sha256-<hex> tag.
    const asked = registry.requests().map((r) => `${r.kind} ${r.status}`);
    expect(asked).toEqual(['referrers 404', 'manifests 404']);
  });

  it('refuses push and delete with 405 UNSUPPORTED', async () => {
    const cases: Array<[string, 'POST' | 'PUT' | 'DELETE' | 'PATCH']> = [
      ['/v2/library/app/blobs/uploads/', 'POST'],
      ['/v2/library/app/manifests/v9', 'PUT'],
      [`/v2/library/app/manifests/${image.digest}`, 'DELETE'],
      [`/v2/library/app/blobs/${image.config.digest}`, 'DELETE'],
      ['/v2/library/app/blobs/uploads/abc', 'PATCH'],
    ];
    for (const [path, method] of cases) {
      const res = await http(`${base()}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.allow).toBe('GET, HEAD');
      expect(JSON.parse(res.body.toString()).errors[0].code).toBe('UNSUPPORTED');
    }
  });

  it('keeps only verified files at final paths, laid out as blobs/sha256/<2 hex>/<hex>', async () => {
    const root = join(tender.cacheDir, 'blobs', 'sha256');
    let files = 0;
    for (const prefix of await readdir(root)) {
      for (const hex of await readdir(join(root, prefix))) {
        expect(hex.slice(0, 2)).toBe(prefix);
        const { readFile } = await import('node:fs/promises');
        expect(
          createHash('sha256')
            .update(await readFile(join(root, prefix, hex)))
            .digest('hex'),
        ).toBe(hex);
        files += 1;
      }
    }
    expect(files).toBeGreaterThan(5);
    expect(await readdir(join(tender.cacheDir, 'tmp'))).toEqual([]);
  });
});
