// Tag lists and referrers: answered by tender, cached with the tag TTL, served stale and offline.
// Both bounded in bytes and pages (the defaults below); past the bound a clear 405 UNSUPPORTED.
//
// The referrers lookup (referrers.ts) is the one the HTTP route and the signature policy (issue 13) call;
// both lists share one caching policy (listing-cache.ts) and one bounded reader of upstream pages
// (upstream-pages.ts).
import type { Digest } from '../oci/digest.js';
import type { Logger } from '../log.js';
import type { CacheReads } from './cache-reads.js';
import type { CacheWrites } from './cache-writes.js';
import { ListingCache } from './listing-cache.js';
import type { ListingRecords } from './listing-records.js';
import type { ManifestAnswer, ManifestRequest } from './manifests.js';
import type { TagRecords } from './metadata-store.js';
import type { Route } from './ports.js';
import { Referrers, type ReferrersAnswer } from './referrers.js';
import { TagLists, type TagListAnswer } from './tag-lists.js';
import type { TagPage } from '../oci/tag-list.js';
import type { PageLimits } from './upstream-pages.js';

export interface ListingOptions {
  /** Deadline for one upstream request. */
  readonly upstreamTimeoutMs: number;
  /** Bounds on one list read from upstream; the defaults below unless a test sets its own. */
  readonly limits?: { readonly tags?: PageLimits; readonly referrers?: PageLimits };
}

/** The tag options the lists share: a list may move upstream as a tag does, so it is fresh as long. */
export interface ListingFreshness {
  readonly ttlMs: number;
  readonly staleTimeoutMs: number;
  readonly clock: () => number;
}

export interface ListingParts {
  readonly records: ListingRecords & Pick<TagRecords, 'listTags'>;
  readonly writes: CacheWrites;
  readonly reads: CacheReads;
  /** A tag through the cache's tag path, without the serve policies (the referrers tag is evidence, not an image). */
  readonly resolveTag: (route: Route, tag: string, request: ManifestRequest) => Promise<ManifestAnswer>;
}

/**
 * The referrers list is bounded as a manifest is (4 MiB: about 10,000 descriptors with annotations), in
 * at most 100 pages.
 */
export const defaultReferrerLimits: PageLimits = { maxBytes: 4 * 1024 * 1024, maxPages: 100 };

/**
 * A tags list may hold 8 MiB of upstream pages (some 400,000 tags), in at most 200 pages (registries
 * page by 100 to 1,000 tags when they page at all).
 */
export const defaultTagLimits: PageLimits = { maxBytes: 8 * 1024 * 1024, maxPages: 200 };

export class Listings {
  private readonly referrerLookup: Referrers;
  private readonly tagLists: TagLists;

  constructor(parts: ListingParts, options: ListingOptions, freshness: ListingFreshness, log: Logger) {
    const cache = new ListingCache({ records: parts.records, writes: parts.writes, reads: parts.reads }, freshness, log);
    this.referrerLookup = new Referrers(
      { cache, resolveTag: parts.resolveTag },
      { upstreamTimeoutMs: options.upstreamTimeoutMs, limits: options.limits?.referrers ?? defaultReferrerLimits, clock: freshness.clock },
      log,
    );
    this.tagLists = new TagLists(
      { cache, records: parts.records },
      { upstreamTimeoutMs: options.upstreamTimeoutMs, limits: options.limits?.tags ?? defaultTagLimits, clock: freshness.clock },
      log,
    );
  }

  /** One page of the repository's tags list, in the spec's order: see tag-lists.ts. */
  tags(route: Route, page: TagPage): Promise<TagListAnswer> {
    return this.tagLists.list(route, page);
  }

  /** The referrers of `digest` (of `artifactType` only, when given): see referrers.ts. */
  referrers(route: Route, digest: Digest, artifactType?: string): Promise<ReferrersAnswer> {
    return this.referrerLookup.lookup(route, digest, artifactType);
  }
}
