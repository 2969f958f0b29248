// Who may see a cached digest: anyone asking through a public upstream once a public upstream served it;
// through a private upstream, only repositories known to hold it (fetched there, or confirmed by a HEAD).
import { LRUCache } from 'lru-cache';
import type { Digest } from '../oci/digest.js';
import type { CacheWrites } from './cache-writes.js';
import type { MetadataStore, Route } from './ports.js';

export class Visibility {
  /** Links already confirmed, so a hit does not wait on the metadata store. */
  private readonly known = new LRUCache<string, true>({ max: 200_000 });

  constructor(
    private readonly metadata: MetadataStore,
    private readonly writes: CacheWrites,
  ) {}

  /** Whether `route` may be served `digest` from the cache without asking its upstream. */
  async allows(route: Route, digest: Digest): Promise<boolean> {
    const link = linkOf(route, digest);
    if (this.known.has(link)) return true;
    if (!(await this.metadata.hasLink(link))) return false;
    this.known.set(link, true);
    return true;
  }

  /**
   * Records that `route`'s upstream served `digest` for that repository. Never throws: a link the disk
   * refused is still known in memory, and the failure is counted and logged by CacheWrites.
   */
  async remember(route: Route, digest: Digest): Promise<void> {
    const link = linkOf(route, digest);
    if (this.known.has(link)) return;
    this.known.set(link, true);
    await this.writes.attempt('metadata', 'visibility link', () => this.metadata.addLink(link), { digest: digest.value });
  }
}

function linkOf(route: Route, digest: Digest): string {
  return visibilityLink(route.upstream.name, route.repository, route.upstream.private, digest.value);
}

/** The link that makes `digest` visible to a repository (private upstream) or to everyone (public). */
export function visibilityLink(upstream: string, repository: string, isPrivate: boolean, digest: string): string {
  return isPrivate ? `${upstream}/${repository}@${digest}` : `public@${digest}`;
}
