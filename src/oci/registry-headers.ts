// Header names and values registries send (distribution-spec), spelled once.

export const registryHeaders = {
  apiVersion: 'Docker-Distribution-API-Version',
  contentDigest: 'Docker-Content-Digest',
  ociNamespace: 'OCI-Namespace',
  ociFiltersApplied: 'OCI-Filters-Applied',
  /** RFC 9211: whether the answer came from this cache; see cacheStatus. */
  cacheStatus: 'Cache-Status',
} as const;

/**
 * RFC 9211 Cache-Status values, one per cache result, spelled once so the hot path only picks a string.
 * `tender` names this cache, so a chain (a CDN in front, tender behind) shows each hop's entry.
 * hit: served from the cache, upstream not asked. miss: forwarded (`fwd=uri-miss`: nothing cached for
 * this reference). joined: forwarded, sharing another request's upstream call (`collapsed`). stale: the
 * last known answer served because upstream failed or was slow (`detail=stale`). missing: a 404 upstream
 * gave a moment ago, remembered (missingTagTtl).
 */
export const cacheStatus = {
  hit: 'tender; hit',
  miss: 'tender; fwd=uri-miss',
  joined: 'tender; fwd=uri-miss; collapsed',
  stale: 'tender; hit; detail=stale',
  missing: 'tender; hit; detail=missing',
} as const;

/** The Cache-Status of a cache result (`hit`, `miss`, `joined`, `stale`); anything else went upstream. */
export function cacheStatusOf(result: string): string {
  return (cacheStatus as Record<string, string | undefined>)[result] ?? cacheStatus.miss;
}

export const apiVersionValue = 'registry/2.0';

/** The strong entity tag of content-addressed bytes: their digest, quoted, as distribution sends it. */
export function digestETag(digest: string): string {
  return `"${digest}"`;
}
