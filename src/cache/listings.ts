// Tag lists and referrers: passed through to upstream today, sharing its client and tokens.
//
// This is where caching them goes (issue 12: spec pagination and order whatever upstream does, and the
// referrers API answered by tender with the referrers-tag fallback; issue 13: referrers cached and served
// offline for signature checks): the pull path, `tender export` and the signature policy read them here.
import type { Digest } from '../oci/digest.js';
import type { Route, UpstreamPassthrough } from './ports.js';

export interface ListingOptions {
  /** Deadline for one upstream request. */
  readonly upstreamTimeoutMs: number;
}

export class Listings {
  constructor(private readonly options: ListingOptions) {}

  /** The repository's tags list as upstream answers it (`query`: `?n=…&last=…` or empty). */
  tags(route: Route, query: string): Promise<UpstreamPassthrough> {
    return route.upstream.listTags(route.repository, query, AbortSignal.timeout(this.options.upstreamTimeoutMs));
  }

  /** The referrers of `digest` as upstream answers them (`query`: `?artifactType=…` or empty). */
  referrers(route: Route, digest: Digest, query: string): Promise<UpstreamPassthrough> {
    return route.upstream.referrers(route.repository, digest.value, query, AbortSignal.timeout(this.options.upstreamTimeoutMs));
  }
}
