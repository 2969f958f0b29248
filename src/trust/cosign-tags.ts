// Tag names that carry evidence about a digest: cosign's attachment tags and the OCI referrers fallback tag.

/** What cosign attaches under a tag next to the image: signatures, attestations, SBOMs. */
export type AttachmentKind = 'sig' | 'att' | 'sbom';

const attachmentTagPattern = /^(sha256|sha512)-([a-f0-9]{64}|[a-f0-9]{128})\.(sig|att|sbom)$/;
const referrersTagPattern = /^sha256-([a-f0-9]{64})$/;

/** `sha256-<hex>.sig` and friends (cosign pkg/oci/remote/remote.go normalize: `<alg>-<hex>.<suffix>`). */
export function attachmentTag(digest: string, kind: AttachmentKind): string {
  return `${digest.replace(':', '-')}.${kind}`;
}

/** The digest and kind an attachment tag names, or undefined for any other tag. */
export function parseAttachmentTag(tag: string): { digest: string; kind: AttachmentKind } | undefined {
  const match = attachmentTagPattern.exec(tag);
  if (!match) return undefined;
  const [, algorithm = '', hex = '', kind] = match;
  if (hex.length !== (algorithm === 'sha256' ? 64 : 128)) return undefined;
  return { digest: `${algorithm}:${hex}`, kind: kind as AttachmentKind };
}

/**
 * The tag of the referrers index a client keeps when the registry has no referrers API
 * (distribution-spec "Referrers Tag Schema": `<alg>-<ref>`, alg cut to 32 and ref to 64 characters).
 * go-containerregistry, and so cosign, writes and reads it (pkg/v1/remote/referrers.go fallbackTag).
 */
export function referrersTag(digest: string): string {
  const [algorithm = '', hex = ''] = digest.split(':');
  return `${algorithm.slice(0, 32)}-${hex.slice(0, 64)}`;
}

/** The sha256 digest a referrers fallback tag stands for (sha512 tags are truncated and name no digest). */
export function parseReferrersTag(tag: string): string | undefined {
  const match = referrersTagPattern.exec(tag);
  return match ? `sha256:${match[1]}` : undefined;
}
