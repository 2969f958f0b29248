// What is attached to an image's digests: cosign's `.sig`/`.att`/`.sbom` tags, the referrers tag index, and referrers.
//
// `tender seed` fetches and pins them with the image, `tender export` writes them into the archive and
// `tender import` records them, so an offline tender can verify (and serve to cosign) what it imported.
// Each attachment tag is an image of its own to the walk (a `.sig` manifest and its payloads; the
// referrers tag index and every referrer manifest it lists, with their blobs).
import { parseDigest } from '../oci/digest.js';
import { isOciError } from '../oci/errors.js';
import type { ReferrerDescriptor } from '../oci/referrers-index.js';
import { attachmentTag, referrersTag, type AttachmentKind } from '../trust/cosign-tags.js';
import type { Listings } from './listings.js';
import type { Route } from './ports.js';
import type { Tags } from './tags.js';

export interface AttachmentLookup {
  /** Whether the tag exists (cached only, or asked upstream); throws for an outage. */
  hasTag(tag: string): Promise<boolean>;
  /** The referrers the upstream's referrers API lists for `digest` (those under the referrers tag are walked with it). */
  referrers(digest: string): Promise<readonly ReferrerDescriptor[]>;
}

export interface FoundAttachments {
  /** Attachment tags that exist, each to be walked as an image. */
  readonly tags: readonly string[];
  /** Referrer manifests the referrers API lists (not reachable through a tag), by digest. */
  readonly referrers: readonly string[];
  /**
   * The subjects those referrers are listed for, with their descriptors as the API listed them: export writes each
   * subject a referrers tag index of them, which an offline tender reads where no referrers API answers.
   */
  readonly listed: ReadonlyMap<string, readonly ReferrerDescriptor[]>;
}

/** The lookup over the core's parts: tags with a record (cachedOnly) or asked upstream with a HEAD; the referrers lookup's API list. */
export function attachmentLookup(
  parts: {
    readonly tags: Pick<Tags, 'recorded'>;
    readonly listings: Pick<Listings, 'referrers'>;
    readonly head: (tag: string) => Promise<unknown>;
  },
  route: Route,
  cachedOnly: boolean,
): AttachmentLookup {
  return {
    hasTag: async (tag) => (cachedOnly ? (await parts.tags.recorded(route, tag)) !== undefined : (await parts.head(tag), true)),
    referrers: async (digest) => {
      const answer = await parts.listings.referrers(route, parseDigest(digest));
      return answer.source === 'api' ? answer.manifests : [];
    },
  };
}

const kinds: readonly AttachmentKind[] = ['sig', 'att', 'sbom'];

/** Referrer manifests carried per digest at most: a list of 10,000 is a mistake or an attack, not evidence to copy. */
export const maxCarriedReferrers = 256;

export async function findAttachments(lookup: AttachmentLookup, digests: readonly string[]): Promise<FoundAttachments> {
  const tags: string[] = [];
  const referrers = new Set<string>();
  const bySubject = new Map<string, readonly ReferrerDescriptor[]>();
  for (const digest of new Set(digests)) {
    for (const tag of [...kinds.map((kind) => attachmentTag(digest, kind)), referrersTag(digest)]) {
      if (await exists(() => lookup.hasTag(tag))) tags.push(tag);
    }
    const listed = (await lookup.referrers(digest)).slice(0, maxCarriedReferrers);
    if (listed.length > 0) bySubject.set(digest, listed);
    for (const referrer of listed) referrers.add(referrer.digest);
  }
  return { tags, referrers: [...referrers], listed: bySubject };
}

async function exists(check: () => Promise<boolean>): Promise<boolean> {
  try {
    return await check();
  } catch (err) {
    if (isOciError(err) && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN')) return false;
    throw err;
  }
}
