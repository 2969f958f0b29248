// Signatures at the mirror against a real registry: images signed in both cosign formats, pulled through tender by
// containerd and skopeo; refusals with their messages; warn mode; multi-arch; the verdict cache; key rotation through
// a Secret-style symlink swap. (onError with the upstream stopped, and seed → export → import → offline pull, are in
// signatures-offline.test.ts.)
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { signBundle, signClassic } from '../helpers/cosign.js';
import { generateSigningKey, keyHint, type SigningKey } from '../helpers/cosign-keys.js';
import { startContainerd, writeHostsToml, type ContainerdHandle } from '../helpers/containerd.js';
import { pushImage, pushIndex, type Platform, type PushedImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const run = promisify(execFile);
const hostPlatform: Platform = { os: 'linux', architecture: process.arch === 'arm64' ? 'arm64' : 'amd64' };
const upstream = 'registry.example.test';
const DEAD_SERVER = 'http://127.0.0.1:9';

/** The key id tender logs and reports: sha256 of the DER SubjectPublicKeyInfo, hex. */
const keyId = (key: SigningKey): string => Buffer.from(keyHint(key), 'base64').toString('hex');

describeWithBinaries(['docker-registry', 'skopeo', 'containerd', 'ctr'], 'signatures at the mirror (real registry, containerd, skopeo)', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let containerd: ContainerdHandle;
  let work: string;
  let hostsDir: string;
  let signer: SigningKey;
  let stranger: SigningKey;
  let rotated: SigningKey;
  let rotatingMount: string;
  let counter = 0;
  /** Closing-note material: the verdicts the tests produced and what a verified pull cost upstream. */
  const notes: string[] = [];

  const push = (repository: string, tag: string | undefined): Promise<PushedImage> =>
    pushImage(registry, repository, tag, { layerSizes: [60_000, 4_000], seed: `signatures-${repository}-${++counter}`, platform: hostPlatform });

  async function get(path: string, accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json') {
    const res = await fetch(`${tender.url}/v2/${upstream}/${path}`, { headers: { accept } });
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
  }

  async function refusal(path: string): Promise<{ status: number; code: string; message: string }> {
    const res = await get(path);
    const error = (JSON.parse(res.body.toString()) as { errors: Array<{ code: string; message: string }> }).errors[0]!;
    return { status: res.status, code: error.code, message: error.message };
  }

  async function skopeoCopy(reference: string, into: string, all = false) {
    const source = `docker://${new URL(tender.url).host}/${upstream}/${reference}`;
    return run('skopeo', ['copy', ...(all ? ['--all'] : []), '--src-tls-verify=false', '--preserve-digests', source, `oci:${join(work, into)}:x`], {
      timeout: 60_000,
    });
  }

  async function verdicts(policy: string, verdict: string): Promise<number> {
    const metric = await tender.metrics.registry.getSingleMetric('tender_signature_verdicts_total')!.get();
    return metric.values.filter((v) => v.labels.policy === policy && v.labels.verdict === verdict).reduce((sum, v) => sum + v.value, 0);
  }

  /** Upstream requests for signatures: `.sig` and referrers tags, the referrers API, and the given evidence manifests and blobs (by digest). */
  function signatureRequests(evidence: readonly string[] = []): string[] {
    return registry
      .requests()
      .filter((r) => /\/manifests\/sha256-[a-f0-9]{64}/.test(r.path) || r.kind === 'referrers' || evidence.some((d) => r.path.endsWith(`/${d}`)))
      .map((r) => `${r.method} ${r.path} ${r.status}`);
  }

  beforeAll(async () => {
    registry = await startRegistry();
    work = await mkdtemp(join(tmpdir(), 'tender-signatures-'));
    signer = generateSigningKey();
    stranger = generateSigningKey();
    rotated = generateSigningKey();
    await writeFile(join(work, 'platform.pub'), signer.publicKeyPem);
    // The rotating policy's key is mounted as a Kubernetes Secret is: cosign.pub → ..data/cosign.pub, ..data → ..v1.
    rotatingMount = join(work, 'secret');
    await mkdir(join(rotatingMount, '..v1'), { recursive: true });
    await writeFile(join(rotatingMount, '..v1', 'cosign.pub'), signer.publicKeyPem);
    await symlink('..v1', join(rotatingMount, '..data'));
    await symlink(join('..data', 'cosign.pub'), join(rotatingMount, 'cosign.pub'));
    tender = await startTender({
      upstreams: { [upstream]: registry.url },
      settings: {
        signatures: {
          onError: 'deny',
          exempt: [`${upstream}/signed/pause`],
          policies: [
            { name: 'platform', repositories: [`${upstream}/signed/**`], keys: [join(work, 'platform.pub')], mode: 'enforce' },
            { name: 'soft', repositories: [`${upstream}/soft/**`], keys: [join(work, 'platform.pub')], mode: 'warn' },
            { name: 'rotating', repositories: [`${upstream}/rotating/**`], keys: [join(rotatingMount, 'cosign.pub')] },
          ],
        },
      },
    });
    hostsDir = await mkdtemp(join(tmpdir(), 'tender-sig-hosts-'));
    await writeHostsToml(hostsDir, upstream, { server: DEAD_SERVER, mirror: tender.url });
    containerd = await startContainerd();
  }, 60_000);

  afterAll(async () => {
    if (notes.length > 0) console.log(`signatures at the mirror (closing-note material):\n${notes.join('\n')}`);
    await containerd?.stop();
    await tender?.stop();
    await registry?.stop();
    if (hostsDir) await rm(hostsDir, { recursive: true, force: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('a classic-signed image pulls with containerd and skopeo; the second pull asks upstream for no signature', async () => {
    const image = await push('signed/app', '1.0');
    const sig = await signClassic(registry, 'signed/app', image.digest, signer);
    await registry.settle();
    registry.resetLog();
    await containerd.pull(`${upstream}/signed/app:1.0`, { hostsDir });
    expect(await containerd.imageDigest(`${upstream}/signed/app:1.0`)).toBe(image.digest);
    await registry.settle();
    const first = signatureRequests([sig.layer.payload.digest]);
    // The .sig tag (a GET: no record yet) and its payload blob; nothing else is needed once one verifies.
    expect(first).toEqual([`GET /v2/signed/app/manifests/${sig.tag} 200`, `GET /v2/signed/app/blobs/${sig.layer.payload.digest} 200`]);
    notes.push(`first verified pull (classic, containerd): ${first.length} extra upstream requests: ${first.join(', ')}`);

    registry.resetLog();
    await skopeoCopy('signed/app:1.0', 'classic');
    await registry.settle();
    expect(signatureRequests([sig.layer.payload.digest])).toEqual([]);
    notes.push('second pull (skopeo): 0 signature requests upstream (verdict cache)');
    expect(await verdicts('platform', 'verified')).toBeGreaterThanOrEqual(2);
    expect(tender.logs.find((l) => l.msg === 'signature verified' && l.digest === image.digest)).toMatchObject({ policy: 'platform', key: keyId(signer) });
  });

  it('a bundle-signed image (cosign v3 default) pulls with skopeo through the referrers tag', async () => {
    const image = await push('signed/bundled', '2.0');
    const signed = await signBundle(registry, 'signed/bundled', image.digest, signer);
    expect(signed.fallbackTag).toBe(image.digest.replace(':', '-'));
    await registry.settle();
    registry.resetLog();
    await skopeoCopy('signed/bundled:2.0', 'bundled');
    await registry.settle();
    const first = signatureRequests([signed.manifestDigest, signed.bundle.digest]);
    expect(first).toEqual([
      `GET /v2/signed/bundled/manifests/${image.digest.replace(':', '-')}.sig 404`,
      `GET /v2/signed/bundled/referrers/${image.digest} 404`,
      `GET /v2/signed/bundled/manifests/${signed.fallbackTag} 200`,
      `GET /v2/signed/bundled/manifests/${signed.manifestDigest} 200`,
      `GET /v2/signed/bundled/blobs/${signed.bundle.digest} 200`,
    ]);
    notes.push(`first verified pull (bundle, skopeo, registry without referrers API): ${first.length} extra upstream requests: ${first.join(', ')}`);
    registry.resetLog();
    await skopeoCopy('signed/bundled:2.0', 'bundled-again');
    await registry.settle();
    expect(signatureRequests([signed.manifestDigest, signed.bundle.digest])).toEqual([]);
  });

  it('refuses, with 403 DENIED naming the policy and the reason: unsigned, another key, another digest, a tampered layer', async () => {
    const unsigned = await push('signed/unsigned', '1');
    const otherKey = await push('signed/other-key', '1');
    await signClassic(registry, 'signed/other-key', otherKey.digest, stranger);
    const elsewhere = await push('signed/elsewhere', '1');
    const named = await push('signed/named', '1');
    await signClassic(registry, 'signed/named', named.digest, signer, { claimedDigest: elsewhere.digest });
    const tampered = await push('signed/tampered', '1');
    await signClassic(registry, 'signed/tampered', tampered.digest, signer, { tamper: 'signature' });

    const cases: Array<[PushedImage, string, RegExp]> = [
      [unsigned, 'signed/unsigned', /: no signature found \(no tag sha256-[a-f0-9]{64}\.sig, no signature among the referrers\)$/],
      [otherKey, 'signed/other-key', /: signature does not verify with any key \(1 signature found, 1 key trusted\)$/],
      [named, 'signed/named', new RegExp(`: payload names another digest \\(payload names ${elsewhere.digest}, not ${named.digest}\\)$`)],
      [tampered, 'signed/tampered', /: signature does not verify with any key/],
    ];
    for (const [image, repository, reason] of cases) {
      const answer = await refusal(`${repository}/manifests/1`);
      expect(answer).toMatchObject({ status: 403, code: 'DENIED' });
      expect(answer.message.startsWith(`signature policy "platform" refuses ${upstream}/${repository}@${image.digest}: `)).toBe(true);
      expect(answer.message).toMatch(reason);
      // Its layers are not served either.
      expect((await get(`${repository}/blobs/${image.layers[0]!.digest}`)).status).toBe(403);
      notes.push(`verdict refused: ${answer.message}`);
    }
    // A real client gets the refusal too.
    await expect(containerd.pull(`${upstream}/signed/unsigned:1`, { hostsDir })).rejects.toThrow(/403|denied/i);
    await expect(skopeoCopy('signed/other-key:1', 'refused')).rejects.toThrow(/denied|signature policy/i);
    expect(await verdicts('platform', 'refused')).toBeGreaterThanOrEqual(4);
    expect(tender.logs.filter((l) => l.msg === 'signature policy refused a manifest' && l.digest === unsigned.digest)).toHaveLength(1);
  });

  it('refuses a tag re-pushed upstream to an unsigned digest once tender sees the move', async () => {
    const signed = await push('signed/moving', 'stable');
    await signClassic(registry, 'signed/moving', signed.digest, signer);
    expect((await get('signed/moving/manifests/stable')).status).toBe(200);
    const poisoned = await push('signed/moving', 'stable');
    tender.advance(10 * 60_000); // past tagTtl: the next request revalidates and follows the move
    const answer = await refusal('signed/moving/manifests/stable');
    expect(answer).toMatchObject({ status: 403, code: 'DENIED' });
    expect(answer.message).toContain(`${upstream}/signed/moving@${poisoned.digest}: no signature found`);
    // The signed digest itself still serves.
    expect((await get(`signed/moving/manifests/${signed.digest}`)).status).toBe(200);
  });

  it('serves the evidence so cosign verify works through the mirror: the .sig tag, its payload, the referrers tag and referrer', async () => {
    const image = await push('signed/evidence', '1');
    const sig = await signClassic(registry, 'signed/evidence', image.digest, signer);
    const bundle = await signBundle(registry, 'signed/evidence', image.digest, signer);
    expect((await get(`signed/evidence/manifests/${sig.tag}`)).status).toBe(200);
    expect((await get(`signed/evidence/blobs/${sig.layer.payload.digest}`)).status).toBe(200);
    expect((await get(`signed/evidence/manifests/${bundle.fallbackTag}`)).status).toBe(200);
    expect((await get(`signed/evidence/manifests/${bundle.manifestDigest}`)).status).toBe(200);
    expect((await get(`signed/evidence/blobs/${bundle.bundle.digest}`)).status).toBe(200);
    expect(await verdicts('platform', 'evidence')).toBeGreaterThanOrEqual(3);
  });

  it('warn mode serves an unsigned image, logs and counts it; an exempt repository is not checked', async () => {
    const image = await push('soft/app', '1');
    await skopeoCopy('soft/app:1', 'soft');
    expect(await verdicts('soft', 'warned')).toBe(1);
    expect(tender.logs.find((l) => l.msg === 'signature policy would refuse a manifest (warn mode: served)')).toMatchObject({
      digest: image.digest,
      policy: 'soft',
      refusal: 'no-signature',
    });
    await push('signed/pause', '3.9');
    expect((await get('signed/pause/manifests/3.9')).status).toBe(200);
    notes.push('verdict warned: soft/app:1 served (warn mode)');
  });

  it('a signed index admits its platform manifests and their blobs (skopeo --all, containerd)', async () => {
    const index = await pushIndex(registry, 'signed/multi', 'v1', {
      seed: 'signatures-multi',
      platforms: [hostPlatform, { os: 'linux', architecture: hostPlatform.architecture === 'amd64' ? 'arm64' : 'amd64' }],
      layerSizes: [50_000],
    });
    // Before the index is signed, a platform manifest asked for directly has no signed parent and no signature.
    expect((await refusal(`signed/multi/manifests/${index.images[0]!.digest}`)).message).toContain('no signature found');
    await signClassic(registry, 'signed/multi', index.digest, signer);
    await skopeoCopy('signed/multi:v1', 'multi', true);
    await containerd.pull(`${upstream}/signed/multi:v1`, { hostsDir });
    expect(await containerd.imageDigest(`${upstream}/signed/multi:v1`)).toBe(index.digest);
    expect(await verdicts('platform', 'admitted')).toBeGreaterThanOrEqual(2);
  });

  it('re-reads a rotated key (Secret symlink swap): verdicts of the old key stop counting, the new key verifies', async () => {
    const before = await push('rotating/app', '1');
    await signClassic(registry, 'rotating/app', before.digest, signer);
    const after = await push('rotating/app', '2');
    await signClassic(registry, 'rotating/app', after.digest, rotated);
    expect((await get('rotating/app/manifests/1')).status).toBe(200);
    expect((await refusal('rotating/app/manifests/2')).message).toContain('signature does not verify with any key');

    // kubelet's AtomicWriter: a new directory, a temporary symlink renamed over ..data.
    await mkdir(join(rotatingMount, '..v2'));
    await writeFile(join(rotatingMount, '..v2', 'cosign.pub'), rotated.publicKeyPem);
    await symlink('..v2', join(rotatingMount, '..data_tmp'));
    await rename(join(rotatingMount, '..data_tmp'), join(rotatingMount, '..data'));
    const deadline = Date.now() + 30_000;
    while ((await get('rotating/app/manifests/2')).status !== 200) {
      if (Date.now() > deadline) throw new Error('the rotated key was not picked up');
      await sleep(200);
    }
    // The old key's verdict no longer counts.
    expect((await refusal(`rotating/app/manifests/${before.digest}`)).message).toContain('signature does not verify with any key');
    notes.push('key rotation: rotating/app:2 refused, then verified after the ..data swap; rotating/app:1 refused after it');
  });
});
