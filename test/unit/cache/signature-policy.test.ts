// The signature policy in the real core over a scripted upstream: both cosign formats, the verdicts and their
// messages, multi-arch admission, blobs, evidence, the verdict cache, key changes, onError and the contract.
import { describe, expect, it } from 'vitest';
import { keySet, type KeySet, type TrustedKeys } from '../../../src/cache/trusted-keys.js';
import type { SignaturePolicyOptions } from '../../../src/cache/signature-policy.js';
import { parseDigest } from '../../../src/oci/digest.js';
import { OciError } from '../../../src/oci/errors.js';
import { mediaTypes } from '../../../src/oci/media-types.js';
import type { TrustedKey } from '../../../src/trust/public-key.js';
import { generateSigningKey, type SigningKey } from '../../helpers/cosign-keys.js';
import { cosignTypes, signatureImage, signatureLayer, signStatement, sigstoreBundle, simpleSigningPayload } from '../../helpers/cosign.js';
import { trusted } from '../trust/trusted-key.js';
import { bodyOf, counter, coreUnderTest, routeTo, type CoreUnderTest } from './core-under-test.js';
import { ScriptedUpstream, sha256 } from './scripted-upstream.js';

const repo = 'org/app';
const signer = generateSigningKey();
const stranger = generateSigningKey();

/** Keys the test swaps, as the key files adapter does when a file changes. */
class SwappableKeys implements TrustedKeys {
  private set: KeySet;
  constructor(keys: readonly TrustedKey[]) {
    this.set = keySet(keys);
  }
  use(keys: readonly TrustedKey[]): void {
    this.set = keySet(keys);
  }
  keysOf(): KeySet {
    return this.set;
  }
}

function options(overrides: Partial<SignaturePolicyOptions> = {}): SignaturePolicyOptions {
  return {
    onError: 'deny',
    exempt: [],
    policies: [{ name: 'platform', repositories: ['registry.test/org/**'], mode: 'enforce' }],
    deadlineMs: 5_000,
    ...overrides,
  };
}

async function setUp(overrides: Partial<SignaturePolicyOptions> = {}, keys = new SwappableKeys([trusted(signer)]), shareWith?: CoreUnderTest) {
  const upstream = new ScriptedUpstream();
  const core = await coreUnderTest({ signatures: options(overrides), keys, ...(shareWith ? { shareWith } : {}) });
  return { upstream, core, keys, route: routeTo(upstream, repo), pull: core.pullThrough };
}

/** `cosign sign --key` in the classic format, pushed to the scripted upstream: the `.sig` tag, its config and payload. */
function signClassic(upstream: ScriptedUpstream, repository: string, digest: string, key: SigningKey, claimed = digest): string {
  const layer = signatureLayer(key, simpleSigningPayload(`registry.test/${repository}`, claimed));
  const { config, manifest } = signatureImage([layer]);
  upstream.pushBlob(repository, layer.payload.bytes);
  upstream.pushBlob(repository, config.bytes);
  return upstream.pushManifest(repository, manifest, cosignTypes.ociManifest, `${digest.replace(':', '-')}.sig`);
}

/** `cosign sign --new-bundle-format`: a bundle referrer, listed by the referrers API or (api false) under the referrers tag. */
function signBundle(upstream: ScriptedUpstream, repository: string, subject: { digest: string; size: number }, key: SigningKey, api = true): string {
  const bundle = sigstoreBundle(key, signStatement(subject.digest));
  const config = Buffer.from('{}');
  upstream.pushBlob(repository, bundle);
  upstream.pushBlob(repository, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: cosignTypes.ociManifest,
      config: { mediaType: cosignTypes.ociEmpty, size: 2, digest: sha256(config), artifactType: cosignTypes.bundle },
      layers: [{ mediaType: cosignTypes.bundle, size: bundle.length, digest: sha256(bundle) }],
      annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': cosignTypes.signPredicate },
      subject: { mediaType: cosignTypes.ociManifest, ...subject },
      artifactType: cosignTypes.bundle,
    }),
  );
  const digest = upstream.pushManifest(repository, manifest, cosignTypes.ociManifest);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: cosignTypes.ociIndex,
      manifests: [{ mediaType: cosignTypes.ociManifest, size: manifest.length, digest, artifactType: cosignTypes.bundle }],
    }),
  );
  if (api) upstream.referrerLists.set(subject.digest, (JSON.parse(index.toString()) as { manifests: unknown[] }).manifests);
  else upstream.pushManifest(repository, index, cosignTypes.ociIndex, subject.digest.replace(':', '-'));
  return digest;
}

