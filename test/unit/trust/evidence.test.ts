// What may pass as evidence (served unsigned in a signature policy's repository), and what never does.
import { describe, expect, it } from 'vitest';
import { isEvidenceManifest } from '../../../src/trust/evidence.js';

const digest = `sha256:${'a'.repeat(64)}`;
const sigTag = `sha256-${'a'.repeat(64)}.sig`;
const referrersTag = `sha256-${'a'.repeat(64)}`;
const descriptor = (mediaType: string) => ({ mediaType, digest, size: 10 });
const manifest = (layers: string[], extra: Record<string, unknown> = {}) =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: descriptor('application/vnd.oci.image.config.v1+json'),
      layers: layers.map(descriptor),
      ...extra,
    }),
  );

describe('isEvidenceManifest', () => {
  it('takes cosign signatures, attestations, SBOMs and bundle referrers', () => {
    expect(isEvidenceManifest(manifest(['application/vnd.dev.cosign.simplesigning.v1+json']), sigTag)).toBe(true);
    // A .sig manifest fetched by digest: its layers say what it is.
    expect(isEvidenceManifest(manifest(['application/vnd.dev.cosign.simplesigning.v1+json']), undefined)).toBe(true);
    expect(isEvidenceManifest(manifest(['application/vnd.dsse.envelope.v1+json']), undefined)).toBe(true);
    expect(isEvidenceManifest(manifest(['text/spdx+json']), `sha256-${'a'.repeat(64)}.sbom`)).toBe(true);
    expect(
      isEvidenceManifest(
        manifest(['application/vnd.dev.sigstore.bundle.v0.3+json'], { subject: descriptor('application/vnd.oci.image.manifest.v1+json') }),
        undefined,
      ),
    ).toBe(true);
    // Under an attachment tag, any layer that is not a filesystem passes (cosign attach uses custom types).
    expect(isEvidenceManifest(manifest(['application/vnd.example.custom']), `sha256-${'a'.repeat(64)}.att`)).toBe(true);
  });

  it('takes an index only under the referrers tag', () => {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }));
    expect(isEvidenceManifest(index, referrersTag)).toBe(true);
    expect(isEvidenceManifest(index, undefined)).toBe(false);
    expect(isEvidenceManifest(index, 'latest')).toBe(false);
  });

  it('never takes a manifest with a filesystem layer, whatever its tag or subject', () => {
    for (const layer of [
      'application/vnd.oci.image.layer.v1.tar+gzip',
      'application/vnd.docker.image.rootfs.diff.tar.gzip',
      'application/vnd.oci.image.layer.v1.tar',
    ]) {
      expect(isEvidenceManifest(manifest([layer]), sigTag)).toBe(false);
      expect(isEvidenceManifest(manifest([layer], { subject: descriptor('application/vnd.oci.image.manifest.v1+json') }), undefined)).toBe(false);
      expect(isEvidenceManifest(manifest(['application/vnd.dev.cosign.simplesigning.v1+json', layer]), undefined)).toBe(false);
    }
  });

  it('refuses what is not a manifest, and layers without a media type', () => {
    expect(isEvidenceManifest(Buffer.from('not json'), sigTag)).toBe(false);
    expect(isEvidenceManifest(Buffer.from('[]'), sigTag)).toBe(false);
    expect(isEvidenceManifest(Buffer.from(JSON.stringify({ layers: [{ digest }] })), sigTag)).toBe(false);
    expect(isEvidenceManifest(manifest(['application/vnd.example.custom']), undefined)).toBe(false);
    expect(isEvidenceManifest(manifest([]), undefined)).toBe(false);
  });
});
