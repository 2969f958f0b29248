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
