// The cosign test helper against a real distribution registry, read back and judged by src/trust/ as tender will.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { referrersTag } from '../../src/trust/cosign-tags.js';
import { parsePublicKey, type TrustedKey } from '../../src/trust/public-key.js';
import { referrerBundleLayer, signatureCandidates } from '../../src/trust/referrers.js';
import type { SignatureCheck } from '../../src/trust/signature-check.js';
import { simpleSigningLayers, verifySimpleSigning } from '../../src/trust/simple-signing.js';
import { verifySigstoreBundle } from '../../src/trust/sigstore-bundle.js';
import { describeWithBinaries } from '../helpers/binaries.js';
import { cosignTypes, signBundle, signClassic } from '../helpers/cosign.js';
import { generateSigningKey, writePublicKey, type SigningKey } from '../helpers/cosign-keys.js';
import { pushImage, pushIndex, type PushedImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';

async function get(reg: RegistryHandle, path: string, accept?: string): Promise<{ status: number; body: Buffer; contentType: string | null }> {
  const res = await fetch(`${reg.url}/v2/${path}`, { headers: accept ? { accept } : {} });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type') };
}

/** What tender will do for the classic format: the .sig tag, each layer's payload blob, one check per layer. */
async function classicChecks(reg: RegistryHandle, repository: string, digest: string, keys: TrustedKey[]): Promise<SignatureCheck[]> {
  const sig = await get(reg, `${repository}/manifests/${digest.replace(':', '-')}.sig`, cosignTypes.ociManifest);
  expect(sig.status).toBe(200);
  const listed = simpleSigningLayers(sig.body);
  if (!listed.ok) throw new Error(listed.detail);
  const checks: SignatureCheck[] = [];
  for (const layer of listed.layers) {
    const payload = await get(reg, `${repository}/blobs/${layer.digest}`);
    checks.push(verifySimpleSigning({ layer, payload: payload.body, digest, keys }));
  }
  return checks;
}

/** What tender will do for bundles on a registry without a referrers API: the fallback tag index, each referrer, its bundle. */
async function bundleChecks(reg: RegistryHandle, repository: string, digest: string, keys: TrustedKey[]): Promise<SignatureCheck[]> {
  const api = await get(reg, `${repository}/referrers/${digest}`, cosignTypes.ociIndex);
  expect(api.status).toBe(404); // Debian's distribution 2.8: no referrers API, so the fallback tag is what gets read.
  const index = await get(reg, `${repository}/manifests/${referrersTag(digest)}`, cosignTypes.ociIndex);
  expect(index.status).toBe(200);
  const candidates = signatureCandidates(index.body);
  if (!candidates.ok) throw new Error(candidates.detail);
  const checks: SignatureCheck[] = [];
  for (const candidate of candidates.candidates) {
    const referrer = await get(reg, `${repository}/manifests/${candidate.digest}`, cosignTypes.ociManifest);
    const layer = referrerBundleLayer(referrer.body, digest);
    if (!layer.ok) throw new Error(layer.detail);
    const bundle = await get(reg, `${repository}/blobs/${layer.layer.digest}`);
    checks.push(verifySigstoreBundle({ bundle: bundle.body, digest, keys, layer: layer.layer }));
  }
  return checks;
}

const outcome = (checks: SignatureCheck[]) => checks.map((c) => (c.verified ? `verified ${c.format}` : `${c.reason} ${c.format}`));

describeWithBinaries(['docker-registry'], 'cosign helper: signatures as cosign writes them, read back from a real registry', () => {
  let reg: RegistryHandle;
  let dir: string;
  let key: SigningKey;
  let other: SigningKey;
  let keys: TrustedKey[];
  let counter = 0;

  const freshImage = async (): Promise<PushedImage> => pushImage(reg, 'signed/app', `v${++counter}`, { layerSizes: [512], seed: `cosign-helper-${counter}` });

  beforeAll(async () => {
    reg = await startRegistry();
    dir = await mkdtemp(join(tmpdir(), 'tender-cosign-'));
    key = generateSigningKey();
    other = generateSigningKey();
    // The key goes through a file, as an operator's cosign.pub would.
    const load = parsePublicKey(await readFile(await writePublicKey(key, dir), 'utf8'));
    if (!load.ok) throw new Error(load.problem);
    keys = [load.key];
  }, 30_000);

  afterAll(async () => {
    await reg?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes the public key as a PEM PUBLIC KEY file, ECDSA P-256 as cosign generate-key-pair', async () => {
    const text = await readFile(join(dir, 'cosign.pub'), 'utf8');
    expect(text).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(keys[0]!.algorithm).toBe('ecdsa-p256');
  });

  it('classic: a good signature verifies; the tag and layer are what cosign writes', async () => {
    const image = await freshImage();
    const signed = await signClassic(reg, 'signed/app', image.digest, key);
    expect(signed.tag).toBe(`${image.digest.replace(':', '-')}.sig`);
    const stored = await get(reg, `signed/app/manifests/${signed.tag}`, cosignTypes.ociManifest);
    expect(stored.contentType).toBe(cosignTypes.ociManifest);
    expect(stored.body.equals(signed.manifest)).toBe(true);
    const payload = JSON.parse((await get(reg, `signed/app/blobs/${signed.layer.payload.digest}`)).body.toString());
    expect(payload).toEqual({
      critical: {
        identity: { 'docker-reference': `${reg.host}/signed/app` },
        image: { 'docker-manifest-digest': image.digest },
        type: 'cosign container image signature',
      },
      optional: null,
    });
    expect(outcome(await classicChecks(reg, 'signed/app', image.digest, keys))).toEqual(['verified simple-signing']);
  });

  it('classic: each bad case fails for its own reason', async () => {
    const cases: Array<[string, (digest: string) => Promise<unknown>, string]> = [
      ['another key', (d) => signClassic(reg, 'signed/app', d, other), 'unverified simple-signing'],
      [
        'payload naming another digest',
        (d) => signClassic(reg, 'signed/app', d, key, { claimedDigest: d.replace(/.$/, (c) => (c === '0' ? '1' : '0')) }),
        'digest-mismatch simple-signing',
      ],
      ['tampered payload layer', (d) => signClassic(reg, 'signed/app', d, key, { tamper: 'payload' }), 'unverified simple-signing'],
      ['tampered signature annotation', (d) => signClassic(reg, 'signed/app', d, key, { tamper: 'signature' }), 'unverified simple-signing'],
    ];
    for (const [name, sign, expected] of cases) {
      const image = await freshImage();
      await sign(image.digest);
      expect(outcome(await classicChecks(reg, 'signed/app', image.digest, keys)), name).toEqual([expected]);
    }
  });

  it('classic: signing again appends a layer, as cosign does, and one good signature among bad ones is found', async () => {
    const image = await freshImage();
    await signClassic(reg, 'signed/app', image.digest, other);
    await signClassic(reg, 'signed/app', image.digest, key);
    expect(outcome(await classicChecks(reg, 'signed/app', image.digest, keys))).toEqual(['unverified simple-signing', 'verified simple-signing']);
  });

  it('bundle: a good signature verifies through the referrers fallback tag; the referrer is what cosign writes', async () => {
    const image = await freshImage();
    const signed = await signBundle(reg, 'signed/app', image.digest, key);
    expect(signed.fallbackTag).toBe(referrersTag(image.digest));
    const referrer = JSON.parse((await get(reg, `signed/app/manifests/${signed.manifestDigest}`, cosignTypes.ociManifest)).body.toString());
    expect(referrer.artifactType).toBe(cosignTypes.bundle);
    expect(referrer.config).toMatchObject({ mediaType: cosignTypes.ociEmpty, size: 2, artifactType: cosignTypes.bundle });
    expect(referrer.subject).toEqual({ mediaType: image.mediaType, size: image.manifest.length, digest: image.digest });
    expect(referrer.annotations['dev.sigstore.bundle.predicateType']).toBe(cosignTypes.signPredicate);
    expect(outcome(await bundleChecks(reg, 'signed/app', image.digest, keys))).toEqual(['verified sigstore-bundle']);
  });

  it('bundle: each bad case fails for its own reason', async () => {
    const cases: Array<[string, (digest: string) => Promise<unknown>, string]> = [
      ['another key', (d) => signBundle(reg, 'signed/app', d, other), 'unverified sigstore-bundle'],
      [
        'statement naming another digest',
        (d) => signBundle(reg, 'signed/app', d, key, { claimedDigest: d.replace(/.$/, (c) => (c === '0' ? '1' : '0')) }),
        'digest-mismatch sigstore-bundle',
      ],
      ['tampered statement', (d) => signBundle(reg, 'signed/app', d, key, { tamper: 'payload' }), 'unverified sigstore-bundle'],
      ['tampered signature', (d) => signBundle(reg, 'signed/app', d, key, { tamper: 'signature' }), 'unverified sigstore-bundle'],
    ];
    for (const [name, sign, expected] of cases) {
      const image = await freshImage();
      await sign(image.digest);
      expect(outcome(await bundleChecks(reg, 'signed/app', image.digest, keys)), name).toEqual([expected]);
    }
  });

  it('bundle: two referrers share one fallback index, sorted by digest as go-containerregistry keeps it', async () => {
    const image = await freshImage();
    const bad = await signBundle(reg, 'signed/app', image.digest, other, { created: '2026-01-01T00:00:00Z' });
    const good = await signBundle(reg, 'signed/app', image.digest, key, { created: '2026-01-02T00:00:00Z' });
    const index = JSON.parse((await get(reg, `signed/app/manifests/${referrersTag(image.digest)}`, cosignTypes.ociIndex)).body.toString());
    const digests = [bad.manifestDigest, good.manifestDigest].sort();
    expect(index.manifests).toEqual(
      digests.map((digest) => expect.objectContaining({ mediaType: cosignTypes.ociManifest, digest, artifactType: cosignTypes.bundle })),
    );
    const checks = outcome(await bundleChecks(reg, 'signed/app', image.digest, keys));
    expect(checks.sort()).toEqual(['unverified sigstore-bundle', 'verified sigstore-bundle']);
  });

  it('bundle: a multi-arch index is signed like an image, its referrer naming the index as subject', async () => {
    const index = await pushIndex(reg, 'signed/multi', 'v1', {
      seed: 'cosign-helper-multi',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
      layerSizes: [256],
    });
    const signed = await signBundle(reg, 'signed/multi', index.digest, key);
    const referrer = JSON.parse(signed.manifest.toString());
    expect(referrer.subject).toEqual({ mediaType: cosignTypes.ociIndex, size: index.manifest.length, digest: index.digest });
    expect(outcome(await bundleChecks(reg, 'signed/multi', index.digest, keys))).toEqual(['verified sigstore-bundle']);
  });
});
