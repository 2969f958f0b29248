// The listing endpoints as the spec has a registry answer them, whatever the upstream does: the tags list
// (lexical order, `n`, `last`, a `Link` to the next page) and the referrers list (an image index, the
// `artifactType` filter applied here). The core assembles and caches both lists (cache/listings.ts).
import type { PullThrough } from '../cache/pull-through.js';
import type { Route } from '../cache/ports.js';
import { formatLinkHeader } from '../oci/link-header.js';
import { mediaTypes } from '../oci/media-types.js';
import { cacheStatusOf, registryHeaders } from '../oci/registry-headers.js';
import { parseTagCount } from '../oci/tag-list.js';
import type { CacheResult } from '../metrics.js';
import { reply } from './reply.js';
import type { RegistryRequest } from './request-state.js';

export type ListingCore = Pick<PullThrough, 'referrers' | 'listTags'>;

/** Where the request came in: its path (the name as the client spelled it) and query, and containerd's `ns`. */
export interface RequestAddress {
  readonly pathname: string;
  readonly query: URLSearchParams;
  readonly ns: string | undefined;
}

/**
 * GET/HEAD /v2/<name>/tags/list[?n=…&last=…]: `n` tags after `last` in lexical order, and a `Link` to the
 * next page (this mirror's own path, the client's `ns` kept) when more follow. Nothing of the client's
 * query goes upstream: the core reads the whole list there and pages it here.
 */
export async function replyTags(
  r: RegistryRequest,
  core: ListingCore,
  route: Route,
  name: string,
  base: Record<string, string>,
  at: RequestAddress,
): Promise<void> {
  const n = parseTagCount(at.query.get('n'));
  const last = at.query.get('last') ?? undefined;
  const answer = await core.listTags(route, { ...(n !== undefined ? { n } : {}), ...(last !== undefined ? { last } : {}) });
  const body = Buffer.from(JSON.stringify({ name, tags: answer.tags }), 'utf8');
  const headers: Record<string, string> = { ...base, 'content-type': 'application/json', 'content-length': String(body.length) };
  if (answer.next !== undefined && n !== undefined) {
    const next = new URLSearchParams({ n: String(n), last: answer.next });
    if (at.ns !== undefined) next.set('ns', at.ns);
    headers.link = formatLinkHeader([{ target: `${at.pathname}?${next.toString()}`, rel: 'next' }]);
  }
  send(r, answer, headers, body);
}

/** GET/HEAD /v2/<name>/referrers/<digest>[?artifactType=…]: always 200 with an image index (possibly empty). */
export async function replyReferrers(
  r: RegistryRequest,
  core: ListingCore,
  route: Route,
  digest: string,
  base: Record<string, string>,
  query: URLSearchParams,
): Promise<void> {
  // An empty value filters nothing; of several, the first counts (the spec names one filter value).
  const artifactType = query.get('artifactType') || undefined;
  const answer = await core.referrers(route, digest, artifactType);
  const headers: Record<string, string> = { ...base, 'content-type': mediaTypes.ociIndex, 'content-length': String(answer.body.length) };
  if (answer.filtered) headers[registryHeaders.ociFiltersApplied] = 'artifactType';
  send(r, answer, headers, answer.body);
}

/** 200 with the body (none for HEAD, its length all the same), and the request log told where it came from. */
function send(r: RegistryRequest, answer: { result: CacheResult }, headers: Record<string, string>, body: Buffer): void {
  const state = r.state;
  state.result = answer.result;
  state.source = answer.result === 'miss' ? 'upstream' : 'cache';
  const head = r.incoming.method === 'HEAD';
  state.bytes = head ? 0 : body.length;
  headers[registryHeaders.cacheStatus] = cacheStatusOf(answer.result);
  reply(r.outgoing, 200, headers, head ? undefined : body);
}