const get = { accept: undefined, head: false };

async function refusal(work: Promise<unknown>): Promise<OciError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OciError);
  return err as OciError;
}

describe('signature policy', () => {
  it('serves a classic-signed image by tag and by digest, counts it and admits its blobs', async () => {
    const { upstream, core, route, pull } = await setUp();
    const image = upstream.pushImage(repo, '1.0', [Buffer.from('layer')]);
    signClassic(upstream, repo, image.digest, signer);

    expect((await pull.manifest(route, '1.0', get)).digest).toBe(image.digest);
    expect((await pull.manifest(route, image.digest, get)).digest).toBe(image.digest);
    for (const blob of [image.config, ...image.layers]) expect((await pull.blob(route, blob, { head: false })).size).toBeGreaterThan(0);
    expect(await counter(core.metrics, 'tender_signature_verdicts_total', { policy: 'platform', verdict: 'verified' })).toBe(2);
    expect(core.logs.filter((l) => l.msg === 'signature verified')).toHaveLength(1);
  });

  it('refuses an unsigned image with 403 naming the policy and the reason, and its blobs', async () => {
    const { upstream, core, route, pull } = await setUp();
    const image = upstream.pushImage(repo, '1.0', [Buffer.from('layer')]);
    const err = await refusal(pull.manifest(route, '1.0', get));
    expect(err.code).toBe('DENIED');
    expect(err.message).toBe(
      `signature policy "platform" refuses registry.test/${repo}@${image.digest}: no signature found (no tag ${image.digest.replace(':', '-')}.sig, no signature among the referrers)`,
    );
    expect(err.detail).toEqual({ reason: 'signature', upstream: 'registry.test' });
    expect((await refusal(pull.blob(route, image.layers[0]!, { head: false }))).message).toMatch(/no verified manifest known to reference this blob/);
    expect(await counter(core.metrics, 'tender_signature_verdicts_total', { policy: 'platform', verdict: 'refused' })).toBe(1);
    // Logged once with the digest and the reason, however often it is asked for.
    await refusal(pull.manifest(route, image.digest, get));
    const lines = core.logs.filter((l) => l.msg === 'signature policy refused a manifest');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ digest: image.digest, refusal: 'no-signature', policy: 'platform' });
  });

  it('refuses a signature made with another key, one naming another digest, and a tampered one', async () => {
    const { upstream, route, pull } = await setUp();
    const wrongKey = upstream.pushImage(repo, 'wrong-key', [Buffer.from('a')], 'a');
    signClassic(upstream, repo, wrongKey.digest, stranger);
    expect((await refusal(pull.manifest(route, 'wrong-key', get))).message).toMatch(
      /: signature does not verify with any key \(1 signature found, 1 key trusted\)$/,
    );

    const other = upstream.pushImage(repo, 'other', [Buffer.from('b')], 'b');
    const named = upstream.pushImage(repo, 'named', [Buffer.from('c')], 'c');
    signClassic(upstream, repo, named.digest, signer, other.digest);
    expect((await refusal(pull.manifest(route, 'named', get))).message).toContain(
      `: payload names another digest (payload names ${other.digest}, not ${named.digest})`,
    );

    const tampered = upstream.pushImage(repo, 'tampered', [Buffer.from('d')], 'd');
    const layer = signatureLayer(signer, simpleSigningPayload(`registry.test/${repo}`, tampered.digest));
    const altered = Buffer.concat([layer.payload.bytes, Buffer.from(' ')]);
    const { config, manifest } = signatureImage([{ ...layer, payload: { ...layer.payload, bytes: altered, digest: sha256(altered), size: altered.length } }]);
    upstream.pushBlob(repo, altered);
    upstream.pushBlob(repo, config.bytes);
    upstream.pushManifest(repo, manifest, cosignTypes.ociManifest, `${tampered.digest.replace(':', '-')}.sig`);
    expect((await refusal(pull.manifest(route, 'tampered', get))).message).toMatch(/signature does not verify with any key/);
  });

  it('verifies a bundle through the referrers API and through the referrers tag', async () => {
    const { upstream, route, pull } = await setUp();
    const viaApi = upstream.pushImage(repo, 'api', [Buffer.from('a')], 'a');
    signBundle(upstream, repo, { digest: viaApi.digest, size: viaApi.manifest.length }, signer);
    const verdict = await pull.signatureVerdict(route, 'api');
    expect(verdict).toMatchObject({ allowed: true, verdict: 'verified', policy: 'platform', mode: 'enforce', keyId: trusted(signer).id, cached: false });
    expect(verdict.signatures).toEqual([expect.objectContaining({ format: 'sigstore-bundle', verified: true, keyId: trusted(signer).id })]);

    upstream.referrersApi = false;
    const viaTag = upstream.pushImage(repo, 'tag', [Buffer.from('b')], 'b');
    signBundle(upstream, repo, { digest: viaTag.digest, size: viaTag.manifest.length }, signer, false);
    expect((await pull.manifest(route, 'tag', get)).digest).toBe(viaTag.digest);
  });

  it('serves the evidence itself: the .sig tag, its payload, the referrers tag index and the referrer', async () => {
    const { upstream, core, route, pull } = await setUp();
    upstream.referrersApi = false;
    const image = upstream.pushImage(repo, '1.0', [Buffer.from('a')]);
    signClassic(upstream, repo, image.digest, signer);
    const referrer = signBundle(upstream, repo, { digest: image.digest, size: image.manifest.length }, signer, false);
    const sig = await pull.manifest(route, `${image.digest.replace(':', '-')}.sig`, get);
    const payload = (JSON.parse(sig.body!.toString()) as { layers: Array<{ digest: string }> }).layers[0]!.digest;
    expect((await pull.blob(route, payload, { head: false })).size).toBeGreaterThan(0);
    expect((await pull.manifest(route, image.digest.replace(':', '-'), get)).mediaType).toBe(cosignTypes.ociIndex);
    expect((await pull.manifest(route, referrer, get)).digest).toBe(referrer);
    expect(await counter(core.metrics, 'tender_signature_verdicts_total', { policy: 'platform', verdict: 'evidence' })).toBe(3);
  });

  it('never takes an image with filesystem layers for evidence, whatever its tag', async () => {
    const { upstream, route, pull } = await setUp();
    const image = upstream.pushImage(repo, 'sha256-' + 'a'.repeat(64) + '.sig', [Buffer.from('rootfs')]);
    const err = await refusal(pull.manifest(route, 'sha256-' + 'a'.repeat(64) + '.sig', get));
    expect(err.message).toContain(image.digest);
    // Listed in a referrers tag index (which is evidence), it is still judged on its own.
    const signed = upstream.pushImage(repo, '1.0', [Buffer.from('signed')], 'signed');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: cosignTypes.ociIndex,
        manifests: [{ mediaType: cosignTypes.ociManifest, size: image.manifest.length, digest: image.digest, artifactType: cosignTypes.bundle }],
      }),
    );
    upstream.pushManifest(repo, index, cosignTypes.ociIndex, signed.digest.replace(':', '-'));
    expect((await pull.manifest(route, signed.digest.replace(':', '-'), get)).mediaType).toBe(cosignTypes.ociIndex);
    expect((await refusal(pull.manifest(route, image.digest, get))).code).toBe('DENIED');
    expect((await refusal(pull.blob(route, image.layers[0]!, { head: false }))).code).toBe('DENIED');
  });

  it('warn mode serves, logs and counts', async () => {
    const { upstream, core, route, pull } = await setUp({ policies: [{ name: 'platform', repositories: ['registry.test/**'], mode: 'warn' }] });
    const image = upstream.pushImage(repo, '1.0', [Buffer.from('layer')]);
    expect((await pull.manifest(route, '1.0', get)).digest).toBe(image.digest);
    expect((await pull.blob(route, image.layers[0]!, { head: false })).size).toBe(5);
    expect(await counter(core.metrics, 'tender_signature_verdicts_total', { policy: 'platform', verdict: 'warned' })).toBe(1);
    expect(core.logs.find((l) => l.msg === 'signature policy would refuse a manifest (warn mode: served)')).toMatchObject({ digest: image.digest });
  });

  it('admits the platform manifests of a signed index and their blobs; refuses an unsigned platform manifest without a signed parent', async () => {
    const { upstream, route, pull } = await setUp();
    const amd = upstream.pushImage(repo, undefined, [Buffer.from('amd')], 'amd');
    const arm = upstream.pushImage(repo, undefined, [Buffer.from('arm')], 'arm');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: mediaTypes.ociIndex,
        manifests: [amd, arm].map((m, i) => ({
          mediaType: mediaTypes.ociManifest,
          digest: m.digest,
          size: m.manifest.length,
          platform: { os: 'linux', architecture: i === 0 ? 'amd64' : 'arm64' },
        })),
      }),
    );
    const indexDigest = upstream.pushManifest(repo, index, mediaTypes.ociIndex, 'multi');
    const lone = upstream.pushImage(repo, undefined, [Buffer.from('lone')], 'lone');
    // Refused before its parent is known.
    expect((await refusal(pull.manifest(route, amd.digest, get))).code).toBe('DENIED');
    signClassic(upstream, repo, indexDigest, signer);
    await pull.manifest(route, 'multi', get);
    const child = await pull.signatureVerdict(route, arm.digest);
    expect(child).toMatchObject({ allowed: true, verdict: 'admitted', parent: indexDigest, keyId: trusted(signer).id });
    await pull.manifest(route, arm.digest, get);
    expect((await pull.blob(route, arm.layers[0]!, { head: false })).size).toBe(3);
    expect((await refusal(pull.manifest(route, lone.digest, get))).message).toContain('no signature found');
  });

  it('caches verdicts: no signature request on the second pull, none after a restart, re-verified once the evidence is gone', async () => {
    const first = await setUp();
    const { upstream, route } = first;
    const image = upstream.pushImage(repo, '1.0', [Buffer.from('layer')]);
    signClassic(upstream, repo, image.digest, signer);
    await first.pull.manifest(route, image.digest, get);
    const afterFirst = upstream.calls.length;
    expect(afterFirst).toBeGreaterThan(1);
    await first.pull.manifest(route, image.digest, get);
    expect(upstream.calls.length).toBe(afterFirst);
    expect(first.core.metadata.verdicts.size).toBe(1);

    // A restart: same store and metadata, empty memory.
    first.core.close();
    const second = await coreUnderTest({ signatures: options(), keys: first.keys, shareWith: first.core });
    const verdict = await second.pullThrough.signatureVerdict(route, image.digest);
    expect(verdict).toMatchObject({ verdict: 'verified', cached: true });
    expect(upstream.calls.length).toBe(afterFirst);
    expect((await second.pullThrough.blob(route, image.layers[0]!, { head: false })).size).toBe(5);
    second.close();

    // The signature's payload left the cache: the verdict no longer counts, the next pull fetches and verifies again.
    const sig = JSON.parse((await first.pull.manifest(route, `${image.digest.replace(':', '-')}.sig`, get)).body!.toString()) as {
      layers: Array<{ digest: string }>;
    };
    const payload = sig.layers[0]!.digest;
    await first.core.store.delete(parseDigest(payload));
    const third = await coreUnderTest({ signatures: options(), keys: first.keys, shareWith: first.core });
    expect(await third.pullThrough.signatureVerdict(route, image.digest)).toMatchObject({ verdict: 'verified', cached: false });
    expect(upstream.count('getBlob', payload)).toBe(2);
    third.close();
  });

  it('answers warm pulls of a signed image from memory, counted, and steps aside whenever the async path would decide again', async () => {
    const { upstream, core, route, pull, keys } = await setUp();
    const image = upstream.pushImage(repo, '1.0', [Buffer.from('layer')]);
    signClassic(upstream, repo, image.digest, signer);
    const unsigned = upstream.pushImage(repo, '2.0', [Buffer.from('other')]);
    const layer = image.layers[0]!;
    expect(pull.manifestNow(route, image.digest, get)).toBeUndefined();
    await pull.manifest(route, '1.0', get);
    // The download, then the first hit, which reads the small blob into memory.
    for (let i = 0; i < 2; i++) await bodyOf(await pull.blob(route, layer, { head: false }));
    const calls = upstream.calls.length;
    const verified = await counter(core.metrics, 'tender_signature_verdicts_total', { policy: 'platform', verdict: 'verified' });
    expect(pull.manifestNow(route, image.digest, get)).toMatchObject({ digest: image.digest, result: 'hit' });
    expect(pull.manifestNow(route, '1.0', get)).toMatchObject({ digest: image.digest, result: 'hit' });
    expect(pull.blobNow(route, layer, false)).toBeDefined();
    expect(await counter(core.metrics, 'tender_signature_verdicts_total', { policy: 'platform', verdict: 'verified' })).toBe(verified + 2);
    expect(upstream.calls.length).toBe(calls);
    // Refused the async way, and never answered from memory.
    await refusal(pull.manifest(route, unsigned.digest, get));
    expect(pull.manifestNow(route, unsigned.digest, get)).toBeUndefined();
    expect(pull.blobNow(route, unsigned.layers[0]!, false)).toBeUndefined();
    // Another key set: its verdict is not in memory; the async path refuses.
    keys.use([trusted(stranger)]);
    expect(pull.manifestNow(route, image.digest, get)).toBeUndefined();
    expect(pull.blobNow(route, layer, false)).toBeUndefined();
    await refusal(pull.manifest(route, image.digest, get));
    keys.use([trusted(signer)]);
    expect(pull.manifestNow(route, image.digest, get)).toMatchObject({ result: 'hit' });
    // The signature's tag is due (tagTtl): the verdict is made again the async way before memory answers again.
    core.advance(60_000);
    expect(pull.manifestNow(route, image.digest, get)).toBeUndefined();
    expect(pull.blobNow(route, layer, false)).toBeUndefined();
    await pull.manifest(route, image.digest, get);
    expect(pull.manifestNow(route, image.digest, get)).toMatchObject({ result: 'hit' });
  });

  it('a key change invalidates the verdicts the old key set made', async () => {
    const { upstream, route, pull, keys } = await setUp();
    const image = upstream.pushImage(repo, '1.0', [Buffer.from('layer')]);
    signClassic(upstream, repo, image.digest, signer);
    expect((await pull.signatureVerdict(route, '1.0')).verdict).toBe('verified');
    keys.use([trusted(stranger)]);
    expect(await pull.signatureVerdict(route, '1.0')).toMatchObject({ verdict: 'refused', refusal: 'unverified', keyIds: [trusted(stranger).id] });
    await refusal(pull.blob(route, image.layers[0]!, { head: false }));
    keys.use([trusted(stranger), trusted(signer)]);
    expect((await pull.signatureVerdict(route, '1.0')).verdict).toBe('verified');
  });

  it('follows onError when the signatures cannot be fetched: deny is 503 naming the cause, allow serves as fail-open', async () => {
    for (const onError of ['deny', 'allow'] as const) {
      const upstream = new ScriptedUpstream();
      const route = routeTo(upstream, repo);
      const image = upstream.pushImage(repo, '1.0', [Buffer.from('layer')]);
      // The image manifest is cached (by a tender without the policy), its signatures are not; then upstream goes down.
      const plain = await coreUnderTest();
      await plain.pullThrough.manifest(route, image.digest, get);
      upstream.failure = new OciError('UNAVAILABLE', 'upstream registry.test: connection refused');
      const core = await coreUnderTest({ signatures: options({ onError }), keys: new SwappableKeys([trusted(signer)]), shareWith: plain });
      if (onError === 'deny') {
        const err = await refusal(core.pullThrough.manifest(route, image.digest, get));
        expect(err.code).toBe('UNAVAILABLE');
        expect(err.message).toMatch(
          /^signature policy "platform": signatures could not be fetched \(tag sha256-[a-f0-9]{64}\.sig: UNAVAILABLE upstream registry\.test: connection refused/,
        );
        expect(await counter(core.metrics, 'tender_signature_verdicts_total', { policy: 'platform', verdict: 'unavailable' })).toBe(1);
      } else {
        expect((await core.pullThrough.manifest(route, image.digest, get)).digest).toBe(image.digest);
        expect(await counter(core.metrics, 'tender_signature_verdicts_total', { policy: 'platform', verdict: 'fail-open' })).toBe(1);
      }
    }
  });

  it("gives the caller's deadline its onError verdict instead of waiting", async () => {
    const upstream = new ScriptedUpstream();
    const route = routeTo(upstream, repo);
    const image = upstream.pushImage(repo, '1.0', [Buffer.from('layer')]);
    const plain = await coreUnderTest();
    await plain.pullThrough.manifest(route, image.digest, get);
    upstream.hang = true;
    const core = await coreUnderTest({ signatures: options({ onError: 'deny' }), keys: new SwappableKeys([trusted(signer)]), shareWith: plain });
    const verdict = await core.pullThrough.signatureVerdict(route, image.digest, { signal: AbortSignal.abort() });
    expect(verdict).toMatchObject({ allowed: false, verdict: 'unavailable', refusal: 'fetch-failed', policy: 'platform', keyIds: [trusted(signer).id] });
    core.close();
  });

  it('leaves exempt and uncovered repositories alone', async () => {
    const { upstream, pull } = await setUp({ exempt: ['registry.test/org/pause'] });
    const pause = upstream.pushImage('org/pause', '3.9', [Buffer.from('p')]);
    expect(await pull.signatureVerdict(routeTo(upstream, 'org/pause'), '3.9')).toMatchObject({ allowed: true, verdict: 'exempt', digest: pause.digest });
    upstream.pushImage('other/app', '1', [Buffer.from('o')]);
    expect(await pull.signatureVerdict(routeTo(upstream, 'other/app'), '1')).toMatchObject({ allowed: true, verdict: 'unchecked' });
  });

  it('bounds what it reads: a 10,000-entry referrers list and a 4 MiB signature payload', async () => {
    const { upstream, route, pull } = await setUp();
    const image = upstream.pushImage(repo, '1.0', [Buffer.from('layer')]);
    const entries = Array.from({ length: 10_000 }, (_, i) => ({
      mediaType: cosignTypes.ociManifest,
      size: 100,
      digest: `sha256:${i.toString(16).padStart(64, '0')}`,
      artifactType: 'application/vnd.example.sbom',
    }));
    upstream.referrerLists.set(image.digest, entries);
    const big = Buffer.alloc(4 * 1024 * 1024, 'a');
    const layer = signatureLayer(signer, simpleSigningPayload(`registry.test/${repo}`, image.digest));
    const { config, manifest } = signatureImage([{ ...layer, payload: { ...layer.payload, bytes: big, digest: sha256(big), size: big.length } }]);
    upstream.pushBlob(repo, big);
    upstream.pushBlob(repo, config.bytes);
    upstream.pushManifest(repo, manifest, cosignTypes.ociManifest, `${image.digest.replace(':', '-')}.sig`);
    const verdict = await pull.signatureVerdict(route, '1.0');
    expect(verdict).toMatchObject({ verdict: 'refused', refusal: 'malformed' });
    expect(verdict.signatures[0]).toMatchObject({ reason: 'too-large' });
    // Neither the oversized payload nor any of the 10,000 referrers was fetched.
    expect(upstream.count('getBlob', sha256(big))).toBe(0);
    expect(upstream.calls.filter((c) => c.method === 'getManifest' && entries.some((e) => e.digest === c.reference))).toHaveLength(0);
  });
});
