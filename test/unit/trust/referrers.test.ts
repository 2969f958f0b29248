// Picking signature candidates from a referrers list (API answer or fallback tag index), and a bundle referrer's layer.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { referrerBundleLayer, signatureCandidates } from '../../../src/trust/referrers.js';
import { cosignTypes } from '../../helpers/cosign.js';

const sha = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const image = sha('image');

const entry = (name: string, artifactType: string, annotations?: Record<string, string>) => ({
  mediaType: cosignTypes.ociManifest,
  size: 877,
  digest: sha(name),
  artifactType,
  ...(annotations ? { annotations } : {}),
});
const index = (manifests: unknown[]) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: cosignTypes.ociIndex, manifests }));

describe('signatureCandidates', () => {
  it('keeps bundle signatures and cosign signature artifacts from a referrers API answer, and counts the rest', () => {
    const result = signatureCandidates(
      index([
        entry('bundle-sig', cosignTypes.bundle, {
          'dev.sigstore.bundle.predicateType': cosignTypes.signPredicate,
          'dev.sigstore.bundle.content': 'dsse-envelope',
        }),
        entry('bundle-att', cosignTypes.bundle, { 'dev.sigstore.bundle.predicateType': 'https://slsa.dev/provenance/v1' }),
        entry('sig-artifact', 'application/vnd.dev.cosign.artifact.sig.v1+json'),
        entry('sbom', 'application/spdx+json'),
        entry('legacy-bundle', 'application/vnd.dev.sigstore.bundle+json;version=0.3'),
      ]),
    );
    if (!result.ok) throw new Error(result.detail);
    expect(result.candidates.map((c) => [c.digest, c.format])).toEqual([
      [sha('bundle-sig'), 'sigstore-bundle'],
      [sha('sig-artifact'), 'simple-signing'],
      [sha('legacy-bundle'), 'sigstore-bundle'],
    ]);
    expect(result.others).toBe(2);
    expect(result.omitted).toBe(0);
  });

  it('keeps a bundle from the fallback tag index, whose entries carry no annotations', () => {
    // What go-containerregistry writes under sha256-<hex>: {mediaType,size,digest,artifactType}.
    const result = signatureCandidates(index([entry('bundle', cosignTypes.bundle)]));
    expect(result.ok && result.candidates).toEqual([{ digest: sha('bundle'), size: 877, artifactType: cosignTypes.bundle, format: 'sigstore-bundle' }]);
  });

  it('skips entries that cannot be fetched safely: bad digests, sizes, media types', () => {
    const result = signatureCandidates(
      index([
        { ...entry('a', cosignTypes.bundle), digest: 'sha256:nothex' },
        { ...entry('b', cosignTypes.bundle), size: -1 },
        { ...entry('c', cosignTypes.bundle), size: 5 * 1024 * 1024 },
        { ...entry('d', cosignTypes.bundle), mediaType: cosignTypes.ociIndex },
        { ...entry('e', cosignTypes.bundle), artifactType: 7 },
        'not an object',
        null,
      ]),
    );
    expect(result.ok && [result.candidates.length, result.others]).toEqual([0, 7]);
  });

  it('lists a digest once however often the index repeats it', () => {
    const result = signatureCandidates(index([entry('x', cosignTypes.bundle), entry('x', cosignTypes.bundle)]));
    expect(result.ok && result.candidates.length).toBe(1);
  });

  it('keeps at most the limit from a list of 10,000 and counts what it dropped', () => {
    const manifests = Array.from({ length: 10_000 }, (_, i) => entry(`sig-${i}`, cosignTypes.bundle));
    const body = index(manifests);
    expect(body.length).toBeLessThan(4 * 1024 * 1024);
    const result = signatureCandidates(body);
    if (!result.ok) throw new Error(result.detail);
    expect(result.candidates).toHaveLength(128);
    expect(result.candidates[0]!.digest).toBe(sha('sig-0'));
    expect(result.omitted).toBe(10_000 - 128);
    const limited = signatureCandidates(body, 5);
    expect(limited.ok && [limited.candidates.length, limited.omitted]).toEqual([5, 10_000 - 5]);
  });

  it.each([
    ['not JSON', Buffer.from('{"manifests":['), 'malformed', /not JSON/],
    ['an index without manifests', Buffer.from('{"schemaVersion":2}'), 'malformed', /no manifests array/],
    ['an array', Buffer.from('[]'), 'malformed', /no manifests array/],
    ['more than 4 MiB', Buffer.alloc(4 * 1024 * 1024 + 1, 0x20), 'too-large', /cap/],
  ])('refuses %s', (_name, body, reason, detail) => {
    const result = signatureCandidates(body);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reason).toBe(reason);
      expect(result.detail).toMatch(detail);
    }
  });
});

