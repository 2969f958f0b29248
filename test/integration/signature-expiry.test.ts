// A signature deleted upstream stops counting once its tag is due for revalidation (tagTtl), against the real registry:
// the verdict is made again through the cached paths then, finds no signature, and the enforce policy refuses. An
// upstream that is down at that moment does not cost a verified image its verdict (the stale tag still verifies).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { signBundle, signClassic } from '../helpers/cosign.js';
import { generateSigningKey, type SigningKey } from '../helpers/cosign-keys.js';
import { pushImage, type Platform } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const hostPlatform: Platform = { os: 'linux', architecture: process.arch === 'arm64' ? 'arm64' : 'amd64' };
const upstream = 'registry.example.test';
const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';
const tagTtlMs = 60_000;

describeWithBinaries(['docker-registry'], 'signature verdicts follow the signature upstream (tagTtl)', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let work: string;
  let signer: SigningKey;
  let counter = 0;

  const get = async (path: string) => {
    const res = await fetch(`${tender.url}/v2/${upstream}/${path}`, { headers: { accept } });
    return { status: res.status, text: await res.text() };
  };
  const deleteManifest = async (repository: string, digest: string) => {
    const res = await fetch(`${registry.url}/v2/${repository}/manifests/${digest}`, { method: 'DELETE' });
    expect(res.status, `DELETE ${repository}@${digest}`).toBe(202);
  };
  const push = (repository: string) =>
    pushImage(registry, repository, '1.0', { layerSizes: [20_000], seed: `expiry-${repository}-${++counter}`, platform: hostPlatform });
  const verdicts = async (verdict: string) => {
    const metric = await tender.metrics.registry.getSingleMetric('tender_signature_verdicts_total')!.get();
    return metric.values.find((v) => v.labels.policy === 'platform' && v.labels.verdict === verdict)?.value ?? 0;
  };

  beforeAll(async () => {
    registry = await startRegistry();
    work = await mkdtemp(join(tmpdir(), 'tender-signature-expiry-'));
    signer = generateSigningKey();
    await writeFile(join(work, 'cosign.pub'), signer.publicKeyPem);
    tender = await startTender({
      upstreams: { [upstream]: registry.url },
      settings: {
        tagTtl: `${tagTtlMs / 1000}s`,
        signatures: { onError: 'deny', policies: [{ name: 'platform', repositories: [`${upstream}/signed/**`], keys: [join(work, 'cosign.pub')] }] },
      },
    });
  }, 60_000);

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('classic: the .sig manifest deleted upstream, the image is refused once the .sig tag is past tagTtl', async () => {
    const image = await push('signed/classic');
    const sig = await signClassic(registry, 'signed/classic', image.digest, signer);
    expect((await get('signed/classic/manifests/1.0')).status).toBe(200);
    expect((await get(`signed/classic/blobs/${image.layers[0]!.digest}`)).status).toBe(200);

    await deleteManifest('signed/classic', sig.manifestDigest);
    // Within tagTtl the verdict stands: nothing is asked upstream for it.
    expect((await get('signed/classic/manifests/1.0')).status).toBe(200);
    tender.advance(tagTtlMs + 1_000);
    const refused = await get(`signed/classic/manifests/${image.digest}`);
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('no signature found');
    expect((await get('signed/classic/manifests/1.0')).status).toBe(403);
    // Its layers are no longer admitted either: they followed the verdict of the manifest that referenced them.
    expect((await get(`signed/classic/blobs/${image.layers[0]!.digest}`)).status).toBe(403);
  });

  it('bundle: the referrers tag index deleted upstream, the image is refused once the referrers are past tagTtl', async () => {
    const image = await push('signed/bundle');
    const signature = await signBundle(registry, 'signed/bundle', image.digest, signer);
    expect(signature.fallbackTag).toBe(image.digest.replace(':', '-')); // distribution 2.8 has no referrers API
    const verifiedBefore = await verdicts('verified');
    expect((await get('signed/bundle/manifests/1.0')).status).toBe(200);
    expect(await verdicts('verified')).toBe(verifiedBefore + 1);

    const index = await fetch(`${registry.url}/v2/signed/bundle/manifests/${signature.fallbackTag}`, { method: 'HEAD', headers: { accept } });
    await deleteManifest('signed/bundle', index.headers.get('docker-content-digest')!);
    expect((await get('signed/bundle/manifests/1.0')).status).toBe(200);
    tender.advance(tagTtlMs + 1_000);
    const refused = await get('signed/bundle/manifests/1.0');
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('no signature found');
  });

  it('a signature still there is verified again past tagTtl, and an upstream that is down then keeps the verdict', async () => {
    const image = await push('signed/kept');
    await signClassic(registry, 'signed/kept', image.digest, signer);
    expect((await get('signed/kept/manifests/1.0')).status).toBe(200);
    const verified = await verdicts('verified');
    await registry.settle();
    registry.resetLog();
    tender.advance(tagTtlMs + 1_000);
    expect((await get('signed/kept/manifests/1.0')).status).toBe(200);
    expect(await verdicts('verified')).toBe(verified + 1); // made again, from the revalidated .sig tag
    // What it cost upstream: one HEAD of the .sig tag (the image's own tag is revalidated as always).
    await registry.settle();
    const sigTag = `${image.digest.replace(':', '-')}.sig`;
    expect(
      registry
        .requests()
        .filter((r) => /\/manifests\/sha256-/.test(r.path) || r.kind === 'referrers')
        .map((r) => `${r.method} ${r.path} ${r.status}`),
    ).toEqual([`HEAD /v2/signed/kept/manifests/${sigTag} 200`]);

    // Past tagTtl again with the upstream gone: the tags are served stale, and so is the evidence they name.
    const refused = await verdicts('refused');
    await registry.stop({ keepRootDir: true });
    tender.advance(tagTtlMs + 1_000);
    const res = await get(`signed/kept/manifests/${image.digest}`);
    expect(res.status, res.text).toBe(200);
    expect(await verdicts('refused')).toBe(refused);
    expect(await verdicts('unavailable')).toBe(0);
  });
});
