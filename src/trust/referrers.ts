// Signature candidates among an image's referrers, and the bundle layer of one bundle referrer.
//
// The referrers list is an OCI image index (distribution-spec "Listing Referrers"), either the answer
// of GET /v2/<name>/referrers/<digest> or the index under the `sha256-<hex>` fallback tag. Its entries
// are the referrer manifests' descriptors with their artifactType; the referrers API adds the
// manifests' annotations, the fallback tag index written by go-containerregistry does not
// (pkg/v1/remote/write.go commitSubjectReferrers), so an entry without annotations stays a candidate.
import { maxManifestBytes, mediaTypes } from '../oci/media-types.js';
import { clip, isDigestString, isObject, isSha256Digest, isSize, parseJson, stringEntries } from './bounded-input.js';
import type { FailureReason } from './signature-check.js';
import { cosignSignPredicateType, signatureAnnotations, signatureLimits, signatureMediaTypes, type SignatureFormat } from './signature-formats.js';

export interface SignatureCandidate {
  /** Digest of the referrer manifest to fetch. */
  readonly digest: string;
  readonly size: number;
  readonly artifactType: string;
  readonly format: SignatureFormat;
}

export type Candidates =
  | {
      readonly ok: true;
      readonly candidates: readonly SignatureCandidate[];
      /** Referrers that are not signatures (attestations, SBOMs, other artifacts). */
      readonly others: number;
      /** Signature candidates past the limit, counted and dropped. */
      readonly omitted: number;
    }
  | { readonly ok: false; readonly reason: 'too-large' | 'malformed'; readonly detail: string };

export interface BundleLayer {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
}

export type BundleLayerResult =
  { readonly ok: true; readonly layer: BundleLayer } | { readonly ok: false; readonly reason: FailureReason; readonly detail: string };

const bundleArtifactTypes: ReadonlySet<string> = new Set([signatureMediaTypes.bundleV03, signatureMediaTypes.bundleV03Legacy]);

/**
 * Picks the referrers that may be signatures: Sigstore bundles whose predicate (when the entry names
 * it) is cosign's signature predicate, and cosign `artifact.sig` manifests. Only the candidates are kept,
 * at most `limit` of them, so a list of 10,000 entries costs its parse and no more.
 */
export function signatureCandidates(index: Buffer, limit: number = signatureLimits.referrerCandidates): Candidates {
  const parsed = parseJson(index, maxManifestBytes);
  if (!parsed.ok) return { ok: false, reason: parsed.tooLarge ? 'too-large' : 'malformed', detail: `referrers index: ${parsed.problem}` };
  const manifests = isObject(parsed.value) ? parsed.value.manifests : undefined;
  if (!Array.isArray(manifests)) return { ok: false, reason: 'malformed', detail: 'referrers index has no manifests array' };

  const candidates: SignatureCandidate[] = [];
  const seen = new Set<string>();
  let others = 0;
  let omitted = 0;
  for (const entry of manifests) {
    const candidate = candidateOf(entry);
    if (!candidate) {
      others++;
    } else if (!seen.has(candidate.digest)) {
      seen.add(candidate.digest);
      if (candidates.length < limit) candidates.push(candidate);
      else omitted++;
    }
  }
  return { ok: true, candidates, others, omitted };
}

function candidateOf(entry: unknown): SignatureCandidate | undefined {
  if (!isObject(entry) || entry.mediaType !== mediaTypes.ociManifest) return undefined;
  const { digest, size, artifactType } = entry;
  if (!isDigestString(digest) || !isSize(size) || size > maxManifestBytes || typeof artifactType !== 'string') return undefined;
  if (artifactType === signatureMediaTypes.cosignSignatureArtifact) return { digest, size, artifactType, format: 'simple-signing' };
  if (!bundleArtifactTypes.has(artifactType)) return undefined;
  // Attestation bundles share the artifactType; the referrers API tells them apart by this annotation.
  const predicateType = stringEntries(entry.annotations)[signatureAnnotations.bundlePredicateType];
  if (predicateType !== undefined && predicateType !== cosignSignPredicateType) return undefined;
  return { digest, size, artifactType, format: 'sigstore-bundle' };
}

/**
 * The one bundle layer of a bundle referrer manifest (cosign pkg/oci/remote/write.go WriteReferrer;
 * cosign reads exactly one layer, pkg/oci/remote/signatures.go Bundle). The manifest's subject must be
 * the image being verified: a referrer listed under another image is not evidence for this one.
 */
export function referrerBundleLayer(manifest: Buffer, subjectDigest: string): BundleLayerResult {
  const fail = (reason: FailureReason, detail: string): BundleLayerResult => ({ ok: false, reason, detail });
  const parsed = parseJson(manifest, maxManifestBytes);
  if (!parsed.ok) return fail(parsed.tooLarge ? 'too-large' : 'malformed', `bundle referrer manifest: ${parsed.problem}`);
  if (!isObject(parsed.value)) return fail('malformed', 'bundle referrer manifest is not a JSON object');
  const { subject, layers, config, annotations } = parsed.value;

  const subjectDigestNamed = isObject(subject) ? subject.digest : undefined;
  if (subjectDigestNamed !== subjectDigest) {
    return fail(
      'digest-mismatch',
      `bundle referrer's subject is ${typeof subjectDigestNamed === 'string' ? clip(subjectDigestNamed) : 'missing'}, not ${subjectDigest}`,
    );
  }
  const artifactType = artifactTypeOf(parsed.value.artifactType, config);
  if (typeof artifactType !== 'string' || !bundleArtifactTypes.has(artifactType)) {
    return fail('wrong-type', `referrer artifactType "${clip(String(artifactType))}" is not a Sigstore bundle`);
  }
  const predicateType = stringEntries(annotations)[signatureAnnotations.bundlePredicateType];
  if (predicateType !== undefined && predicateType !== cosignSignPredicateType) {
    return fail('wrong-type', `an attestation (predicateType "${clip(predicateType)}"), not a signature`);
  }
  if (!Array.isArray(layers) || layers.length !== 1) return fail('malformed', 'a bundle referrer has exactly one layer');
  const layer: unknown = layers[0];
  if (!isObject(layer) || typeof layer.mediaType !== 'string' || !layer.mediaType.startsWith('application/vnd.dev.sigstore.bundle')) {
    return fail('wrong-type', 'the referrer layer is not a Sigstore bundle');
  }
  if (!isSha256Digest(layer.digest) || !isSize(layer.size)) return fail('malformed', 'the bundle layer has no valid sha256 digest and size');
  if (layer.size > signatureLimits.bundleBytes) return fail('too-large', `the bundle layer is ${layer.size} bytes, more than ${signatureLimits.bundleBytes}`);
  return { ok: true, layer: { digest: layer.digest, size: layer.size, mediaType: layer.mediaType } };
}

/**
 * A manifest's artifactType, else its config's media type (OCI image-spec 1.1 manifest.md), unless that
 * is the empty descriptor, where cosign also sets the config descriptor's own artifactType.
 */
function artifactTypeOf(artifactType: unknown, config: unknown): unknown {
  if (typeof artifactType === 'string') return artifactType;
  if (!isObject(config)) return undefined;
  return config.mediaType === signatureMediaTypes.ociEmpty ? config.artifactType : config.mediaType;
}
