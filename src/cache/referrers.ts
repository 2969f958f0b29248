// The referrers of a digest, answered by tender whatever the upstream supports: the one lookup the HTTP
// route (GET /v2/<name>/referrers/<digest>) and the signature policy both call.
//
// Sources, in the order distribution-spec v1.1 tells a client to try them ("Listing Referrers",
// "Unavailable Referrers API"): the upstream's referrers API (every page); on a 404 from it, the image
// index under the referrers tag `<alg>-<ref>`, fetched as a manifest through the tag path (so it is
// cached, revalidated and served stale like any tag); when neither has one, an empty index. The
// assembled, unfiltered list is cached per repository and digest with its source and time (listing-cache.ts);
// `artifactType` is applied by tender on every answer, so one cached list serves every filter.
import type { Digest } from '../oci/digest.js';
import { isOciError } from '../oci/errors.js';
import { mediaTypes } from '../oci/media-types.js';
import { filterReferrers, mergeReferrers, parseReferrersIndex, referrersIndexBody, referrersTag, type ReferrerDescriptor } from '../oci/referrers-index.js';
import type { Logger } from '../log.js';
import type { CacheResult } from '../metrics.js';
import type { ListingCache } from './listing-cache.js';
import type { ReferrersRecord, ReferrersSource } from './listing-records.js';
import type { ManifestAnswer, ManifestRequest } from './manifests.js';
import type { Route } from './ports.js';
import { readPages, type PageLimits } from './upstream-pages.js';

export interface ReferrersAnswer {
  /** The referrers (of `artifactType` only, when one was asked for), in the order the source listed them. */
  readonly manifests: readonly ReferrerDescriptor[];
  /** The OCI image index of `manifests` that the referrers API answers with. */
  readonly body: Buffer;
  /** Whether the artifactType filter was applied (the answer then carries OCI-Filters-Applied). */
  readonly filtered: boolean;
  readonly source: ReferrersSource;
  /** Epoch ms of the upstream answer the list was assembled from. */
  readonly checkedAt: number;
  readonly result: Extract<CacheResult, 'hit' | 'miss' | 'stale'>;
}

/** The signature of the one lookup, for the parts that are handed it rather than the facade. */
export type ReferrersLookup = (route: Route, digest: Digest, artifactType?: string) => Promise<ReferrersAnswer>;

export interface ReferrersOptions {
  /** Deadline for one upstream request. */
  readonly upstreamTimeoutMs: number;
  /** Bounds on one list read from upstream; the referrers tag is bounded as any manifest (4 MiB). */
  readonly limits: PageLimits;
  readonly clock: () => number;
}

export interface ReferrersParts {
  readonly cache: ListingCache;
  /** A tag through the cache's tag path (record, revalidation, stale), without the serve policies. */
  readonly resolveTag: (route: Route, tag: string, request: ManifestRequest) => Promise<ManifestAnswer>;
}

/** The record's key: one list per upstream, repository and subject. */
export function referrersKey(route: Route, digest: Digest): string {
  return `referrers:${route.upstream.name}/${route.repository}@${digest.value}`;
}

export class Referrers {
  constructor(
    private readonly parts: ReferrersParts,
    private readonly options: ReferrersOptions,
    private readonly log: Logger,
  ) {}

  /** The referrers of `digest` in the route's repository, filtered by `artifactType` when given. */
  async lookup(route: Route, digest: Digest, artifactType?: string): Promise<ReferrersAnswer> {
    const { record, result } = route.upstream.offline
      ? { record: await this.offline(route, digest), result: 'hit' as const }
      : await this.parts.cache.get(route, referrersKey(route, digest), () => this.assemble(route, digest), []);
    const manifests = filterReferrers(record.manifests, artifactType);
    return {
      manifests,
      body: referrersIndexBody(manifests),
      filtered: artifactType !== undefined,
      source: record.source,
      checkedAt: record.checkedAt,
      result,
    };
  }

