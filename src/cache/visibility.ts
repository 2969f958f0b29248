// Who may see a cached digest: anyone asking through a public upstream once a public upstream served it;
// through a private upstream, only repositories known to hold it (fetched there, or confirmed by a HEAD).
import { LRUCache } from 'lru-cache';
import type { Digest } from '../oci/digest.js';
import type { CacheReads } from './cache-reads.js';
import type { CacheWrites } from './cache-writes.js';
import type { VisibilityLinks } from './metadata-store.js';
import type { Route } from './ports.js';

export class Visibility {
  /**
   * Links already confirmed, so a hit does not wait on the metadata store. Bounded by count through
   * maxSize rather than max: lru-cache preallocates `max` slots up front (tens of ms and megabytes at
   * every start, for entries most caches never hold); with maxSize its storage grows as links come.
   */
  private readonly known = new LRUCache<string, true>({ maxSize: 200_000, sizeCalculation: () => 1 });

  constructor(
    private readonly links: VisibilityLinks,
    private readonly writes: CacheWrites,
    private readonly reads: CacheReads,
  ) {}

  /** Whether `route` may be served `digest` from the cache without asking its upstream; an unreadable link is "not known". */
  async allows(route: Route, digest: Digest): Promise<boolean> {
    if (this.knows(route, digest)) return true;
    const link = linkOf(route, digest);
    if (!(await this.reads.attempt('link', () => this.links.hasLink(link), false, { digest: digest.value }))) return false;
    this.known.set(link, true);
    return true;
  }

  /** Whether `route` is known in memory to see `digest` (no store read): the synchronous half of `allows`. */
  knows(route: Route, digest: Digest): boolean {
    return this.known.has(linkOf(route, digest));
  }

  /**
   * Records that `route`'s upstream served `digest` for that repository. Never throws: a link the disk
   * refused is still known in memory, and the failure is counted and logged by CacheWrites.
   */
  async remember(route: Route, digest: Digest): Promise<void> {
    const link = linkOf(route, digest);
    if (this.known.has(link)) return;
    this.known.set(link, true);
    await this.writes.attempt('metadata', 'visibility link', () => this.links.addLink(link), { digest: digest.value });
  }

  /** The link a download through `route` grants (announced to followers in other processes). */
  linkOf(route: Route, digest: Digest): string {
    return linkOf(route, digest);
  }

  /**
   * A link another process of this cache recorded (a download's announcement, which the holder writes to the
   * store too), known here at once; only a link of `digest` itself is taken.
   */
  learn(link: string, digest: Digest): void {
    if (link.endsWith(`@${digest.value}`)) this.known.set(link, true);
  }

  /** Forgets the links of evicted content: in memory (the public one; private ones only cost a HEAD), and in the store. */
  async forget(digest: string): Promise<void> {
    this.known.delete(`public@${digest}`);
    await this.writes.attempt('metadata', 'visibility link removal', () => this.links.removeLinks(digest), { digest });
  }

  /**
   * Removes the listed links whose content is no longer cached: those a cache from before links were listed per
   * digest left behind when their content was evicted (`forget` could not find them). Once per start, in the
   * background; returns how many went. Never throws (an unreadable or unwritable store ends the sweep, logged once).
   */
  async sweep(isCached: (digest: string) => boolean, signal: AbortSignal): Promise<number> {
    let removed = 0;
    await this.writes.attempt('metadata', 'visibility link sweep', async () => {
      for await (const link of this.links.listLinks()) {
        if (signal.aborted) return;
        const digest = link.slice(link.lastIndexOf('@') + 1);
        if (isCached(digest)) continue;
        await this.links.removeLink(link);
        this.known.delete(link);
        removed += 1;
      }
    });
    return removed;
  }

  /** Records the link for content adopted from a bundle; throws when it cannot be written (the import fails). */
  async adopt(route: Route, digest: Digest): Promise<void> {
    const link = linkOf(route, digest);
    await this.links.addLink(link);
    this.known.set(link, true);
  }
}

/** The link that makes `digest` visible to a repository (private upstream) or to everyone (public). */
function linkOf(route: Route, digest: Digest): string {
  return route.upstream.private ? `${route.upstream.name}/${route.repository}@${digest.value}` : `public@${digest.value}`;
}
