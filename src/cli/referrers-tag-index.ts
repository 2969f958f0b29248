// Referrers known only from an upstream's referrers API, carried in an export as the subject's referrers tag index.
//
// An offline tender has no referrers API to ask: it answers GET /v2/<name>/referrers/<digest> (and finds Sigstore
// bundles for the signature policy) from the image index under the subject's referrers tag, `sha256-<hex>`
// (distribution-spec v1.1, "Referrers Tag Schema"), as the referrers lookup tries it (cache/referrers.ts). When the
// source registry had the API, no such tag exists there, so the export writes one: an OCI image index whose
// manifests are the referrer descriptors as the API listed them (artifactType and annotations kept, so the offline
// answer filters like the online one), tagged in the subject's repository, with every referrer it names walked as an
// image of its own. `tender import` records it as any tag; the index is tender's own document, addressed by its digest.
import { createHash } from 'node:crypto';
import { parseDigest } from '../oci/digest.js';
import { isOciError } from '../oci/errors.js';
import { mediaTypes } from '../oci/media-types.js';
import { referrersIndexBody, referrersTag, type ReferrerDescriptor } from '../oci/referrers-index.js';
import type { Core } from '../main.js';

type WalkedImage = Awaited<ReturnType<Core['pullThrough']['image']>>;
type Route = ReturnType<Core['router']['resolve']>;

export interface ReferrersTagIndex {
  /** `sha256-<hex>` of the subject. */
  readonly tag: string;
  /** The index as an image: it first, then the referrers' manifests and blobs. */
  readonly walked: WalkedImage;
  /** The index's bytes (it is not in the cache: the export writes them from here). */
  readonly body: Buffer;
}

/**
 * The referrers tag index for `subject`, of the listed referrers whose manifest and blobs are all cached (an index must
 * not name what the offline side cannot serve); undefined when none is.
 */
export async function referrersTagIndex(
  core: Core,
  route: Route,
  subject: string,
  listed: readonly ReferrerDescriptor[],
): Promise<ReferrersTagIndex | undefined> {
  const carried: ReferrerDescriptor[] = [];
  const walks: WalkedImage[] = [];
  for (const referrer of listed) {
    if (core.pullThrough.cachedSize(referrer.digest) === undefined) continue;
    const walked = await core.pullThrough.image(route, referrer.digest, { cachedOnly: true }).catch((err: unknown) => {
      // Cached bytes that the cache does not hold as a manifest (no record, not a manifest): not carried.
      if (isOciError(err)) return undefined;
      throw err;
    });
    if (!walked || walked.missing.length > 0 || walked.blobs.some((b) => core.pullThrough.cachedSize(b.digest) === undefined)) continue;
    carried.push(referrer);
    walks.push(walked);
  }
  if (carried.length === 0) return undefined;
  const body = referrersIndexBody(carried);
  const top = { digest: `sha256:${createHash('sha256').update(body).digest('hex')}`, mediaType: mediaTypes.ociIndex, size: body.length };
  return {
    tag: referrersTag(parseDigest(subject)),
    body,
    walked: { top, manifests: [top, ...walks.flatMap((w) => w.manifests)], blobs: walks.flatMap((w) => w.blobs), missing: [] },
  };
}
