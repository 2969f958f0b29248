// The listing endpoints as the spec has a registry answer them, whatever the upstream does: the tags list
// (lexical order, `n`, `last`, a `Link` to the next page) and the referrers list (an image index, the
// `artifactType` filter applied here). The core assembles and caches both lists (cache/listings.ts).
import type { Context } from 'hono';
import type { PullThrough } from '../cache/pull-through.js';
import type { Route } from '../cache/ports.js';
import { mediaTypes } from '../oci/media-types.js';
import { registryHeaders } from '../oci/registry-headers.js';
import { reply } from './reply.js';
import type { AppEnv } from './request-state.js';

export type ListingCore = Pick<PullThrough, 'referrers'>;

/** GET/HEAD /v2/<name>/referrers/<digest>[?artifactType=…]: always 200 with an image index (possibly empty). */
export async function replyReferrers(
  c: Context<AppEnv>,
  core: ListingCore,
  route: Route,
  digest: string,
  base: Record<string, string>,
  query: URLSearchParams,
): Promise<Response> {
  // An empty value filters nothing; of several, the first counts (the spec names one filter value).
  const artifactType = query.get('artifactType') || undefined;
  const answer = await core.referrers(route, digest, artifactType);
  const state = c.get('state');
  state.result = answer.result;
  state.source = answer.result === 'miss' ? 'upstream' : 'cache';
  const head = c.req.method === 'HEAD';
  state.bytes = head ? 0 : answer.body.length;
  const headers: Record<string, string> = { ...base, 'content-type': mediaTypes.ociIndex, 'content-length': String(answer.body.length) };
  if (answer.filtered) headers[registryHeaders.ociFiltersApplied] = 'artifactType';
  return reply(c.env.outgoing, 200, headers, head ? undefined : answer.body);
}
