// Signatures with no upstream: onError (deny, allow) with the upstream stopped, and seed → export → import → an
// offline tender that verifies the imported images from the signatures that travelled with them.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { describeRun, runTender } from '../helpers/cli.js';
import { signBundle, signClassic } from '../helpers/cosign.js';
import { generateSigningKey, type SigningKey } from '../helpers/cosign-keys.js';
import { pushImage, pushIndex, type Platform, type PushedImage, type PushedIndex } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const run = promisify(execFile);
const hostPlatform: Platform = { os: 'linux', architecture: process.arch === 'arm64' ? 'arm64' : 'amd64' };
const upstream = 'registry.example.test';

describeWithBinaries(['docker-registry', 'skopeo'], 'signatures offline: onError with the upstream stopped; seed, export, import, verify offline', () => {
  let registry: RegistryHandle | undefined;
  let registryUrl: string;
  let work: string;
  let signer: SigningKey;
  let keyFile: string;
  let multi: PushedIndex;
  let bundled: PushedImage;
  const tenders: TenderHandle[] = [];

  const policy = (onError: 'deny' | 'allow') => ({
    signatures: { onError, policies: [{ name: 'platform', repositories: [`${upstream}/signed/**`], keys: [keyFile] }] },
  });

  async function tenderOn(cacheDir: string, settings: Record<string, unknown>): Promise<TenderHandle> {
    const tender = await startTender({ upstreams: { [upstream]: registryUrl }, cacheDir, settings });
    tenders.push(tender);
    return tender;
  }

  async function verdicts(tender: TenderHandle, verdict: string): Promise<number> {
    const metric = await tender.metrics.registry.getSingleMetric('tender_signature_verdicts_total')!.get();
    return metric.values.filter((v) => v.labels.policy === 'platform' && v.labels.verdict === verdict).reduce((sum, v) => sum + v.value, 0);
  }

  beforeAll(async () => {
    registry = await startRegistry();
    registryUrl = registry.url;
    work = await mkdtemp(join(tmpdir(), 'tender-signatures-offline-'));
    signer = generateSigningKey();
    keyFile = join(work, 'cosign.pub');
    await writeFile(keyFile, signer.publicKeyPem);
    multi = await pushIndex(registry, 'signed/multi', 'v1', {
      seed: 'sig-offline-multi',
      platforms: [hostPlatform, { os: 'linux', architecture: hostPlatform.architecture === 'amd64' ? 'arm64' : 'amd64' }],
      layerSizes: [80_000],
    });
    await signClassic(registry, 'signed/multi', multi.digest, signer);
    bundled = await pushImage(registry, 'signed/bundled', '1.0', { layerSizes: [50_000], seed: 'sig-offline-bundled', platform: hostPlatform });
    await signBundle(registry, 'signed/bundled', bundled.digest, signer);
  }, 60_000);

  afterAll(async () => {
    for (const tender of tenders) await tender.stop().catch(() => undefined);
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('seed carries the signatures, export writes them, import brings them in, an offline tender verifies and serves them', async () => {
    const connected = join(work, 'connected.yaml');
    const airgap = join(work, 'airgap.yaml');
    const list = join(work, 'list.yaml');
    const upstreams = [
      'includeDefaultUpstreams: false',
      `defaultUpstream: ${upstream}`,
      'upstreams:',
      `  ${upstream}:`,
      `    url: ${registryUrl}`,
      '    insecure: true',
    ];
    const signatures = ['signatures:', '  policies:', '    - name: platform', `      repositories: ["${upstream}/signed/**"]`, `      keys: ["${keyFile}"]`];
    await writeFile(connected, [...upstreams, ...signatures, ''].join('\n'));
    await writeFile(airgap, ['offline: true', ...upstreams, ...signatures, ''].join('\n'));
    await writeFile(list, ['images:', `  - ${upstream}/signed/multi:v1`, `  - ${upstream}/signed/bundled:1.0`, ''].join('\n'));
    const cacheA = join(work, 'cache-a');
    const cacheB = join(work, 'cache-b');
    const archive = join(work, 'bundle.tar');

    const tender$ = async (args: string[]) => {
      const result = await runTender(args);
      if (result.code !== 0) throw new Error(describeRun(args, result));
      return result;
    };
    const seeded = await tender$(['seed', '--config', connected, '--cache-dir', cacheA, '--file', list]);
    const row = (ref: string) =>
      seeded.stdout
        .split('\n')
        .map((l) => l.split(/\s+/))
        .find((cells) => (cells[0] === 'ok' || cells[0] === 'FAILED') && cells[1] === ref);
    // status image digest blobs signatures …: the .sig manifest; the referrers tag index and the bundle referrer.
    expect(row(`${upstream}/signed/multi:v1`)?.slice(0, 5)).toEqual(['ok', `${upstream}/signed/multi:v1`, multi.digest, '4', '1']);
    expect(row(`${upstream}/signed/bundled:1.0`)?.slice(0, 5)).toEqual(['ok', `${upstream}/signed/bundled:1.0`, bundled.digest, '2', '2']);
    const exported = await tender$(['export', '--config', connected, '--cache-dir', cacheA, '--file', list, '--output', archive]);
    // The two images, the .sig tag of the index, and the referrers tag index (which brings the bundle referrer).
    expect(exported.stdout).toMatch(/: 4 images, /);
    expect(exported.stdout).toContain(`exported ${upstream}/signed/multi:${multi.digest.replace(':', '-')}.sig `);
    expect(exported.stdout).toContain(`exported ${upstream}/signed/bundled:${bundled.digest.replace(':', '-')} `);
    await tender$(['import', '--config', airgap, '--cache-dir', cacheB, archive]);

    // The upstream is gone for good: what the offline tender serves, it verified from the imported evidence.
    await registry!.stop();
    registry = undefined;
    const offline = await tenderOn(cacheB, { offline: true, ...policy('deny') });
    for (const [reference, all] of [
      ['signed/multi:v1', true],
      ['signed/bundled:1.0', false],
    ] as const) {
      const source = `docker://${new URL(offline.url).host}/${upstream}/${reference}`;
      await run('skopeo', ['copy', ...(all ? ['--all'] : []), '--src-tls-verify=false', source, `oci:${join(work, reference.replace(/[/:]/g, '-'))}:x`], {
        timeout: 60_000,
      });
    }
    expect(await verdicts(offline, 'verified')).toBe(2);
    expect(await verdicts(offline, 'admitted')).toBeGreaterThanOrEqual(1);
    // cosign verify through the offline mirror reads the .sig tag: it is served.
    const sig = await fetch(`${offline.url}/v2/${upstream}/signed/multi/manifests/${multi.digest.replace(':', '-')}.sig`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(sig.status).toBe(200);
  });
});

describeWithBinaries(['docker-registry'], 'signatures onError with the upstream stopped', () => {
  let registry: RegistryHandle;
  let work: string;
  let keyFile: string;
  let image: PushedImage;
  const tenders: TenderHandle[] = [];

  beforeAll(async () => {
    registry = await startRegistry();
    work = await mkdtemp(join(tmpdir(), 'tender-signatures-onerror-'));
    keyFile = join(work, 'cosign.pub');
    const signer = generateSigningKey();
    await writeFile(keyFile, signer.publicKeyPem);
    image = await pushImage(registry, 'signed/app', '1.0', { layerSizes: [10_000], seed: 'sig-onerror', platform: hostPlatform });
    await signClassic(registry, 'signed/app', image.digest, signer);
  }, 60_000);

  afterAll(async () => {
    for (const tender of tenders) await tender.stop().catch(() => undefined);
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('deny answers 503 naming the cause; allow serves and counts fail-open', async () => {
    // The image manifest is cached by a tender without the policy; its signatures are not. Then the upstream stops.
    const cacheDir = join(work, 'cache');
    const plain = await startTender({ upstreams: { [upstream]: registry.url }, cacheDir });
    tenders.push(plain);
    expect((await fetch(`${plain.url}/v2/${upstream}/signed/app/manifests/1.0`)).status).toBe(200);
    await plain.stop();
    const url = registry.url;
    await registry.stop({ keepRootDir: true });

    for (const onError of ['deny', 'allow'] as const) {
      const tender = await startTender({
        upstreams: { [upstream]: url },
        cacheDir,
        settings: { signatures: { onError, policies: [{ name: 'platform', repositories: [`${upstream}/signed/**`], keys: [keyFile] }] } },
      });
      tenders.push(tender);
      const res = await fetch(`${tender.url}/v2/${upstream}/signed/app/manifests/1.0`);
      const metric = await tender.metrics.registry.getSingleMetric('tender_signature_verdicts_total')!.get();
      const counted = (verdict: string) => metric.values.find((v) => v.labels.policy === 'platform' && v.labels.verdict === verdict)?.value ?? 0;
      if (onError === 'deny') {
        expect(res.status).toBe(503);
        const error = ((await res.json()) as { errors: Array<{ code: string; message: string }> }).errors[0]!;
        expect(error.code).toBe('UNAVAILABLE');
        expect(error.message).toMatch(/^signature policy "platform": signatures could not be fetched \(tag sha256-[a-f0-9]{64}\.sig: UNAVAILABLE /);
        expect(counted('unavailable')).toBe(1);
      } else {
        expect(res.status).toBe(200);
        expect(res.headers.get('docker-content-digest')).toBe(image.digest);
        expect(counted('fail-open')).toBe(1);
      }
      await tender.stop();
    }
  });
});
