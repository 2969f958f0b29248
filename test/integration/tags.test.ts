// Tag freshness against a real upstream: no upstream call inside the window, one HEAD after it, moves followed.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { containerdAccept, http } from '../helpers/http-client.js';
import { pushImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

// The window passes when the test moves tender's clock, never by itself on a loaded machine.
const ttlMs = 60 * 60 * 1000;

describeWithBinaries(['docker-registry'], 'tag freshness', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;

  beforeAll(async () => {
    registry = await startRegistry();
    tender = await startTender({ upstreams: { 'registry.test': registry.url }, settings: { tagTtl: `${ttlMs}ms` } });
  });

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
  });

  const url = () => `${tender.url}/v2/team/moving/manifests/latest?ns=registry.test`;
  const get = (method: 'GET' | 'HEAD' = 'GET') => http(url(), { method, headers: { accept: containerdAccept } });

  async function sent(): Promise<{ gets: number; heads: number }> {
    await registry.settle();
    return { gets: registry.count({ kind: 'manifests', method: 'GET' }), heads: registry.count({ kind: 'manifests', method: 'HEAD' }) };
  }

  it('asks upstream nothing within the window, one HEAD after it, and follows a moved tag by digest', async () => {
    const v1 = await pushImage(registry, 'team/moving', 'latest', { layerSizes: [1000], seed: 'v1' });
    await registry.settle();
    registry.resetLog();

    expect((await get()).headers['docker-content-digest']).toBe(v1.digest);
    expect(await sent()).toEqual({ gets: 1, heads: 0 }); // first sight: one GET by tag, no HEAD+GET pair

    const v2 = await pushImage(registry, 'team/moving', 'latest', { layerSizes: [1000], seed: 'v2' });
    await registry.settle();
    registry.resetLog();
    for (let i = 0; i < 10; i++) {
      const res = await get(i % 2 ? 'HEAD' : 'GET');
      expect(res.headers['docker-content-digest']).toBe(v1.digest); // still inside the window
    }
    expect(await sent()).toEqual({ gets: 0, heads: 0 });

    tender.advance(ttlMs);
    const moved = await Promise.all(Array.from({ length: 10 }, () => get()));
    for (const res of moved) {
      expect(res.headers['docker-content-digest']).toBe(v2.digest);
      expect(res.body.equals(v2.manifest)).toBe(true);
    }
    await registry.settle();
    // One HEAD for ten concurrent requests, then the new manifest fetched by digest, never by tag.
    expect(registry.count({ kind: 'manifests', method: 'HEAD' })).toBe(1);
    const gets = registry.requests().filter((r) => r.kind === 'manifests' && r.method === 'GET');
    expect(gets.map((r) => r.path)).toEqual([`/v2/team/moving/manifests/${v2.digest}`]);
  });

  it('revalidates an unchanged tag with one HEAD and no GET', async () => {
    tender.advance(ttlMs);
    await registry.settle();
    registry.resetLog();
    await get();
    expect(await sent()).toEqual({ gets: 0, heads: 1 });
  });

  it('answers HEAD of an unknown tag with an upstream HEAD only, and 404 MANIFEST_UNKNOWN when it does not exist', async () => {
    await registry.settle();
    registry.resetLog();
    const res = await http(`${tender.url}/v2/team/moving/manifests/nope?ns=registry.test`, { method: 'HEAD', headers: { accept: containerdAccept } });
    expect(res.status).toBe(404);
    expect(await sent()).toEqual({ gets: 0, heads: 1 });
    const body = await http(`${tender.url}/v2/team/moving/manifests/nope?ns=registry.test`, { headers: { accept: containerdAccept } });
    expect(body.status).toBe(404);
    expect(JSON.parse(body.body.toString()).errors[0].code).toBe('MANIFEST_UNKNOWN');
  });
});
