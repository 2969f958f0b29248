// The names and limits of the two cosign signature formats, as cosign v2/v3 write them.
//
// Sources (sigstore/cosign at v3, checked July 2026):
// - classic: pkg/types/media.go (SimpleSigningMediaType), pkg/oci/static/signature.go (annotation keys),
//   sigstore/sigstore pkg/signature/payload/payload.go (the simple-signing document, CosignSignatureType);
// - bundle: pkg/cosign/bundle/constants.go (BundleV03MediaType), pkg/types/predicate.go
//   (CosignSignPredicateType), cmd/cosign/cli/sign/sign.go signDigestBundle (in-toto Statement v1 with
//   one subject {digest:{sha256:hex}}), pkg/oci/remote/write.go WriteAttestationNewBundleFormat and
//   WriteReferrer (the referrer manifest and its annotations);
// - `--registry-referrers-mode=oci-1-1` without bundles: internal/pkg/oci/remote/remote.go ArtifactType("sig").

export const signatureMediaTypes = {
  /** Layer media type of a classic signature payload (`sha256-<hex>.sig` tag). */
  simpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  /** artifactType of the referrer manifest and media type of its one layer (cosign v3 `--new-bundle-format`). */
  bundleV03: 'application/vnd.dev.sigstore.bundle.v0.3+json',
  /** The same bundle version in the older spelling cosign still reads (cmd/cosign/cli/bundle/inspect.go). */
  bundleV03Legacy: 'application/vnd.dev.sigstore.bundle+json;version=0.3',
  /** artifactType of a referrer carrying simple-signing layers (cosign v2 `--registry-referrers-mode=oci-1-1`). */
  cosignSignatureArtifact: 'application/vnd.dev.cosign.artifact.sig.v1+json',
  /** Config media type of bundle referrers (the two bytes `{}`), OCI image-spec "Guidance for an Empty Descriptor". */
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  /** DSSE payloadType of an in-toto statement. */
  inTotoPayload: 'application/vnd.in-toto+json',
} as const;

export const signatureAnnotations = {
  /** Base64 signature over the simple-signing payload bytes, on each classic layer. */
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  /** Rekor bundle (SignedEntryTimestamp + entry) of a classic signature uploaded to a transparency log. */
  rekorBundle: 'dev.sigstore.cosign/bundle',
  rfc3161Timestamp: 'dev.sigstore.cosign/rfc3161timestamp',
  /** On bundle referrer manifests: `dsse-envelope`. */
  bundleContent: 'dev.sigstore.bundle.content',
  /** On bundle referrer manifests: the statement's predicateType (signatures and attestations share the artifactType). */
  bundlePredicateType: 'dev.sigstore.bundle.predicateType',
} as const;

/** `critical.type` of a cosign simple-signing payload. */
export const cosignSignatureType = 'cosign container image signature';

/** predicateType of the statement `cosign sign` puts in a bundle; any other predicate is an attestation. */
export const cosignSignPredicateType = 'https://sigstore.dev/cosign/sign/v1';

/** in-toto Statement `_type`s: v1 is what cosign writes; v0.1 is what older in-toto tooling writes. */
export const inTotoStatementTypes: ReadonlySet<string> = new Set(['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1']);

/**
 * Caps on everything read into memory. cosign payloads are a few hundred bytes (a few KiB with `-a`
 * annotations); a key-signed bundle is ~1.5 KiB, a keyless one with certificate, Rekor entry and
 * inclusion proof ~10 KiB. cosign itself stops at 1000 layers per signature image
 * (pkg/oci/mutate/signatures.go maxLayers).
 */
export const signatureLimits = {
  payloadBytes: 256 * 1024,
  bundleBytes: 1024 * 1024,
  /** Base64 text of one signature: RSA-4096 is 684 characters, ECDSA P-521 DER ~188. */
  signatureChars: 4096,
  signatureLayers: 1000,
  /** Signature candidates kept from one referrers list; the rest are counted, not kept. */
  referrerCandidates: 128,
} as const;

export type SignatureFormat = 'simple-signing' | 'sigstore-bundle';
