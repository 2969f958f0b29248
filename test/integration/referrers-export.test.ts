// A Sigstore bundle known only from an upstream's referrers API travels through seed → export → import, and an offline
// tender with no upstream at all finds it (referrers API answer and signature policy alike). Distribution 2.8 has no
// referrers API, so the upstream is the in-process fault upstream serving one (test/helpers/fault-upstream.ts).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTenderOk, seedRow } from '../helpers/cli.js';
import { bundleReferrer, cosignTypes } from '../helpers/cosign.js';
import { generateSigningKey } from '../helpers/cosign-keys.js';
import { addOciImage, startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { MediaTypes } from '../helpers/images.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const upstream = 'registry.example.test';

describe('referrers from an upstream referrers API: seed, export, import, verified offline', () => {
  let work: string;
  let fault: FaultUpstream | undefined;
  let offline: TenderHandle | undefined;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'tender-referrers-export-'));
  });

  afterAll(async () => {
    await offline?.stop();
    await fault?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('the offline tender answers the referrers API from the exported index and its enforce policy admits the image', async () => {
    fault = await startFaultUpstream();
    // An image, signed in the bundle format; the bundle is listed only by the upstream's referrers API (no sha256-<hex> tag).
    const { digest, manifest } = addOciImage(fault, 'signed/app', '1.0', 'referrers-export', [randomBytes(40_000)]);
    const signer = generateSigningKey();
    const referrer = bundleReferrer({ mediaType: MediaTypes.ociManifest, size: manifest.length, digest }, signer);
    fault.addBlob(referrer.config.bytes);
    fault.addBlob(referrer.bundle.bytes);
    fault.addManifest('signed/app', referrer.manifestDigest, referrer.manifest, MediaTypes.ociManifest);
    fault.referrers = new Map([[digest, [referrer.descriptor]]]);
    const referrersTag = digest.replace(':', '-');

    const keyFile = join(work, 'cosign.pub');
    await writeFile(keyFile, signer.publicKeyPem);
    const upstreams = [
      'includeDefaultUpstreams: false',
      `defaultUpstream: ${upstream}`,
      'upstreams:',
      `  ${upstream}:`,
      `    url: ${fault.url}`,
      '    insecure: true',
    ];
    const signatures = ['signatures:', '  policies:', '    - name: platform', `      repositories: ["${upstream}/signed/**"]`, `      keys: ["${keyFile}"]`];
    const connected = join(work, 'connected.yaml');
    const airgap = join(work, 'airgap.yaml');
    await writeFile(connected, [...upstreams, ...signatures, ''].join('\n'));
    await writeFile(airgap, ['offline: true', ...upstreams, ...signatures, ''].join('\n'));
    const cacheA = join(work, 'cache-a');
    const cacheB = join(work, 'cache-b');
    const archive = join(work, 'bundle.tar');
    const image = `${upstream}/signed/app:1.0`;
    const seeded = await runTenderOk(['seed', '--config', connected, '--cache-dir', cacheA, image]);
    // status image digest blobs signatures: the referrer manifest, found through the API.
    const row = seedRow(seeded.stdout, image);
    expect(row?.slice(0, 5)).toEqual(['ok', image, digest, '2', '1']);
    expect(fault.count('GET', `/referrers/${digest}`)).toBeGreaterThanOrEqual(1);

    const exported = await runTenderOk(['export', '--config', connected, '--cache-dir', cacheA, '--output', archive, image]);
    expect(exported.stdout).toContain(`exported ${upstream}/signed/app:${referrersTag} sha256:`);
    expect(exported.stdout).toMatch(/: 2 images, /);

    await runTenderOk(['import', '--config', airgap, '--cache-dir', cacheB, archive]);
    await fault.stop();
    fault = undefined;

    offline = await startTender({
      upstreams: { [upstream]: 'http://127.0.0.1:9' },
      cacheDir: cacheB,
      settings: { offline: true, signatures: { onError: 'deny', policies: [{ name: 'platform', repositories: [`${upstream}/signed/**`], keys: [keyFile] }] } },
    });
    // The referrers API, answered offline: the bundle with its artifactType, filtered like online.
    const listed = await fetch(`${offline.url}/v2/${upstream}/signed/app/referrers/${digest}?artifactType=${encodeURIComponent(cosignTypes.bundle)}`);
    expect(listed.status).toBe(200);
    const index = (await listed.json()) as { manifests: Array<{ digest: string; artifactType?: string }> };
    expect(index.manifests).toEqual([expect.objectContaining({ digest: referrer.manifestDigest, artifactType: cosignTypes.bundle })]);

    // The enforce policy verifies the bundle offline and serves the image, its layer and the bundle itself.
    const pulled = await fetch(`${offline.url}/v2/${upstream}/signed/app/manifests/1.0`, { headers: { accept: MediaTypes.ociManifest } });
    expect(pulled.status, await pulled.clone().text()).toBe(200);
    expect(pulled.headers.get('docker-content-digest')).toBe(digest);
    const layerDigest = (JSON.parse(manifest.toString()) as { layers: Array<{ digest: string }> }).layers[0]!.digest;
    expect((await fetch(`${offline.url}/v2/${upstream}/signed/app/blobs/${layerDigest}`)).status).toBe(200);
    // As cosign verify reads it: the referrer manifest (evidence, served unsigned), then the bundle.
    const evidence = await fetch(`${offline.url}/v2/${upstream}/signed/app/manifests/${referrer.manifestDigest}`, {
      headers: { accept: MediaTypes.ociManifest },
    });
    expect(evidence.status).toBe(200);
    expect((await fetch(`${offline.url}/v2/${upstream}/signed/app/blobs/${referrer.bundle.digest}`)).status).toBe(200);
    const metric = await offline.metrics.registry.getSingleMetric('tender_signature_verdicts_total')!.get();
    const counted = (verdict: string) => metric.values.find((v) => v.labels.policy === 'platform' && v.labels.verdict === verdict)?.value ?? 0;
    expect(counted('verified')).toBe(1);
    expect(counted('refused')).toBe(0);
  }, 180_000); // three CLI runs, each a process start; slow on a loaded machine
});
