// The tags list as distribution-spec v1.1 "Listing Tags" has a registry answer it: lexical order, `n`
// (how many), `last` (after which tag), whatever order or page size the upstream used.

/** What a client asked for: `n` tags after `last`; neither given is the whole list. */
export interface TagPage {
  readonly n?: number;
  readonly last?: string;
}

/**
 * The spec's order: "lexical order (i.e. case-insensitive alphanumeric order)". Tags that differ only in
 * case (`V1`, `v1`) are then put in code-unit order, so the order is total and `last` is never ambiguous.
 */
export function compareTags(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x !== y) return x < y ? -1 : 1;
  return a === b ? 0 : a < b ? -1 : 1;
}

/**
 * One page of a list sorted by compareTags: the tags after `last` (not included), at most `n` of them,
 * and `next` (the `last` of the following page) when more follow. `n` = 0 is an empty page with no next
 * (the spec: an empty list and no Link).
 */
export function tagPage(sorted: readonly string[], page: TagPage): { tags: readonly string[]; next: string | undefined } {
  const start = page.last === undefined ? 0 : firstAfter(sorted, page.last);
  if (page.n === undefined) return { tags: sorted.slice(start), next: undefined };
  if (page.n === 0) return { tags: [], next: undefined };
  const tags = sorted.slice(start, start + page.n);
  return { tags, next: start + page.n < sorted.length ? tags[tags.length - 1] : undefined };
}

/**
 * The client's `n`: a non-negative decimal integer, else undefined (the whole list). distribution 2.8
 * ignored any `n`; a malformed one is ignored here too rather than refused, as clients have relied on that.
 */
export function parseTagCount(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value)) return undefined;
  return Math.min(Number(value), Number.MAX_SAFE_INTEGER);
}

/** The index of the first tag after `last` in compareTags order (binary search). */
function firstAfter(sorted: readonly string[], last: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareTags(sorted[middle]!, last) <= 0) low = middle + 1;
    else high = middle;
  }
  return low;
}
