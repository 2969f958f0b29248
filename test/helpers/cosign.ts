// Signs images the way cosign does, byte for byte where it matters, and pushes the signatures to a real registry.
//
// What is reproduced, and from where (sigstore/cosign v3, go-containerregistry, sigstore-go):
// - keys (cosign-keys.ts): `cosign generate-key-pair` makes ECDSA P-256 and writes cosign.pub as a PEM "PUBLIC KEY";
// - classic: payload = json.Marshal(payload.SimpleContainerImage) (sigstore/sigstore pkg/signature/payload),
//   `optional` null without -a; signature = ECDSA-SHA256 ASN.1 over the payload, base64 in the layer
//   annotation dev.cosignproject.cosign/signature; the signature image is ggcr's empty image with OCI
//   media types plus one appended layer per signature (cosign pkg/oci/empty, pkg/oci/mutate), pushed to
//   the tag `sha256-<hex>.sig`, appending to the signatures already there;
// - bundle: in-toto Statement v1 {subject:[{digest:{sha256},annotations:{}}], predicateType
//   https://sigstore.dev/cosign/sign/v1, predicate:{}} (cmd/cosign/cli/sign/sign.go signDigestBundle),
//   DSSE-signed over the PAE, bundle v0.3 with publicKey.hint = base64(sha256(DER SPKI))
//   (internal/key/svkeypair.go); referrer manifest = OCI manifest, empty `{}` config with
//   artifactType, one bundle layer, annotations created/content/predicateType, subject = the image
//   descriptor from a HEAD, artifactType last (pkg/oci/remote/write.go WriteReferrer), pushed by digest;
// - registries without a referrers API (Debian's distribution 2.8): the `sha256-<hex>` index that
//   go-containerregistry maintains (pkg/v1/remote/write.go commitSubjectReferrers): entries
//   {mediaType,size,digest,artifactType}, sorted by digest, no annotations.
// JSON is written in Go's field order; Go also escapes <, > and & in strings, which no value here contains.
import { keyHint, signBytes, type SigningKey } from './cosign-keys.js';
import { pushBlob, pushManifest, sha256, type Blob, type RegistryTarget } from './images.js';

export const cosignTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  simpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  bundle: 'application/vnd.dev.sigstore.bundle.v0.3+json',
  inToto: 'application/vnd.in-toto+json',
  signPredicate: 'https://sigstore.dev/cosign/sign/v1',
  signatureAnnotation: 'dev.cosignproject.cosign/signature',
} as const;

// ---- classic format ----

/** The simple-signing payload cosign signs for `<dockerReference>@<digest>`. */
export function simpleSigningPayload(dockerReference: string, digest: string, optional: Record<string, string> | null = null): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' },
      optional,
    }),
  );
}

export interface SignatureLayer {
  payload: Blob;
  annotations: Record<string, string>;
}

/** One classic signature layer: the payload blob and its annotations (signature first, as Go sorts map keys). */
export function signatureLayer(key: SigningKey, payload: Buffer, extraAnnotations: Record<string, string> = {}): SignatureLayer {
  const signature = signBytes(key, payload, 'classic').toString('base64');
  const annotations = sortedKeys({ [cosignTypes.signatureAnnotation]: signature, ...extraAnnotations });
  return { payload: blob(payload, cosignTypes.simpleSigning), annotations };
}

/** The config and manifest of a signature image holding `layers`, as ggcr's mutate.Append writes them. */
export function signatureImage(layers: readonly SignatureLayer[]): { config: Blob; manifest: Buffer } {
  const zeroTime = '0001-01-01T00:00:00Z';
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture: '',
        created: zeroTime,
        history: layers.map(() => ({ created: zeroTime })),
        os: '',
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.payload.digest) },
        config: {},
      }),
    ),
    cosignTypes.ociConfig,
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: cosignTypes.ociManifest,
      config: { mediaType: config.mediaType, size: config.size, digest: config.digest },
      layers: layers.map((l) => ({ mediaType: l.payload.mediaType, size: l.payload.size, digest: l.payload.digest, annotations: l.annotations })),
    }),
  );
  return { config, manifest };
}

export interface ClassicSignature {
  tag: string;
  manifest: Buffer;
  manifestDigest: string;
  /** The layer this call added (the last one in the manifest). */
  layer: SignatureLayer;
}

export interface ClassicOptions {
  /** The digest the payload names (default: the one signed); another digest makes a "payload names another digest" signature. */
  claimedDigest?: string;
  /** Break the signature after signing: alter the payload bytes, or the signature annotation. */
  tamper?: 'payload' | 'signature';
}

