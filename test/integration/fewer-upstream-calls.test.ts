// Issue 16 item 4 end to end, and the Cache-Status header (item 6): what upstream is asked, and what the
// client is told about it. Counts come from the real registry's access log; the one fault a real
// registry cannot be made to do (a manifest held half-sent, so two requests overlap) from the fault upstream.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { containerdAccept, http } from '../helpers/http-client.js';
import { pushImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const hour = 3_600_000;

describeWithBinaries(['docker-registry'], 'fewer upstream calls, against a real registry', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;

  beforeAll(async () => {
    registry = await startRegistry();
    tender = await startTender({
      upstreams: { 'registry.test': registry.url },
      settings: {
        tagTtl: '1h',
        missingTagTtl: '10s',
        tagTtls: [
          { pattern: 'v*.*.*', ttl: 'never' },
          { pattern: 'latest', ttl: '1m' },
        ],
      },
    });
  });
  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
  });

  const manifestUrl = (reference: string) => `${tender.url}/v2/team/app/manifests/${reference}?ns=registry.test`;
  const ask = (reference: string, method: 'GET' | 'HEAD' = 'GET') => http(manifestUrl(reference), { method, headers: { accept: containerdAccept } });
  async function manifestRequests(): Promise<string[]> {
    await registry.settle();
    return registry
      .requests()
      .filter((r) => r.kind === 'manifests')
      .map((r) => `${r.method} ${r.path.split('/').pop()}`);
  }

  it('asks upstream once about a missing tag however often a crash-looping Pod asks, then again after missingTagTtl', async () => {
    registry.resetLog();
    for (let i = 0; i < 10; i++) {
      const res = await ask('typo', i % 2 ? 'GET' : 'HEAD'); // containerd: HEAD; other clients: GET
      expect(res.status).toBe(404);
      expect(res.headers['cache-status']).toBe(i === 0 ? undefined : 'tender; hit; detail=missing');
    }
    expect(await manifestRequests()).toEqual(['HEAD typo']);
    const body = await ask('typo');
    expect(JSON.parse(body.body.toString()).errors[0].code).toBe('MANIFEST_UNKNOWN');
    const metrics = await http(`${tender.url}/metrics`);
    expect(metrics.body.toString()).toMatch(/tender_missing_tag_hits_total\{upstream="registry.test"\} 10/);
    // Pushed meanwhile: found once the 404 is forgotten.
    await pushImage(registry, 'team/app', 'typo', { layerSizes: [100], seed: 'typo' });
    tender.advance(10_000);
    expect((await ask('typo')).status).toBe(200);
  });

  it('revalidates tags by pattern: latest every minute, v1.2.3 never, others after tagTtl', async () => {
    for (const tag of ['latest', 'v1.2.3', 'main']) await pushImage(registry, 'team/app', tag, { layerSizes: [100], seed: tag });
    for (const tag of ['latest', 'v1.2.3', 'main']) expect((await ask(tag)).headers['cache-status']).toBe('tender; fwd=uri-miss');
    registry.resetLog();
    tender.advance(60_000);
    for (const tag of ['latest', 'v1.2.3', 'main']) expect((await ask(tag)).headers['cache-status']).toBe('tender; hit');
    expect(await manifestRequests()).toEqual(['HEAD latest']);
    registry.resetLog();
    tender.advance(24 * hour);
    for (const tag of ['v1.2.3', 'main']) await ask(tag);
    expect(await manifestRequests()).toEqual(['HEAD main']);
  });
});

