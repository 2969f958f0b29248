// The provenance inventory and the pull audit from real pulls through tender from a real upstream (Debian's
// docker-registry): records with the generator's labels and annotations, reverse lookups, a tag moved upstream,
// audit events in the file and at a notification listener with the client's identity, a listener that is down,
// eviction, and seeded and imported images with their source, read back through /api/v1/ and `tender inventory`.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { runCommandLine } from '../../src/cli/command-line.js';
import { describeWithBinaries } from '../helpers/binaries.js';
import { CLIENT_USER, clientAuthSettings } from '../helpers/client-auth.js';
import { containerdAccept, http } from '../helpers/http-client.js';
import { pushImage, pushIndex, type PushedImage, type PushedIndex } from '../helpers/images.js';
import { startNotificationListener, type NotificationListener } from '../helpers/notification-listener.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const basic = `Basic ${Buffer.from(`${CLIENT_USER.username}:${CLIENT_USER.password}`).toString('base64')}`;
const userAgent = 'containerd/v2.0.0-inventory-test';
const labels = {
  'org.opencontainers.image.source': 'https://git.example/inv/app',
  'org.opencontainers.image.revision': '4f1e2d3c',
  maintainer: 'platform team',
};
const annotations = { 'org.opencontainers.image.version': '1.0.0', 'org.opencontainers.image.base.name': 'docker.io/library/debian:bookworm' };

