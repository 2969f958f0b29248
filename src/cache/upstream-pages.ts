// An upstream listing read page by page (tags/list and referrers both paginate with `Link: <…>; rel="next"`),
// whole, within a bound: a repository listing more than the bound gets a clear error, never unbounded
// memory or an endless walk.
import { OciError } from '../oci/errors.js';
import { parseLinkHeader } from '../oci/link-header.js';
import type { UpstreamPassthrough } from './ports.js';

/** A whole walk may take this many times one request's deadline, however many pages it reads. */
const walkDeadlines = 2;

export interface PageLimits {
  /** Bytes of page bodies read for one list, all pages together. */
  readonly maxBytes: number;
  /** Pages read for one list. */
  readonly maxPages: number;
}

/**
 * Reads `page('')`, then each page its `rel="next"` link names (the upstream client reduced that link to
 * a query of this same resource), handing every page to `take`. Stops at the first page without a next
 * link. A link seen before ends the walk as well: an upstream pointing back at an earlier page must not
 * make tender loop. Past `limits`, throws UNSUPPORTED naming the bound. Each request has `timeoutMs`,
 * the whole walk twice that (an upstream answering slowly page after page is an outage, not a list).
 */
export async function readPages(
  page: (query: string, signal: AbortSignal) => Promise<UpstreamPassthrough>,
  limits: PageLimits,
  timeoutMs: number,
  what: string,
  take: (answer: UpstreamPassthrough) => void,
): Promise<void> {
  const seen = new Set<string>();
  const deadline = performance.now() + walkDeadlines * timeoutMs;
  let query = '';
  let bytes = 0;
  for (let pages = 1; ; pages++) {
    const answer = await page(query, AbortSignal.timeout(Math.ceil(Math.max(1, Math.min(timeoutMs, deadline - performance.now())))));
    bytes += answer.body.length;
    if (bytes > limits.maxBytes) throw tooLarge(what, `more than ${limits.maxBytes} bytes`);
    take(answer);
    const next = nextQuery(answer.headers.link);
    if (next === undefined || seen.has(next)) return;
    seen.add(next);
    if (pages >= limits.maxPages) throw tooLarge(what, `more than ${limits.maxPages} pages`);
    query = next;
  }
}

/** The query of the `rel="next"` entry, as the upstream client left it (`?…`), when there is one. */
function nextQuery(link: string | undefined): string | undefined {
  if (!link) return undefined;
  const next = parseLinkHeader(link).find((entry) => entry.rel?.split(/\s+/).includes('next'));
  return next && next.target.startsWith('?') && next.target.length > 1 ? next.target : undefined;
}

function tooLarge(what: string, bound: string): OciError {
  // 405 UNSUPPORTED is the spec's code for "not implemented for this request": a list this long is not
  // served at all rather than cut short, since a client cannot tell a cut list from a whole one.
  return new OciError('UNSUPPORTED', `${what} upstream is longer than this mirror serves (${bound})`, { headers: { allow: 'GET, HEAD' } });
}