/** `cosign sign --key` in the classic format: appends one signature layer to the `sha256-<hex>.sig` tag. */
export async function signClassic(
  reg: RegistryTarget & { host: string },
  repository: string,
  digest: string,
  key: SigningKey,
  opts: ClassicOptions = {},
): Promise<ClassicSignature> {
  const signed = simpleSigningPayload(`${reg.host}/${repository}`, opts.claimedDigest ?? digest);
  let layer = signatureLayer(key, signed);
  if (opts.tamper === 'payload') {
    // Same document, one byte more: still valid JSON naming the same digest, no longer the signed bytes.
    layer = { ...layer, payload: blob(Buffer.concat([signed, Buffer.from(' ')]), cosignTypes.simpleSigning) };
  } else if (opts.tamper === 'signature') {
    const bytes = Buffer.from(layer.annotations[cosignTypes.signatureAnnotation]!, 'base64');
    bytes[bytes.length - 1]! ^= 0x01;
    layer = { ...layer, annotations: { ...layer.annotations, [cosignTypes.signatureAnnotation]: bytes.toString('base64') } };
  }

  const tag = `${digest.replace(':', '-')}.sig`;
  const layers = [...(await existingSignatureLayers(reg, repository, tag)), layer];
  const { config, manifest } = signatureImage(layers);
  await pushBlob(reg, repository, layer.payload);
  await pushBlob(reg, repository, config);
  const manifestDigest = await pushManifest(reg, repository, tag, manifest, cosignTypes.ociManifest);
  return { tag, manifest, manifestDigest, layer };
}

/** The layers of the signature image already under `tag` (cosign appends to them); their blobs are already pushed. */
async function existingSignatureLayers(reg: RegistryTarget, repository: string, tag: string): Promise<SignatureLayer[]> {
  const res = await fetch(`${reg.url}/v2/${repository}/manifests/${tag}`, { headers: authorization(reg, { accept: cosignTypes.ociManifest }) });
  if (res.status === 404) {
    await res.arrayBuffer();
    return [];
  }
  if (res.status !== 200) throw new Error(`GET ${repository}:${tag}: ${res.status} ${await res.text()}`);
  const manifest = (await res.json()) as { layers: Array<{ mediaType: string; size: number; digest: string; annotations?: Record<string, string> }> };
  return manifest.layers.map((l) => ({
    payload: { mediaType: l.mediaType, size: l.size, digest: l.digest, bytes: Buffer.alloc(0) },
    annotations: l.annotations ?? {},
  }));
}

// ---- bundle format ----

/** The statement `cosign sign --new-bundle-format` signs for `digest`. */
export function signStatement(digest: string): Buffer {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ digest: { [algorithm]: hex }, annotations: {} }],
      predicateType: cosignTypes.signPredicate,
      predicate: {},
    }),
  );
}

/** DSSE pre-authentication encoding (DSSE protocol.md): what the envelope signature covers. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `), payload]);
}

/** A v0.3 bundle holding `statement` signed with `key`, serialised as protojson does (field-number order). */
export function sigstoreBundle(key: SigningKey, statement: Buffer, signed: Buffer = statement): Buffer {
  const signature = signBytes(key, preAuthEncoding(cosignTypes.inToto, signed), 'dsse');
  return Buffer.from(
    JSON.stringify({
      mediaType: cosignTypes.bundle,
      verificationMaterial: { publicKey: { hint: keyHint(key) } },
      dsseEnvelope: { payload: statement.toString('base64'), payloadType: cosignTypes.inToto, signatures: [{ sig: signature.toString('base64') }] },
    }),
  );
}

export interface SubjectDescriptor {
  mediaType: string;
  size: number;
  digest: string;
}

export interface BundleSignature {
  bundle: Blob;
  manifest: Buffer;
  manifestDigest: string;
  /** The referrers fallback tag the index was written under, when the registry has no referrers API. */
  fallbackTag?: string;
}

export interface BundleOptions {
  /** The digest the statement names (default: the subject's). */
  claimedDigest?: string;
  /** Break the bundle after signing: alter the statement, or the signature. */
  tamper?: 'payload' | 'signature';
  /** org.opencontainers.image.created (default: now, RFC 3339 in seconds as Go's time.RFC3339). */
  created?: string;
}

/** What `cosign sign --new-bundle-format` writes for a subject: the bundle, the empty config and the referrer manifest. */
export interface BundleReferrer {
  bundle: Blob;
  config: Blob;
  manifest: Buffer;
  manifestDigest: string;
  /** The descriptor a referrers list names it by. */
  descriptor: { mediaType: string; size: number; digest: string; artifactType: string };
}