async function commandLine(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCommandLine(args, { env: {}, out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describeWithBinaries(['docker-registry', 'htpasswd'], 'inventory and pull audit', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let listener: NotificationListener;
  let dir: string;
  let app: PushedImage;
  let multi: PushedIndex;
  const auditFile = (): string => join(dir, 'audit', 'pulls.jsonl');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tender-inventory-'));
    registry = await startRegistry();
    app = await pushImage(registry, 'inv/app', '1.0', { layerSizes: [2000, 3000], seed: 'inv-app-1', labels, annotations });
    multi = await pushIndex(registry, 'inv/multi', 'v1', {
      seed: 'inv-multi',
      layerSizes: [1000],
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
    });
    listener = await startNotificationListener();
    tender = await startTender({
      upstreams: { 'registry.test': registry.url },
      settings: {
        ...(await clientAuthSettings(dir)),
        audit: { file: { path: auditFile() }, notifications: { url: listener.url, batchDelay: '50ms', backoff: { initial: '50ms', max: '200ms' } } },
        inventory: { flushInterval: '200ms' },
      },
    });
  });

  afterAll(async () => {
    await tender?.stop();
    await listener?.close();
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const pull = (path: string, method: 'GET' | 'HEAD' = 'GET') =>
    http(`${tender.url}/v2/registry.test/${path}`, { method, headers: { authorization: basic, accept: containerdAccept, 'user-agent': userAgent } });
  const api = async <T>(path: string): Promise<T> => {
    const answer = await http(`${tender.url}${path}`, { headers: { authorization: basic } });
    expect(answer.status, `${path}: ${answer.body.toString()}`).toBe(200);
    return JSON.parse(answer.body.toString()) as T;
  };

  it('records what a pull brought in: labels, annotations, tags, where from; reverse lookups answer for layers and configs', async () => {
    // As containerd pulls: HEAD the tag, GET the manifest by digest, then the config and the layers.
    expect((await pull(`inv/app/manifests/1.0`, 'HEAD')).headers['docker-content-digest']).toBe(app.digest);
    expect((await pull(`inv/app/manifests/${app.digest}`)).status).toBe(200);
    for (const blob of [app.config, ...app.layers]) expect((await pull(`inv/app/blobs/${blob.digest}`)).status).toBe(200);
    expect((await pull('inv/multi/manifests/v1')).status).toBe(200);
    expect((await pull(`inv/multi/manifests/${multi.images[1]!.digest}`)).status).toBe(200);

    // Protected like /metrics: no credentials, no inventory.
    expect((await http(`${tender.url}/api/v1/images`)).status).toBe(401);
    expect((await http(`${tender.url}/ui/`)).status).toBe(401);

    await vi.waitFor(async () => expect((await api<{ labels: object }>(`/api/v1/images/${app.digest}`)).labels).toEqual(labels), { timeout: 10_000 });
    const shown = await api<Record<string, unknown>>(`/api/v1/images/${app.digest}`);
    expect(shown).toMatchObject({
      digest: app.digest,
      mediaType: app.mediaType,
      upstream: 'registry.test',
      repository: 'inv/app',
      source: 'pull-through',
      tags: ['1.0'],
      annotations,
      config: app.config.digest,
      state: 'cached',
      pinned: false,
      signature: 'none',
    });
    expect((shown.cache as { bytesOnDisk: number }).bytesOnDisk).toBe(app.manifest.length + app.config.size + app.layers[0]!.size + app.layers[1]!.size);

    const index = await api<{ platforms: string[]; manifests: string[]; tags: string[] }>(`/api/v1/images/${multi.digest}`);
    expect(index.platforms).toEqual(['linux/amd64', 'linux/arm64/v8']);
    expect(index.manifests).toEqual(multi.images.map((i) => i.digest));
    expect(index.tags).toEqual(['v1']);

    const containing = await api<{ images: Array<{ digest: string; tags: string[] }> }>(`/api/v1/blobs/${app.layers[1]!.digest}/images`);
    expect(containing.images.map((i) => [i.digest, i.tags])).toEqual([[app.digest, ['1.0']]]);
    // A layer of a platform image: that image, and the index naming it, with the index's tag.
    const viaIndex = await api<{ images: Array<{ digest: string; tags: string[] }> }>(`/api/v1/blobs/${multi.images[1]!.layers[0]!.digest}/images`);
    expect(viaIndex.images.map((i) => i.digest).sort()).toEqual([multi.digest, multi.images[1]!.digest].sort());
    expect(viaIndex.images.find((i) => i.digest === multi.digest)!.tags).toEqual(['v1']);

    const listed = await api<{ images: Array<{ digest: string }> }>('/api/v1/images?repository=inv/*&limit=10');
    expect(listed.images.map((i) => i.digest)).toEqual(expect.arrayContaining([app.digest, multi.digest, multi.images[1]!.digest]));
    expect((await http(`${tender.url}/api/v1/images?limit=0`, { headers: { authorization: basic } })).status).toBe(400);
    expect((await http(`${tender.url}/api/v1/images/sha256:nothex`, { headers: { authorization: basic } })).status).toBe(400);
  });

  it('writes one audit event per manifest pull to the file and to the listener, with the client identity, address and agent', async () => {
    const pulls = await api<{ pulls: number; distinctClients24h: number; recent: Array<{ client: string; method: string; tag?: string; userAgent: string }> }>(
      `/api/v1/images/${app.digest}/pulls`,
    );
    expect(pulls.pulls).toBe(2);
    expect(pulls.distinctClients24h).toBe(1);
    expect(pulls.recent.map((p) => [p.client, p.method, p.tag, p.userAgent])).toEqual([
      ['alice', 'GET', undefined, userAgent],
      ['alice', 'HEAD', '1.0', userAgent],
    ]);

    await vi.waitFor(async () => expect((await readFile(auditFile(), 'utf8').catch(() => '')).trim().split('\n').length).toBeGreaterThanOrEqual(4), {
      timeout: 10_000,
    });
    const lines = (await readFile(auditFile(), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const mine = lines.filter((l) => l.digest === app.digest);
    expect(mine).toEqual([
      expect.objectContaining({
        action: 'pull',
        upstream: 'registry.test',
        repository: 'inv/app',
        tag: '1.0',
        method: 'HEAD',
        cacheResult: 'miss',
        identity: 'alice',
        userAgent,
        clientAddress: '127.0.0.1',
      }),
      expect.objectContaining({ action: 'pull', method: 'GET', cacheResult: 'miss', identity: 'alice', size: app.manifest.length }),
    ]);
    const events = await listener.waitForAccepted(lines.length, 10_000);
    const event = events.find((e) => e.id === mine[0]!.id) as Record<string, any>;
    expect(event).toMatchObject({
      action: 'pull',
      target: { digest: app.digest, repository: 'registry.test/inv/app', tag: '1.0', mediaType: app.mediaType },
      request: { method: 'HEAD', useragent: userAgent, addr: '127.0.0.1', id: mine[0]!.requestId },
      actor: { name: 'alice' },
    });
    expect(listener.received[0]!.headers['content-type']).toBe('application/vnd.docker.distribution.events.v2+json');
  });

  it('shows a tag moved upstream with both digests and the time of the move', async () => {
    const moved = await pushImage(registry, 'inv/app', '1.0', {
      layerSizes: [2500],
      seed: 'inv-app-2',
      labels: { ...labels, 'org.opencontainers.image.revision': 'aa11bb22' },
    });
    tender.advance(10 * 60_000); // past tagTtl: the next pull asks upstream
    expect((await pull('inv/app/manifests/1.0')).headers['docker-content-digest']).toBe(moved.digest);
    const history = await api<{ tags: Array<{ tag: string; digest: string; current: boolean; firstSeen: string }> }>(
      '/api/v1/history?upstream=registry.test&repository=inv/app',
    );
    expect(history.tags.map((t) => [t.tag, t.digest, t.current])).toEqual([
      ['1.0', app.digest, false],
      ['1.0', moved.digest, true],
    ]);
    expect(Date.parse(history.tags[1]!.firstSeen)).toBeGreaterThan(Date.parse(history.tags[0]!.firstSeen));
    expect((await api<{ tags: string[] }>(`/api/v1/images/${app.digest}`)).tags).toEqual([]);
  });

  it('answers `tender inventory` against the running tender (--url) as a table and as JSON', async () => {
    const env = { TENDER_INVENTORY_AUTH: `${CLIENT_USER.username}:${CLIENT_USER.password}` };
    let out = '';
    const code = await runCommandLine(['inventory', 'list', '--url', tender.url, '--repository', 'inv/app'], {
      env,
      out: (t) => (out += t),
      err: (t) => (out += t),
    });
    expect(code).toBe(0);
    expect(out.split('\n')[0]).toMatch(/^DIGEST\s+REPOSITORY\s+TAGS\s+ON DISK\s+SOURCE\s+SIGNED\s+PULLS\s+LAST PULLED$/);
    expect(out).toContain(`registry.test/inv/app`);
    out = '';
    expect(
      await runCommandLine(['inventory', 'show', app.digest, '--url', tender.url, '--json'], { env, out: (t) => (out += t), err: (t) => (out += t) }),
    ).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ digest: app.digest, labels });
    out = '';
    expect(
      await runCommandLine(['inventory', 'contains', app.layers[0]!.digest, '--url', tender.url], { env, out: (t) => (out += t), err: (t) => (out += t) }),
    ).toBe(0);
    expect(out).toContain(app.digest.slice(0, 19));
  });
});

describeWithBinaries(['docker-registry'], 'audit delivery when the listener is down', () => {
  it('loses nothing until the queue bound, then counts the drops; delivers the queue when the listener is back', async () => {
    const registry = await startRegistry();
    const listener = await startNotificationListener({ kind: 'refuse' });
    const images: PushedImage[] = [];
    for (let i = 0; i < 5; i++) images.push(await pushImage(registry, `down/app${i}`, 'v1', { layerSizes: [100], seed: `down-${i}` }));
    const tender = await startTender({
      upstreams: { 'registry.test': registry.url },
      settings: { audit: { notifications: { url: listener.url, queueSize: 3, batchDelay: '10ms', backoff: { initial: '50ms', max: '100ms' } } } },
    });
    try {
      for (const image of images) expect((await http(`${tender.url}/v2/registry.test/${image.repository}/manifests/v1`)).status).toBe(200);
      const dropped = async () => (await tender.metrics.audit.dropped.get()).values.find((v) => v.labels.reason === 'queue-full')?.value ?? 0;
      expect(await dropped()).toBe(2);
      await listener.setMode({ kind: 'accept' });
      const events = await listener.waitForAccepted(3, 15_000);
      expect(events.map((e) => (e.target as { repository: string }).repository)).toEqual([
        'registry.test/down/app0',
        'registry.test/down/app1',
        'registry.test/down/app2',
      ]);
      expect(await dropped()).toBe(2);
    } finally {
      await tender.stop();
      await listener.close();
      await registry.stop();
    }
  });
});

describeWithBinaries(['docker-registry'], 'inventory of evicted, seeded and imported images', () => {
  let registry: RegistryHandle;
  let dir: string;
  beforeAll(async () => {
    registry = await startRegistry();
    dir = await mkdtemp(join(tmpdir(), 'tender-inventory-cli-'));
  });
  afterAll(async () => {
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('marks evicted images (and drops their manifest records) under a size cap', async () => {
    const images: PushedImage[] = [];
    for (let i = 0; i < 3; i++) images.push(await pushImage(registry, `evict/app${i}`, 'v1', { layerSizes: [1024 * 1024], seed: `inv-evict-${i}` }));
    const tender = await startTender({ upstreams: { 'registry.test': registry.url }, settings: { maxCacheSize: 2.5 * 1024 * 1024 } });
    try {
      for (const image of images) {
        expect((await http(`${tender.url}/v2/registry.test/${image.repository}/manifests/v1`)).status).toBe(200);
        expect((await http(`${tender.url}/v2/registry.test/${image.repository}/blobs/${image.layers[0]!.digest}`)).status).toBe(200);
      }
      await vi.waitFor(
        async () => {
          const evicted = JSON.parse((await http(`${tender.url}/api/v1/images?state=evicted`)).body.toString()) as { images: Array<{ digest: string }> };
          expect(evicted.images.map((i) => i.digest)).toContain(images[0]!.digest);
        },
        { timeout: 10_000 },
      );
      const cached = JSON.parse((await http(`${tender.url}/api/v1/images`)).body.toString()) as { images: Array<{ digest: string }> };
      expect(cached.images.map((i) => i.digest)).toContain(images[2]!.digest);
      expect(cached.images.map((i) => i.digest)).not.toContain(images[0]!.digest);
    } finally {
      await tender.stop();
    }
  });

  it('records seeded images as seed and imported ones as import with the bundle sha256, read from a stopped cache directory', async () => {
    const image = await pushImage(registry, 'seeded/app', 'v1', { layerSizes: [500], seed: 'inv-seeded', labels });
    const config = join(dir, 'tender.yaml');
    await writeFile(
      config,
      `includeDefaultUpstreams: false\ndefaultUpstream: registry.test\nupstreams:\n  registry.test: { url: "${registry.url}", insecure: true }\n`,
    );
    const seedDir = join(dir, 'seed-cache');
    const seeded = await commandLine(['seed', '--config', config, '--cache-dir', seedDir, 'registry.test/seeded/app:v1']);
    expect(seeded.code, seeded.err).toBe(0);
    const shown = await commandLine(['inventory', 'show', image.digest, '--config', config, '--cache-dir', seedDir, '--json']);
    expect(shown.code, shown.err).toBe(0);
    expect(JSON.parse(shown.out)).toMatchObject({ source: 'seed', tags: ['v1'], pinned: true, labels });

    const bundle = join(dir, 'bundle.tar');
    expect((await commandLine(['export', '--config', config, '--cache-dir', seedDir, '-o', bundle, 'registry.test/seeded/app:v1'])).code).toBe(0);
    const importDir = join(dir, 'import-cache');
    const imported = await commandLine(['import', '--config', config, '--cache-dir', importDir, bundle]);
    expect(imported.code, imported.err).toBe(0);
    const bundleSha = createHash('sha256')
      .update(await readFile(bundle))
      .digest('hex');
    const record = await commandLine(['inventory', 'show', image.digest, '--config', config, '--cache-dir', importDir, '--json']);
    expect(record.code, record.err).toBe(0);
    expect(JSON.parse(record.out)).toMatchObject({ source: 'import', bundle: bundleSha, tags: ['v1'], upstream: 'registry.test', repository: 'seeded/app' });
    const table = await commandLine(['inventory', 'list', '--config', config, '--cache-dir', importDir]);
    expect(table.out).toMatch(/registry\.test\/seeded\/app\s+v1\s+\S+\s+import\s+none\s+0\s+-/);
    const history = await commandLine(['inventory', 'history', 'registry.test/seeded/app', '--config', config, '--cache-dir', importDir]);
    expect(history.out).toContain(image.digest);
  });
});