  /**
   * Offline, nothing upstream can change, but an import can: the referrers tag as tender holds it (an
   * imported or seeded index) first, else the list last recorded online, else none; nothing is recorded,
   * so a later import is seen at once.
   */
  private async offline(route: Route, digest: Digest): Promise<ReferrersRecord> {
    const fromTag = await this.fromTag(route, digest);
    if (fromTag) return this.record('tag', fromTag);
    const recorded = await this.parts.cache.recorded(referrersKey(route, digest));
    return recorded?.kind === 'referrers' ? recorded : this.record('none', []);
  }

  private async assemble(route: Route, digest: Digest): Promise<ReferrersRecord> {
    const fromApi = await this.fromApi(route, digest);
    if (fromApi) return this.record('api', fromApi);
    const fromTag = await this.fromTag(route, digest);
    return fromTag ? this.record('tag', fromTag) : this.record('none', []);
  }

  /** Every page of the upstream's referrers API, or undefined when it has none (404 or an unusable answer). */
  private async fromApi(route: Route, digest: Digest): Promise<ReferrerDescriptor[] | undefined> {
    const manifests: ReferrerDescriptor[] = [];
    const seen = new Set<string>();
    let usable = true;
    try {
      await readPages(
        (query, signal) => route.upstream.referrers(route.repository, digest.value, query, signal),
        this.options.limits,
        this.options.upstreamTimeoutMs,
        `the referrers list of ${route.upstream.name}/${route.repository}@${digest.value}`,
        (page) => {
          const parsed = page.status === 200 ? parseReferrersIndex(page.body) : { ok: false as const, problem: `status ${page.status}` };
          if (!parsed.ok) {
            // A 200 that is no index (a proxy's page, say) is no API: the referrers tag may still answer.
            if (usable)
              this.log.warn(
                { upstream: route.upstream.name, repository: route.repository, digest: digest.value, problem: parsed.problem },
                'unusable referrers answer upstream; trying the referrers tag',
              );
            usable = false;
            return;
          }
          this.dropped(route, digest, parsed.dropped);
          mergeReferrers(manifests, seen, parsed.manifests);
        },
      );
    } catch (err) {
      // The spec's signal for "no referrers API here" (and what an offline upstream says): try the tag.
      if (isOciError(err) && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN')) return undefined;
      throw err;
    }
    return usable ? manifests : undefined;
  }

  /** The index under the referrers tag, or undefined when there is no such tag or it holds no index. */
  private async fromTag(route: Route, digest: Digest): Promise<ReferrerDescriptor[] | undefined> {
    let answer: ManifestAnswer;
    try {
      // The full Accept (none given): the answer becomes the tag's shared record, seeded and served offline.
      answer = await this.parts.resolveTag(route, referrersTag(digest), { accept: undefined, head: false });
    } catch (err) {
      if (isOciError(err) && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN')) return undefined;
      throw err;
    }
    const parsed = answer.mediaType === mediaTypes.ociIndex && answer.body ? parseReferrersIndex(answer.body) : undefined;
    if (!parsed?.ok) {
      // The spec: a tag that is no valid image index means no referrers.
      const problem = parsed ? parsed.problem : `a ${answer.mediaType}, not an image index`;
      this.log.warn(
        { upstream: route.upstream.name, repository: route.repository, tag: referrersTag(digest), problem },
        'referrers tag holds no image index; no referrers',
      );
      return undefined;
    }
    this.dropped(route, digest, parsed.dropped);
    return mergeReferrers([], new Set(), parsed.manifests);
  }

  private record(source: ReferrersSource, manifests: readonly ReferrerDescriptor[]): ReferrersRecord {
    return { kind: 'referrers', source, manifests, checkedAt: this.options.clock() };
  }

  private dropped(route: Route, digest: Digest, count: number): void {
    if (count > 0)
      this.log.warn(
        { upstream: route.upstream.name, repository: route.repository, digest: digest.value, dropped: count },
        'malformed referrer descriptors upstream; left out',
      );
  }
}
