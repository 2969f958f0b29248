// A cached blob asked for through the manifest route: never read into memory, never answered as a manifest.
import { createHash, randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { containerdAccept, http } from '../helpers/http-client.js';
import { MediaTypes, pushBlob, pushImage, sha256, type PushedImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

/** A full collection on demand, so that memory still held after a request can be told from garbage. */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describeWithBinaries(['docker-registry'], 'the manifest route and cached blobs', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let image: PushedImage;
  /** Larger than a manifest may be, smaller than manifest memory (64 MiB): a body read as a manifest would stay in memory. */
  const bigSize = 40 * 1024 * 1024;
  let big: string;
  const gc = collector();

  beforeAll(async () => {
    registry = await startRegistry();
    image = await pushImage(registry, 'library/app', 'v1', { layerSizes: [20_000], seed: 'manifest-route' });
    const bytes = randomBytes(bigSize);
    big = sha256(bytes);
    await pushBlob(registry, 'library/app', { digest: big, size: bigSize, mediaType: MediaTypes.ociLayer, bytes });
    tender = await startTender({ upstreams: { 'docker.io': registry.url } });
    // Cache the big blob (streamed and hashed here, not kept).
    const res = await request(`${tender.url}/v2/library/app/blobs/${big}`);
    const hash = createHash('sha256');
    for await (const chunk of res.body) hash.update(chunk as Buffer);
    expect(`sha256:${hash.digest('hex')}`).toBe(big);
  });

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
  });

  /**
   * Not served from the cache: asked of upstream by digest, whose answer is passed on. distribution 2.8 answers
   * a blob's digest on the manifest route with 500 (it tries to parse the blob), which tender passes on as 503
   * UNAVAILABLE; registries that keep manifests apart (Docker Hub, the fault upstream) answer 404.
   */
  const missAnswers = [404, 503];

  it('answers HEAD and GET /manifests/<digest of a cached large blob> the miss way, without reading it', async () => {
    await registry.settle();
    registry.resetLog();
    gc();
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 4; i++) {
      for (const method of ['HEAD', 'GET'] as const) {
        const res = await http(`${tender.url}/v2/library/app/manifests/${big}`, { method, headers: { accept: containerdAccept } });
        expect(missAnswers, method).toContain(res.status);
        if (method === 'GET') expect(['MANIFEST_UNKNOWN', 'UNAVAILABLE']).toContain(JSON.parse(res.body.toString()).errors[0].code);
      }
    }
    gc();
    const grown = process.memoryUsage().arrayBuffers - before;
    // Reading the blob as a manifest would hold 40 MiB (it would be kept in manifest memory); nothing like it is.
    expect(grown).toBeLessThan(4 * 1024 * 1024);
    await registry.settle();
    const asked = registry.requests().map((r) => `${r.method} ${r.path}`);
    expect(asked).toContain(`HEAD /v2/library/app/manifests/${big}`);
    expect(asked).toContain(`GET /v2/library/app/manifests/${big}`);
    // The blob itself is still cached and served as a blob.
    const head = await http(`${tender.url}/v2/library/app/blobs/${big}`, { method: 'HEAD' });
    expect(Number(head.headers['content-length'])).toBe(bigSize);
  });

  it('never answers a small cached blob as a manifest, and still answers a cached manifest from the cache', async () => {
    const layer = image.layers[0]!;
    expect((await http(`${tender.url}/v2/library/app/blobs/${layer.digest}`)).status).toBe(200);
    for (const method of ['HEAD', 'GET'] as const) {
      const res = await http(`${tender.url}/v2/library/app/manifests/${layer.digest}`, { method, headers: { accept: containerdAccept } });
      expect(missAnswers, method).toContain(res.status);
    }
    // A real manifest by digest is still a hit, HEAD and GET alike, with its stored media type.
    expect((await http(`${tender.url}/v2/library/app/manifests/v1`, { headers: { accept: containerdAccept } })).status).toBe(200);
    await registry.settle();
    registry.resetLog();
    for (const method of ['HEAD', 'GET'] as const) {
      const res = await http(`${tender.url}/v2/library/app/manifests/${image.digest}`, { method, headers: { accept: containerdAccept } });
      expect(res.status, method).toBe(200);
      expect(res.headers['content-type']).toBe(image.mediaType);
      expect(Number(res.headers['content-length'])).toBe(image.manifest.length);
    }
    await registry.settle();
    expect(registry.requests()).toEqual([]);
  });
});
