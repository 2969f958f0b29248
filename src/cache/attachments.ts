// What is attached to an image's digests: cosign's `.sig`/`.att`/`.sbom` tags, the referrers tag index, and referrers.
//
// `tender seed` fetches and pins them with the image, `tender export` writes them into the archive and
// `tender import` records them, so an offline tender can verify (and serve to cosign) what it imported.
// Each attachment tag is an image of its own to the walk (a `.sig` manifest and its payloads; the
// referrers tag index and every referrer manifest it lists, with their blobs).
import { isOciError } from '../oci/errors.js';
import { attachmentTag, referrersTag, type AttachmentKind } from '../trust/cosign-tags.js';
import { isDigestString, isObject, parseJson } from '../trust/bounded-input.js';
import { maxManifestBytes } from '../oci/media-types.js';

export interface AttachmentLookup {
  /** Whether the tag exists (cached only, or asked upstream); throws for an outage. */
  hasTag(tag: string): Promise<boolean>;
  /** The referrers API's answer for `digest` (an image index), or undefined when there is none or it is not asked. */
  referrers(digest: string): Promise<Buffer | undefined>;
}

export interface FoundAttachments {
  /** Attachment tags that exist, each to be walked as an image. */
  readonly tags: readonly string[];
  /** Referrer manifests the referrers API lists (not reachable through a tag), by digest. */
  readonly referrers: readonly string[];
}

const kinds: readonly AttachmentKind[] = ['sig', 'att', 'sbom'];

/** Referrer manifests carried per digest at most: a list of 10,000 is a mistake or an attack, not evidence to copy. */
export const maxCarriedReferrers = 256;

export async function findAttachments(lookup: AttachmentLookup, digests: readonly string[]): Promise<FoundAttachments> {
  const tags: string[] = [];
  const referrers = new Set<string>();
  for (const digest of new Set(digests)) {
    for (const tag of [...kinds.map((kind) => attachmentTag(digest, kind)), referrersTag(digest)]) {
      if (await exists(() => lookup.hasTag(tag))) tags.push(tag);
    }
    const index = await lookup.referrers(digest).catch((err: unknown) => {
      if (isOciError(err) && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN')) return undefined;
      throw err;
    });
    for (const listed of index ? listedDigests(index).slice(0, maxCarriedReferrers) : []) referrers.add(listed);
  }
  return { tags, referrers: [...referrers] };
}

async function exists(check: () => Promise<boolean>): Promise<boolean> {
  try {
    return await check();
  } catch (err) {
    if (isOciError(err) && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN')) return false;
    throw err;
  }
}

function listedDigests(index: Buffer): string[] {
  const parsed = parseJson(index, maxManifestBytes);
  const manifests = parsed.ok && isObject(parsed.value) ? parsed.value.manifests : undefined;
  if (!Array.isArray(manifests)) return [];
  return manifests.map((m) => (isObject(m) ? m.digest : undefined)).filter(isDigestString);
}