describe('referrerBundleLayer', () => {
  const bundleLayer = { mediaType: cosignTypes.bundle, size: 659, digest: sha('bundle') };
  const manifest = (fields: Record<string, unknown> = {}) =>
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: cosignTypes.ociManifest,
        config: { mediaType: cosignTypes.ociEmpty, size: 2, digest: sha('{}'), artifactType: cosignTypes.bundle },
        layers: [bundleLayer],
        annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': cosignTypes.signPredicate },
        subject: { mediaType: cosignTypes.ociManifest, size: 401, digest: image },
        artifactType: cosignTypes.bundle,
        ...fields,
      }),
    );

  it('returns the one bundle layer of a referrer of this image', () => {
    expect(referrerBundleLayer(manifest(), image)).toEqual({ ok: true, layer: bundleLayer });
  });

  it('takes the artifactType from the config when the manifest has none (OCI image-spec 1.1 fallback)', () => {
    // cosign's empty config carries the artifactType itself.
    expect(referrerBundleLayer(manifest({ artifactType: undefined }), image).ok).toBe(true);
    const config = { mediaType: cosignTypes.bundle, size: 2, digest: sha('{}') };
    expect(referrerBundleLayer(manifest({ artifactType: undefined, config }), image).ok).toBe(true);
    const emptyConfig = { mediaType: cosignTypes.ociEmpty, size: 2, digest: sha('{}') };
    expect(referrerBundleLayer(manifest({ artifactType: undefined, config: emptyConfig }), image).ok).toBe(false);
  });

  it.each([
    [
      'a referrer of another image',
      { subject: { mediaType: cosignTypes.ociManifest, size: 1, digest: sha('other') } },
      'digest-mismatch',
      /subject is sha256:/,
    ],
    ['a manifest without subject', { subject: undefined }, 'digest-mismatch', /subject is missing/],
    ['an attestation', { annotations: { 'dev.sigstore.bundle.predicateType': 'https://spdx.dev/Document' } }, 'wrong-type', /attestation/],
    ['another artifactType', { artifactType: 'application/spdx+json' }, 'wrong-type', /not a Sigstore bundle/],
    ['two layers', { layers: [bundleLayer, bundleLayer] }, 'malformed', /exactly one layer/],
    ['a layer that is no bundle', { layers: [{ ...bundleLayer, mediaType: 'application/octet-stream' }] }, 'wrong-type', /not a Sigstore bundle/],
    ['a bundle layer over the cap', { layers: [{ ...bundleLayer, size: 8 * 1024 * 1024 }] }, 'too-large', /8388608 bytes/],
    ['a bundle layer without a valid digest', { layers: [{ ...bundleLayer, digest: 'md5:abc' }] }, 'malformed', /no valid sha256 digest/],
  ])('refuses %s', (_name, fields, reason, detail) => {
    const result = referrerBundleLayer(manifest(fields), image);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reason).toBe(reason);
      expect(result.detail).toMatch(detail);
    }
  });

  it('refuses bytes that are not a manifest', () => {
    const result = referrerBundleLayer(Buffer.from('<html>'), image);
    expect(result.ok === false && result.reason).toBe('malformed');
  });
});
