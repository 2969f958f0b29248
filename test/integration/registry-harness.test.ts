// Proves the real-upstream harness: content round-trips through distribution and request counts are exact.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries, itWithBinaries } from '../helpers/binaries.js';
import { MediaTypes, pushCosignSignature, pushHelmChart, pushImage, pushIndex, sha256, type PushedImage, type PushedIndex } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';

const ACCEPT = [MediaTypes.ociManifest, MediaTypes.ociIndex, MediaTypes.dockerManifest, 'application/vnd.docker.distribution.manifest.list.v2+json'].join(', ');

async function expectManifest(reg: RegistryHandle, pushed: PushedImage | PushedIndex, reference: string) {
  const repository = pushed.repository;
  const res = await fetch(`${reg.url}/v2/${repository}/manifests/${reference}`, { headers: { accept: ACCEPT } });
  expect(res.status).toBe(200);
  expect(res.headers.get('docker-content-digest')).toBe(pushed.digest);
  expect(res.headers.get('content-type')).toBe(pushed.mediaType);
  expect(Buffer.from(await res.arrayBuffer()).equals(pushed.manifest)).toBe(true);
}

describeWithBinaries(['docker-registry'], 'registry harness (real distribution upstream)', () => {
  const started: RegistryHandle[] = [];
  const tempDirs: string[] = [];
  let reg: RegistryHandle;
  let image: PushedImage;

  beforeAll(async () => {
    reg = await startRegistry();
    started.push(reg);
    image = await pushImage(reg, 'library/busybox', '1.36', { layerSizes: [4096, 70_000], seed: 'busybox' });
  }, 30_000);

  afterAll(async () => {
    await Promise.all(started.map((r) => r.stop()));
    await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('round-trips a two-layer OCI image by tag and by digest', async () => {
    expect(image.layers).toHaveLength(2);
    await expectManifest(reg, image, '1.36');
    await expectManifest(reg, image, image.digest);
  });

  it('round-trips a docker schema2 image', async () => {
    const docker = await pushImage(reg, 'library/docker-style', 'v1', {
      layerSizes: [1000],
      seed: 'docker-style',
      mediaType: 'docker',
    });
    expect(docker.mediaType).toBe(MediaTypes.dockerManifest);
    expect(docker.layers[0]?.mediaType).toBe(MediaTypes.dockerLayer);
    await expectManifest(reg, docker, 'v1');
  });

  it('builds layers that are real gzip tars whose diff_ids match the config', () => {
    const config = JSON.parse(image.config.bytes.toString()) as { rootfs: { diff_ids: string[] } };
    const payloadSizes = [4096, 70_000];
    image.layers.forEach((layer, i) => {
      const uncompressed = gunzipSync(layer.bytes);
      expect(sha256(uncompressed)).toBe(config.rootfs.diff_ids[i]);
      // Incompressible payload: only the tar headers and padding should compress away.
      expect(layer.size).toBeGreaterThan(payloadSizes[i]!);
    });
    const listing = execFileSync('tar', ['-tvzf', '-'], { input: image.layers[1]?.bytes }).toString();
    expect(listing).toMatch(/data\/busybox_layer_1\.bin/);
    expect(listing).toMatch(/\b70000\b/);
  });

  it('round-trips a multi-platform OCI index and its children', async () => {
    const index = await pushIndex(reg, 'library/multi', 'latest', {
      seed: 'multi',
      layerSizes: [2048],
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
    });
    await expectManifest(reg, index, 'latest');
    for (const child of index.images) await expectManifest(reg, child, child.digest);
    const parsed = JSON.parse(index.manifest.toString()) as { manifests: Array<{ platform: { architecture: string } }> };
    expect(parsed.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
  });

  it('serves nested repository names', async () => {
    const nested = await pushImage(reg, 'team/app/api', 'v2', { layerSizes: [512], seed: 'nested' });
    await expectManifest(reg, nested, 'v2');
  });

  it('round-trips a helm chart artifact', async () => {
    const chart = await pushHelmChart(reg, 'charts/demo', '0.1.0', 'demo');
    expect(chart.config.mediaType).toBe(MediaTypes.helmConfig);
    expect(chart.layers[0]?.mediaType).toBe(MediaTypes.helmChart);
    await expectManifest(reg, chart, '0.1.0');
  });

  it('round-trips a cosign signature under the sha256-<hex>.sig tag', async () => {
    const sig = await pushCosignSignature(reg, 'library/busybox', image.digest, 'sig');
    expect(sig.tag).toBe(`${image.digest.replace(':', '-')}.sig`);
    const manifest = JSON.parse(sig.manifest.toString()) as { layers: Array<{ annotations: Record<string, string> }> };
    expect(manifest.layers[0]?.annotations['dev.cosignproject.cosign/signature']).toBeTruthy();
    await expectManifest(reg, sig, sig.tag ?? '');
  });

  it('serves blobs and counts exactly one GET per blob fetch', async () => {
    const layer = image.layers[1]!;
    await reg.settle();
    const before = reg.count({ method: 'GET', kind: 'blobs' });
    const res = await fetch(`${reg.url}/v2/library/busybox/blobs/${layer.digest}`);
    expect(res.status).toBe(200);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(layer.digest);
    await reg.settle();
    expect(reg.count({ method: 'GET', kind: 'blobs' })).toBe(before + 1);
    expect(reg.count({ method: 'GET', kind: 'blobs', repository: 'library/busybox' })).toBeGreaterThanOrEqual(1);
  });

  it('logs HEAD as HEAD and 404s with their status', async () => {
    await reg.settle();
    reg.resetLog();
    const head = await fetch(`${reg.url}/v2/library/busybox/manifests/1.36`, { method: 'HEAD', headers: { accept: ACCEPT } });
    expect(head.status).toBe(200);
    const missing = await fetch(`${reg.url}/v2/library/busybox/manifests/nope`, { headers: { accept: ACCEPT } });
    expect(missing.status).toBe(404);
    await missing.arrayBuffer();
    await reg.settle();
    expect(reg.count({ method: 'HEAD', kind: 'manifests' })).toBe(1);
    expect(reg.count({ method: 'GET', kind: 'manifests' })).toBe(1);
    expect(reg.requests()).toEqual([
      expect.objectContaining({ method: 'HEAD', status: 200, kind: 'manifests', repository: 'library/busybox' }),
      expect.objectContaining({ method: 'GET', status: 404, path: '/v2/library/busybox/manifests/nope' }),
    ]);
  });

  it('has no referrers API (distribution 2.8) and still logs the 404', async () => {
    await reg.settle();
    reg.resetLog();
    const res = await fetch(`${reg.url}/v2/library/busybox/referrers/${image.digest}`);
    await res.arrayBuffer();
    expect(res.status).toBe(404);
    await reg.settle();
    expect(reg.count({ kind: 'referrers', status: 404, repository: 'library/busybox' })).toBe(1);
  });

  it('restarts on the same rootDir and port with the same content', async () => {
    const rootDir = await mkdtemp(join(tmpdir(), 'tender-harness-restart-'));
    tempDirs.push(rootDir);
    const first = await startRegistry({ rootDir });
    started.push(first);
    const pushed = await pushImage(first, 'restart/me', 'v1', { layerSizes: [1024], seed: 'restart' });
    await first.stop();
    const second = await startRegistry({ rootDir, port: first.port });
    started.push(second);
    await expectManifest(second, pushed, 'v1');
    await second.settle();
    expect(second.count({ method: 'GET', kind: 'manifests', repository: 'restart/me' })).toBe(1);
  }, 30_000);

  itWithBinaries(
    ['htpasswd'],
    'enforces htpasswd auth and accepts pushes with credentials',
    async () => {
      const auth = { username: 'tender', password: 's3cret-pass' };
      const secured = await startRegistry({ htpasswd: auth });
      started.push(secured);
      const anonymous = await fetch(`${secured.url}/v2/`);
      await anonymous.arrayBuffer();
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic /);
      await expect(pushImage({ url: secured.url }, 'private/app', 'v1', { layerSizes: [10], seed: 'x' })).rejects.toThrow(/401/);
      const pushed = await pushImage(secured, 'private/app', 'v1', { layerSizes: [256], seed: 'private' });
      const basic = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
      const res = await fetch(`${secured.url}/v2/private/app/manifests/v1`, {
        headers: { accept: ACCEPT, authorization: basic },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-content-digest')).toBe(pushed.digest);
      await secured.settle();
      expect(secured.count({ kind: 'base', status: 401 })).toBe(1);
    },
    30_000,
  );
});