describe('one upstream request for a cold GET and HEAD of the same tag, and Cache-Status', () => {
  let upstream: FaultUpstream;
  let tender: TenderHandle;
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: {}, layers: [] }));
  let digest: string;
  const blob = Buffer.alloc(256 * 1024, 7);
  let blobDigest: string;

  beforeAll(async () => {
    upstream = await startFaultUpstream();
    digest = upstream.addManifest('team/app', 'latest', manifest, 'application/vnd.oci.image.manifest.v1+json');
    blobDigest = upstream.addBlob(blob);
    tender = await startTender({ upstreams: { 'fault.test': upstream.url }, settings: { tagTtl: '1h' } });
  });
  afterAll(async () => {
    await tender?.stop();
    await upstream?.stop();
  });

  const url = (path: string) => `${tender.url}/v2/team/app/${path}?ns=fault.test`;
  async function until(condition: () => boolean): Promise<void> {
    for (let i = 0; i < 2_000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(condition()).toBe(true);
  }
  /** Sends a request and resolves once tender's server has received it (tender runs in this process). */
  async function arrived<T>(send: () => Promise<T>): Promise<{ answer: Promise<T> }> {
    let seen = 0;
    const onStart = (message: unknown): void => void ((message as { request: IncomingMessage }).request.url?.includes('ns=fault.test') && seen++);
    subscribe('http.server.request.start', onStart);
    try {
      const answer = send();
      await until(() => seen > 0);
      // From arrival to the core's check for a resolution in flight is a tag record read: let it happen.
      await new Promise((resolve) => setTimeout(resolve, 100));
      return { answer };
    } finally {
      unsubscribe('http.server.request.start', onStart);
    }
  }

  it('a HEAD arriving while the GET is upstream joins it: one upstream GET, no HEAD', async () => {
    upstream.setFault('team/app:latest', 'held');
    const getting = http(url('manifests/latest'), { headers: { accept: containerdAccept } });
    await until(() => upstream.count('GET', '/manifests/latest') === 1);
    const { answer: heading } = await arrived(() => http(url('manifests/latest'), { method: 'HEAD', headers: { accept: containerdAccept } }));
    upstream.setFault('team/app:latest', 'none');
    upstream.release('latest');
    const [get, head] = await Promise.all([getting, heading]);
    expect(get.headers).toMatchObject({ 'docker-content-digest': digest, 'cache-status': 'tender; fwd=uri-miss' });
    expect(head.headers).toMatchObject({
      'docker-content-digest': digest,
      'content-length': String(manifest.length),
      'cache-status': 'tender; fwd=uri-miss; collapsed',
    });
    expect(upstream.requests.filter((r) => r.includes('/manifests/'))).toEqual([`GET /v2/team/app/manifests/latest`]);
  });

  it('marks blobs hit, miss and joined', async () => {
    upstream.setFault(blobDigest, 'held');
    const first = http(url(`blobs/${blobDigest}`));
    await until(() => upstream.count('GET', blobDigest) === 1);
    const { answer: second } = await arrived(() => http(url(`blobs/${blobDigest}`)));
    upstream.release(blobDigest);
    const answers = await Promise.all([first, second]);
    expect(answers.map((a) => a.headers['cache-status']).sort()).toEqual(['tender; fwd=uri-miss', 'tender; fwd=uri-miss; collapsed']);
    expect((await http(url(`blobs/${blobDigest}`))).headers['cache-status']).toBe('tender; hit');
  });

  it('marks the last known digest served while upstream fails as stale, and says why once, without repeating the cause', async () => {
    upstream.setFault('latest', 'unavailable');
    tender.advance(hour);
    const stale = await http(url('manifests/latest'), { headers: { accept: containerdAccept } });
    expect(stale.status).toBe(200);
    expect(stale.headers['cache-status']).toBe('tender; hit; detail=stale');
    const warning = tender.logs.find((l) => l.msg === 'upstream revalidation failed; serving last known digest');
    expect(warning?.reason).toBe(`UNAVAILABLE upstream fault.test answered 503 for fault.test/team/app:latest`);
    upstream.setFault('latest', 'none');
  });

  it('says the same for a refused connection: the cause once', async () => {
    const port = new URL(upstream.url).port;
    await upstream.stop();
    tender.advance(hour);
    const stale = await http(url('manifests/latest'), { headers: { accept: containerdAccept } });
    expect(stale.headers['cache-status']).toBe('tender; hit; detail=stale');
    const warnings = tender.logs.filter((l) => l.msg === 'upstream revalidation failed; serving last known digest');
    const reason = String(warnings[warnings.length - 1]?.reason);
    expect(reason).toBe(`UNAVAILABLE upstream fault.test unreachable: connect ECONNREFUSED 127.0.0.1:${port}`);
  });
});
