// A repository's tags list, answered by tender whatever the upstream does: every upstream page read
// (bounded), checked, put in the spec's order, cached with the tag TTL (listing-cache.ts), and paged for
// the client with `n` and `last` here. An offline upstream lists what was last listed, or else the tags
// tender holds records of (seeded or imported).
import { describeError, OciError } from '../oci/errors.js';
import { isValidTag } from '../oci/names.js';
import { compareTags, tagPage, type TagPage } from '../oci/tag-list.js';
import type { Logger } from '../log.js';
import type { CacheResult } from '../metrics.js';
import type { ListingCache } from './listing-cache.js';
import type { TagListRecord } from './listing-records.js';
import type { TagRecords } from './metadata-store.js';
import type { Route, UpstreamPassthrough } from './ports.js';
import { readPages, type PageLimits } from './upstream-pages.js';

export interface TagListAnswer {
  /** This page's tags, in the spec's lexical order. */
  readonly tags: readonly string[];
  /** The `last` of the next page when more tags follow (the answer then carries a Link). */
  readonly next: string | undefined;
  readonly result: Extract<CacheResult, 'hit' | 'miss' | 'stale'>;
}

export interface TagListOptions {
  /** Deadline for one upstream request. */
  readonly upstreamTimeoutMs: number;
  readonly limits: PageLimits;
  readonly clock: () => number;
}

export interface TagListParts {
  readonly cache: ListingCache;
  /** The tags tender holds records of, for an offline upstream never listed. */
  readonly records: Pick<TagRecords, 'listTags'>;
}

export class TagLists {
  constructor(
    private readonly parts: TagListParts,
    private readonly options: TagListOptions,
    private readonly log: Logger,
  ) {}

  async list(route: Route, page: TagPage): Promise<TagListAnswer> {
    const key = `tags:${route.upstream.name}/${route.repository}`;
    if (route.upstream.offline) {
      const recorded = await this.parts.cache.recorded(key);
      const tags = recorded?.kind === 'tags' ? recorded.tags : await this.recordedTags(route);
      return { ...tagPage(tags, page), result: 'hit' };
    }
    // A 404 upstream means the repository is gone: the record is forgotten and the client gets the 404.
    const { record, result } = await this.parts.cache.get(route, key, () => this.assemble(route), ['NAME_UNKNOWN']);
    return { ...tagPage(record.tags, page), result };
  }

  private async assemble(route: Route): Promise<TagListRecord> {
    const tags = new Set<string>();
    let dropped = 0;
    const what = `the tags list of ${route.upstream.name}/${route.repository}`;
    await readPages(
      (query, signal) => route.upstream.listTags(route.repository, query, signal),
      this.options.limits,
      this.options.upstreamTimeoutMs,
      what,
      (answer) => {
        for (const tag of this.tagsOf(answer, what)) {
          if (typeof tag === 'string' && isValidTag(tag)) tags.add(tag);
          else dropped++;
        }
      },
    );
    if (dropped > 0)
      this.log.warn({ upstream: route.upstream.name, repository: route.repository, dropped }, 'malformed tags in the upstream tags list; left out');
    return { kind: 'tags', tags: [...tags].sort(compareTags), checkedAt: this.options.clock() };
  }

  private tagsOf(answer: UpstreamPassthrough, what: string): unknown[] {
    // Tender sends no client parameters upstream, so a 400 there is the upstream's fault, not the client's.
    if (answer.status !== 200) throw new OciError('UPSTREAM_ERROR', `${what}: upstream answered ${answer.status}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body.toString('utf8'));
    } catch {
      throw new OciError('UPSTREAM_ERROR', `${what}: upstream sent no JSON`);
    }
    const tags = parsed !== null && typeof parsed === 'object' ? (parsed as { tags?: unknown }).tags : undefined;
    // distribution answers `"tags": null` for a repository without tags.
    if (tags === null) return [];
    if (!Array.isArray(tags)) throw new OciError('UPSTREAM_ERROR', `${what}: upstream sent no tags array`);
    return tags;
  }

  /** The tags recorded for this repository (offline, never listed): what can be pulled here. */
  private async recordedTags(route: Route): Promise<string[]> {
    const tags: string[] = [];
    let chars = 0;
    try {
      for await (const entry of this.parts.records.listTags()) {
        if (entry.upstream !== route.upstream.name || entry.repository !== route.repository) continue;
        chars += entry.tag.length + 3;
        if (chars > this.options.limits.maxBytes)
          throw new OciError('UNSUPPORTED', `the tags of ${route.upstream.name}/${route.repository} are more than this mirror lists`);
        tags.push(entry.tag);
      }
    } catch (err) {
      if (err instanceof OciError) throw err;
      throw new OciError('UNAVAILABLE', `the mirror is offline and its tag records cannot be read (${describeError(err)})`);
    }
    if (tags.length === 0) throw new OciError('NAME_UNKNOWN', `the mirror is offline and ${route.upstream.name}/${route.repository} has no tags here`);
    return tags.sort(compareTags);
  }
}
