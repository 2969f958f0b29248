// Evidence through the core's own cached paths: the signature policy never talks to an upstream directly.
//
// Tags (`.sig`) resolve as a pull resolves them (record, TTL, stale-if-error, and
// offline for good); manifests and blobs are fetched, verified against their digest and stored like any
// other content, so a verdict's evidence is in the cache to re-check, to export and to serve to cosign.
// The sizes an evidence manifest gives its blobs bound their downloads, as for a pulled image.
import { parseDigest } from '../oci/digest.js';
import type { BlobCache } from './blob-cache.js';
import type { KnownSizes } from './known-sizes.js';
import type { Listings } from './listings.js';
import type { Manifests } from './manifests.js';
import type { Route } from './ports.js';
import type { EvidenceSource } from './signature-evidence.js';
import type { StoredBlobs } from './stored-blobs.js';
import type { Tags } from './tags.js';

export interface EvidenceParts {
  readonly tags: Tags;
  readonly manifests: Manifests;
  readonly blobs: BlobCache;
  readonly stored: StoredBlobs;
  readonly listings: Listings;
  readonly knownSizes: KnownSizes;
}

const request = { accept: undefined, head: false } as const;

export class CoreEvidence implements EvidenceSource {
  constructor(private readonly parts: EvidenceParts) {}

  async manifestByTag(route: Route, tag: string): Promise<{ digest: string; body: Buffer } | undefined> {
    const answer = await this.parts.tags.resolve(route, tag, request);
    if (!answer.body) return undefined;
    this.parts.knownSizes.learnManifest(route, answer.digest, answer.body);
    return { digest: answer.digest, body: answer.body };
  }

  async manifestByDigest(route: Route, digest: string): Promise<Buffer | undefined> {
    const answer = await this.parts.manifests.byDigest(route, parseDigest(digest), request);
    if (answer.body) this.parts.knownSizes.learnManifest(route, digest, answer.body);
    return answer.body;
  }

  async smallBlob(route: Route, digest: string, size: number): Promise<Buffer | undefined> {
    const parsed = parseDigest(digest);
    // The descriptor's size bounds the download: a payload that claims 200 bytes cannot stream 4 GiB.
    this.parts.knownSizes.learn(route, digest, size);
    await this.parts.blobs.prefetch(route, parsed, { pin: false });
    return this.parts.stored.readSmall(parsed, size, 'blob');
  }

  /**
   * The core's one referrers lookup (referrers.ts): the upstream's referrers API, else the referrers tag
   * index, cached with the tag TTL, served stale when upstream fails and for good offline.
   */
  async referrers(route: Route, digest: string): Promise<Buffer | undefined> {
    const answer = await this.parts.listings.referrers(route, parseDigest(digest));
    return answer.manifests.length > 0 ? answer.body : undefined;
  }
}