/** The referrer cosign pushes for `subject`, built without a registry (for an upstream that is not distribution). */
export function bundleReferrer(subject: SubjectDescriptor, key: SigningKey, opts: BundleOptions = {}): BundleReferrer {
  const statement = signStatement(opts.claimedDigest ?? subject.digest);
  let bundleBytes = sigstoreBundle(key, statement);
  if (opts.tamper === 'payload') {
    const altered = Buffer.from(statement.toString().replace('"predicate":{}', '"predicate":{"tampered":true}'));
    bundleBytes = sigstoreBundle(key, altered, statement);
  } else if (opts.tamper === 'signature') {
    const parsed = JSON.parse(bundleBytes.toString()) as { dsseEnvelope: { signatures: Array<{ sig: string }> } };
    const sig = Buffer.from(parsed.dsseEnvelope.signatures[0]!.sig, 'base64');
    sig[sig.length - 1]! ^= 0x01;
    parsed.dsseEnvelope.signatures[0]!.sig = sig.toString('base64');
    bundleBytes = Buffer.from(JSON.stringify(parsed));
  }
  const bundle = blob(bundleBytes, cosignTypes.bundle);
  const config = blob(Buffer.from('{}'), cosignTypes.ociConfig);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: cosignTypes.ociManifest,
      config: { mediaType: cosignTypes.ociEmpty, size: config.size, digest: config.digest, artifactType: cosignTypes.bundle },
      layers: [{ mediaType: bundle.mediaType, size: bundle.size, digest: bundle.digest }],
      annotations: {
        'dev.sigstore.bundle.content': 'dsse-envelope',
        'dev.sigstore.bundle.predicateType': cosignTypes.signPredicate,
        'org.opencontainers.image.created': opts.created ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      },
      subject: { mediaType: subject.mediaType, size: subject.size, digest: subject.digest },
      artifactType: cosignTypes.bundle,
    }),
  );
  const manifestDigest = sha256(manifest);
  const descriptor = { mediaType: cosignTypes.ociManifest, size: manifest.length, digest: manifestDigest, artifactType: cosignTypes.bundle };
  return { bundle, config, manifest, manifestDigest, descriptor };
}

/** `cosign sign --key` with the new bundle format: pushes the bundle as a referrer of the image. */
export async function signBundle(reg: RegistryTarget, repository: string, digest: string, key: SigningKey, opts: BundleOptions = {}): Promise<BundleSignature> {
  const subject = await headManifest(reg, repository, digest);
  const { bundle, config, manifest, manifestDigest, descriptor } = bundleReferrer(subject, key, opts);
  await pushBlob(reg, repository, config);
  await pushBlob(reg, repository, bundle);
  await pushManifest(reg, repository, manifestDigest, manifest, cosignTypes.ociManifest);
  const fallbackTag = await recordReferrer(reg, repository, digest, descriptor);
  return { bundle, manifest, manifestDigest, ...(fallbackTag ? { fallbackTag } : {}) };
}

/** The descriptor cosign takes the subject from: a HEAD of the image by digest. */
export async function headManifest(reg: RegistryTarget, repository: string, digest: string): Promise<SubjectDescriptor> {
  const accept = [
    cosignTypes.ociManifest,
    cosignTypes.ociIndex,
    'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
  ];
  const res = await fetch(`${reg.url}/v2/${repository}/manifests/${digest}`, { method: 'HEAD', headers: authorization(reg, { accept: accept.join(', ') }) });
  if (res.status !== 200) throw new Error(`HEAD ${repository}@${digest}: ${res.status}`);
  return { mediaType: res.headers.get('content-type') ?? '', size: Number(res.headers.get('content-length')), digest };
}

/**
 * What ggcr does after pushing a manifest with a subject: if GET /referrers answers 200 the registry
 * keeps the list; otherwise (404/400) it adds the descriptor to the `sha256-<hex>` index. Returns the tag written.
 */
async function recordReferrer(reg: RegistryTarget, repository: string, subject: string, descriptor: Record<string, unknown> & { digest: string }) {
  const referrers = await fetch(`${reg.url}/v2/${repository}/referrers/${subject}`, { headers: authorization(reg, { accept: cosignTypes.ociIndex }) });
  await referrers.arrayBuffer();
  if (referrers.status === 200) return undefined;
  if (referrers.status !== 404 && referrers.status !== 400) throw new Error(`GET referrers of ${subject}: ${referrers.status}`);

  const tag = subject.replace(':', '-');
  const res = await fetch(`${reg.url}/v2/${repository}/manifests/${tag}`, { headers: authorization(reg, { accept: cosignTypes.ociIndex }) });
  let manifests: Array<{ digest: string }> = [];
  if (res.status === 200) {
    manifests = ((await res.json()) as { manifests: Array<{ digest: string }> }).manifests;
  } else {
    await res.arrayBuffer();
    if (res.status !== 404) throw new Error(`GET ${repository}:${tag}: ${res.status}`);
  }
  if (manifests.some((m) => m.digest === descriptor.digest)) return tag;
  manifests = [...manifests, descriptor].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: cosignTypes.ociIndex, manifests }));
  await pushManifest(reg, repository, tag, index, cosignTypes.ociIndex);
  return tag;
}

// ---- small parts ----

function blob(bytes: Buffer, mediaType: string): Blob {
  return { digest: sha256(bytes), size: bytes.length, mediaType, bytes };
}

function sortedKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function authorization(reg: RegistryTarget, extra: Record<string, string>): Record<string, string> {
  if (!reg.auth) return extra;
  return { authorization: `Basic ${Buffer.from(`${reg.auth.username}:${reg.auth.password}`).toString('base64')}`, ...extra };
}
