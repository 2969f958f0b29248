// With the upstream gone: cached digests still served, tags served stale at once, and all of it across a restart.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { containerdAccept, http } from '../helpers/http-client.js';
import { pushIndex, sha256, type PushedIndex } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

describeWithBinaries(['docker-registry'], 'upstream outage and tender restart', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let index: PushedIndex;
  // Ours, not the helper's: it outlives the first tender.
  let cacheDir: string;
  const ns = 'registry.test';

  beforeAll(async () => {
    registry = await startRegistry();
    index = await pushIndex(registry, 'team/app/api', 'v1', {
      seed: 'outage',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
      layerSizes: [250_000, 40_000],
    });
    cacheDir = await mkdtemp(join(tmpdir(), 'tender-offline-restart-'));
    tender = await startTender({ upstreams: { [ns]: registry.url }, cacheDir, settings: { tagTtl: '1h', staleTimeout: '1s' } });
  });

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
  });

  async function pullAll(target: TenderHandle): Promise<void> {
    const top = await http(`${target.url}/v2/team/app/api/manifests/v1?ns=${ns}`, { headers: { accept: containerdAccept } });
    expect(top.status).toBe(200);
    expect(top.headers['docker-content-digest']).toBe(index.digest);
    expect(top.body.equals(index.manifest)).toBe(true);
    for (const image of index.images) {
      const manifest = await http(`${target.url}/v2/team/app/api/manifests/${image.digest}?ns=${ns}`, { headers: { accept: containerdAccept } });
      expect(manifest.body.equals(image.manifest)).toBe(true);
      for (const blob of [image.config, ...image.layers]) {
        const res = await http(`${target.url}/v2/team/app/api/blobs/${blob.digest}?ns=${ns}`);
        expect(res.status).toBe(200);
        expect(sha256(res.body)).toBe(blob.digest);
      }
    }
  }

  it('serves cached tags (stale, within the stale timeout) and blobs while the upstream is down, and after a restart', async () => {
    await pullAll(tender);
    await registry.stop();
    tender.advance(60 * 60 * 1000); // the tag is now past its TTL

    const started = performance.now();
    const head = await http(`${tender.url}/v2/team/app/api/manifests/v1?ns=${ns}`, { method: 'HEAD', headers: { accept: containerdAccept } });
    expect(head.status).toBe(200);
    expect(head.headers['docker-content-digest']).toBe(index.digest);
    expect(performance.now() - started).toBeLessThan(1500);
    expect(tender.logs.some((l) => l.msg === 'upstream revalidation failed; serving last known digest')).toBe(true);
    const stale = await tender.metrics.registry.getSingleMetricAsString('tender_cache_results_total');
    expect(stale).toMatch(/kind="tag",result="stale"\} [1-9]/);
    await pullAll(tender);

    // Restart on the same cache directory, upstream still down: everything comes from disk and metadata.
    await tender.stop();
    tender = await startTender({ upstreams: { [ns]: registry.url }, cacheDir, settings: { tagTtl: '1h', staleTimeout: '1s' } });
    await pullAll(tender);
  });

  it('says clearly that an uncached image is unavailable while upstream is down', async () => {
    const res = await http(`${tender.url}/v2/never/pulled/manifests/v1?ns=${ns}`);
    expect(res.status).toBe(503);
    const error = JSON.parse(res.body.toString()).errors[0];
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toContain(ns);
  });
});
