// Which manifests are evidence about an image (signatures, attestations, SBOMs, referrers lists) rather than an image.
//
// Evidence is served in a signature policy's repository without a signature of its own, so that
// `cosign verify` and `cosign download` work through the mirror. What may pass as evidence is narrow:
// a manifest with a filesystem layer is never evidence (a runtime could run it), whatever tag it is under.
import { isObject, parseJson } from './bounded-input.js';
import { parseAttachmentTag, parseReferrersTag } from './cosign-tags.js';

import { maxManifestBytes } from '../oci/media-types.js';

/** Layer media types runtimes unpack into a root filesystem (OCI image-spec layer.md, Docker image manifest v2.2). */
const filesystemLayer = /^application\/vnd\.(oci\.image\.layer\.|docker\.image\.rootfs\.)/;

/**
 * Layer media types of what cosign attaches: simple-signing payloads, DSSE envelopes (`cosign attest`),
 * Sigstore bundles, in-toto statements, SBOMs (`cosign attach sbom`: SPDX, CycloneDX, Syft) and the empty descriptor.
 */
const evidenceLayer =
  /^(application\/vnd\.dev\.cosign\.|application\/vnd\.dsse\.envelope\.|application\/vnd\.dev\.sigstore\.bundle|application\/vnd\.in-toto|text\/spdx|application\/spdx|application\/vnd\.cyclonedx|application\/vnd\.syft\+json|application\/vnd\.oci\.empty\.v1\+json)/;

/**
 * Whether `body` (a manifest as served) is evidence: a manifest without filesystem layers that is
 * under a `.sig`/`.att`/`.sbom` tag, names a `subject` (an OCI 1.1 referrer), or has only evidence
 * layers (a `.sig` manifest fetched by digest); or an index under the referrers tag `sha256-<hex>`.
 */
export function isEvidenceManifest(body: Buffer, tag: string | undefined): boolean {
  const parsed = parseJson(body, maxManifestBytes);
  if (!parsed.ok || !isObject(parsed.value)) return false;
  const manifest = parsed.value;
  if (Array.isArray(manifest.manifests)) return tag !== undefined && parseReferrersTag(tag) !== undefined && manifest.layers === undefined;
  if (!Array.isArray(manifest.layers)) return false;
  const types = manifest.layers.map((layer) => (isObject(layer) && typeof layer.mediaType === 'string' ? layer.mediaType : ''));
  if (types.some((type) => type === '' || filesystemLayer.test(type))) return false;
  if (tag !== undefined && parseAttachmentTag(tag) !== undefined) return true;
  if (isObject(manifest.subject)) return true;
  return types.length > 0 && types.every((type) => evidenceLayer.test(type));
}
