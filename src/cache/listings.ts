// Tag lists and referrers: answered by tender, cached with the tag TTL, served stale and offline.
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
import type { Route, UpstreamPassthrough } from './ports.js';
import { Referrers, type ReferrersAnswer } from './referrers.js';
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
  readonly records: ListingRecords;
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

export class Listings {
  private readonly referrerLookup: Referrers;

  constructor(
    parts: ListingParts,
    private readonly options: ListingOptions,
    freshness: ListingFreshness,
    log: Logger,
  ) {
    const cache = new ListingCache({ records: parts.records, writes: parts.writes, reads: parts.reads }, freshness, log);
    this.referrerLookup = new Referrers(
      { cache, resolveTag: parts.resolveTag },
      { upstreamTimeoutMs: options.upstreamTimeoutMs, limits: options.limits?.referrers ?? defaultReferrerLimits, clock: freshness.clock },
      log,
    );
  }

  /** The repository's tags list as upstream answers it (`query`: `?n=…&last=…` or empty). */
  tags(route: Route, query: string): Promise<UpstreamPassthrough> {
    return route.upstream.listTags(route.repository, query, AbortSignal.timeout(this.options.upstreamTimeoutMs));
  }

  /** The referrers of `digest` (of `artifactType` only, when given): see referrers.ts. */
  referrers(route: Route, digest: Digest, artifactType?: string): Promise<ReferrersAnswer> {
    return this.referrerLookup.lookup(route, digest, artifactType);
  }
}
