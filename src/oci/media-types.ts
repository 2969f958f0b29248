// Manifest media types and the Accept list a mirror sends when a client gave none.

export const mediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifestV1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerManifestV1: 'application/vnd.docker.distribution.manifest.v1+json',
} as const;

/** What containerd sends when resolving; used upstream when the client sent no Accept. */
export const defaultManifestAccept = [mediaTypes.dockerManifest, mediaTypes.dockerManifestList, mediaTypes.ociManifest, mediaTypes.ociIndex, '*/*'].join(', ');

const pullableTypes: ReadonlySet<string> = new Set([mediaTypes.ociManifest, mediaTypes.ociIndex, mediaTypes.dockerManifest, mediaTypes.dockerManifestList]);

/**
 * The Accept header to send upstream for a client's: only the manifest types a mirror serves, or the
 * full list when none are left. Forwarding anything else lets a client make a registry down-convert to
 * signed schema 1 (whose digest covers other bytes) or refuse OCI content for a bare "*\/*".
 */
export function upstreamAccept(clientAccept: string | undefined): string {
  const wanted = parseAccept(clientAccept).filter((type) => pullableTypes.has(type));
  return wanted.length > 0 ? wanted.join(', ') : defaultManifestAccept;
}

/**
 * Whether an answer for this Accept is what every client would get: it admits all four manifest
 * types (or leaves the choice to the registry). Only such answers may become a tag's shared record;
 * a client that takes no index would otherwise pin one platform's manifest for everyone.
 */
export function acceptsEveryManifestType(clientAccept: string | undefined): boolean {
  const wanted = new Set(parseAccept(clientAccept).filter((type) => pullableTypes.has(type)));
  return wanted.size === 0 || wanted.size === pullableTypes.size;
}

/** Manifests are read into memory, so they are capped (containerd uses the same 4 MiB limit). */
export const maxManifestBytes = 4 * 1024 * 1024;

/** Media types listed in an Accept header, without parameters (q-values are ignored: registries do). */
export function parseAccept(header: string | undefined): string[] {
  if (!header) return [];
  return header
    .split(',')
    .map((part) => part.split(';')[0]!.trim().toLowerCase())
    .filter((part) => part.length > 0);
}

/** Whether a stored manifest of `mediaType` may answer a client that sent `accept`. */
export function accepts(accept: readonly string[], mediaType: string): boolean {
  if (accept.length === 0) return true;
  const type = mediaType.toLowerCase();
  return accept.some((a) => a === type || a === '*/*' || (a.endsWith('/*') && type.startsWith(a.slice(0, -1))));
}

/** Media types a manifest is stored and served as: the pullable four, schema 1, and OCI 1.1-rc artifact manifests. */
const manifestTypes: ReadonlySet<string> = new Set([
  ...pullableTypes,
  mediaTypes.dockerManifestV1Signed,
  mediaTypes.dockerManifestV1,
  'application/vnd.oci.artifact.manifest.v1+json',
]);

export function isManifestMediaType(type: string | undefined): boolean {
  return type !== undefined && manifestTypes.has(type.toLowerCase());
}

/**
 * The type to store and serve an upstream manifest as, or undefined when the body is no manifest.
 * A registry's Content-Type is taken when it names a manifest type (distribution serves the type the
 * manifest was pushed with); otherwise the document's own `mediaType`, or what its shape says. A body
 * that is not a JSON object with a manifest's schemaVersion and fields is no manifest, whatever its
 * label: an HTML error page answered with 200 must not be cached under a digest.
 */
export function manifestMediaType(body: Buffer, contentType: string | undefined): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const doc = parsed as {
    schemaVersion?: unknown;
    mediaType?: unknown;
    manifests?: unknown;
    config?: unknown;
    layers?: unknown;
    fsLayers?: unknown;
    signatures?: unknown;
    blobs?: unknown;
  };
  const labelled = isManifestMediaType(contentType) ? contentType!.toLowerCase() : undefined;
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  // A body that names itself as something else is not a manifest, whatever the header says.
  if (doc.mediaType !== undefined && !isManifestMediaType(declared)) return undefined;
  if (doc.schemaVersion === 1) {
    if (!Array.isArray(doc.fsLayers)) return undefined;
    return labelled ?? (Array.isArray(doc.signatures) ? mediaTypes.dockerManifestV1Signed : mediaTypes.dockerManifestV1);
  }
  // OCI 1.1 release candidates had artifact manifests without schemaVersion.
  if (declared === 'application/vnd.oci.artifact.manifest.v1+json' && Array.isArray(doc.blobs ?? [])) return labelled ?? declared;
  if (doc.schemaVersion !== 2) return undefined;
  const index = Array.isArray(doc.manifests);
  const image = (doc.config !== null && typeof doc.config === 'object') || Array.isArray(doc.layers);
  if (!index && !image) return undefined;
  return labelled ?? declared ?? (index ? mediaTypes.ociIndex : mediaTypes.ociManifest);
}

/** The media type a manifest declares in its own body, when the upstream's Content-Type is missing or generic. */
export function declaredMediaType(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { mediaType?: unknown; schemaVersion?: unknown; manifests?: unknown };
    if (typeof parsed.mediaType === 'string') return parsed.mediaType;
    if (parsed.schemaVersion === 1) return mediaTypes.dockerManifestV1Signed;
    if (Array.isArray(parsed.manifests)) return mediaTypes.ociIndex;
    return mediaTypes.ociManifest;
  } catch {
    return undefined;
  }
}
