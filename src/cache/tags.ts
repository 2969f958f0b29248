// Tag resolution: fresh within tagTtl, revalidated with one upstream HEAD after it, stale-if-error, and the
// tag policies (pinned tags, immutable tags) applied. The clock that decides freshness is injected here.
//
// A record is fresh for `ttlMs` after upstream last confirmed it, and served without asking. After that one
// HEAD (free of Docker Hub's pull quota) per tag at a time says whether it moved; if upstream fails or does
// not answer within `staleTimeoutMs`, the last known digest is served ("stale") and upstream is asked again
// at most every 10 s. Offline upstreams never expire a record. A record that cannot be read is a miss.
import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { isDigest, parseDigest } from '../oci/digest.js';
import { describeError, isOciError } from '../oci/errors.js';
import { accepts, acceptsEveryManifestType, defaultManifestAccept, parseAccept } from '../oci/media-types.js';
import type { Logger } from '../log.js';
import type { CacheResult, Metrics } from '../metrics.js';
import type { CacheReads } from './cache-reads.js';
import type { CacheWrites } from './cache-writes.js';
import type { ManifestAnswer, ManifestRequest, Manifests } from './manifests.js';
import type { TagRecord, TagRecords } from './metadata-store.js';
import type { Route } from './ports.js';
import { SingleFlight } from './single-flight.js';
import type { TagPolicies } from './tag-policy.js';
import type { Visibility } from './visibility.js';

export interface TagOptions {
  /** How long a tag resolution is served without asking upstream. */
  readonly ttlMs: number;
  /** How long a revalidation may take before the last known digest is served instead. */
  readonly staleTimeoutMs: number;
  /** Deadline for the revalidation HEAD itself (it goes on in the background after staleTimeout). */
  readonly upstreamTimeoutMs: number;
  /** Immutable and pinned tags. */
  readonly policies: TagPolicies;
  /** Epoch ms; Date.now unless a test drives time. */
  readonly clock?: () => number;
}

export interface TagParts {
  readonly records: TagRecords;
  readonly visibility: Visibility;
  readonly writes: CacheWrites;
  readonly reads: CacheReads;
  /** Upstream (or an import) said where a tag points (the inventory's tag history); must not throw. */
  readonly onTag?: (route: Route, tag: string, record: TagRecord) => void;
}

/** The one spelling of a tag's key, for every memory of tags in this file. */
export function tagKey(route: Route, tag: string): string {
  return `${route.upstream.name}/${route.repository}:${tag}`;
}

/** While upstream is failing, an expired tag is asked about again at most this often. */
const revalidationBackoffMs = 10_000;

class RevalidationTimeout extends Error {}

export class Tags {
  readonly clock: () => number;
  private readonly revalidations = new SingleFlight<TagRecord>();
  /** Tags whose revalidation just failed, and until when they are served stale without asking again. */
  private readonly retryAfter = new LRUCache<string, number>({ max: 10_000 });
  /** Records in front of the metadata store: a tag hit must not cost a file or network read. */
  private readonly memory = new LRUCache<string, TagRecord>({ max: 10_000 });

  constructor(
    private readonly manifests: Manifests,
    private readonly parts: TagParts,
    private readonly options: TagOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.clock = options.clock ?? Date.now;
  }

  async resolve(route: Route, tag: string, request: ManifestRequest): Promise<ManifestAnswer> {
    const pinned = this.options.policies.pinned(route.upstream.name, route.repository, tag);
    // A pinned tag never asks upstream what it points to: it is exactly the pinned digest.
    if (pinned) return this.manifests.byDigest(route, parseDigest(pinned), request);
    const record = await this.recorded(route, tag);
    if (record !== undefined && accepts(parseAccept(request.accept), record.mediaType)) {
      // Offline, the last known digest is the answer for good: there is nobody to ask.
      if (route.upstream.offline || this.clock() - record.checkedAt < this.options.ttlMs) return this.fromRecord(route, record, request, 'hit');
      // Upstream failed a moment ago: serve the last known digest without asking (and logging) again.
      if ((this.retryAfter.get(tagKey(route, tag)) ?? 0) > this.clock()) return this.fromRecord(route, record, request, 'stale');
      return this.revalidate(route, tag, record, request);
    }
    // A client with an unusual Accept gets its own answer, which neither displaces nor becomes the record.
    const recordable = !record && acceptsEveryManifestType(request.accept);
    if (request.head) {
      const head = await this.manifests.head(route, tag, request.accept);
      if (head.digest && isDigest(head.digest) && head.mediaType && head.size !== undefined) {
        await this.parts.visibility.remember(route, parseDigest(head.digest));
        const fresh = { digest: head.digest, mediaType: head.mediaType, size: head.size, checkedAt: this.clock() };
        if (recordable) await this.write(route, tag, fresh);
        return { ...fresh, body: undefined, result: 'miss' };
      }
      // An upstream HEAD without digest or length: containerd would GET next, so do that now.
    }
    const fetched = await this.manifests.fetch(route, tag, request.accept, undefined);
    if (recordable) await this.write(route, tag, { digest: fetched.digest, mediaType: fetched.mediaType, size: fetched.size, checkedAt: this.clock() });
    return { ...fetched, body: request.head ? undefined : fetched.body, result: 'miss' };
  }

  /**
   * The record as known here, without asking upstream: from memory while fresh, else from the metadata
   * store (another replica may have revalidated it meanwhile). An unreadable store gives what memory has.
   */
  async recorded(route: Route, tag: string): Promise<TagRecord | undefined> {
    const key = tagKey(route, tag);
    const remembered = this.memory.get(key);
    if (remembered && this.clock() - remembered.checkedAt < this.options.ttlMs) return remembered;
    const context = { upstream: route.upstream.name, repository: route.repository, tag };
    const record = await this.parts.reads.attempt('tag', () => this.parts.records.getTag(route.upstream.name, route.repository, tag), undefined, context);
    if (record) this.memory.set(key, record);
    return record ?? remembered;
  }

  /** Records what an imported image's tag points to; throws when the record cannot be written (the import fails). */
  async adopt(route: Route, tag: string, record: TagRecord): Promise<void> {
    await this.parts.records.setTag(route.upstream.name, route.repository, tag, record);
    this.memory.set(tagKey(route, tag), record);
    this.parts.onTag?.(route, tag, record);
  }

  /** One upstream HEAD per expired tag at a time; if it fails or is slow, the last known digest is served. */
  private async revalidate(route: Route, tag: string, record: TagRecord, request: ManifestRequest): Promise<ManifestAnswer> {
    const upstream = route.upstream.name;
    const key = tagKey(route, tag);
    const work = this.revalidations.run(key, async () => {
      // The full list, not the client's: whether the tag moved must not depend on who asked.
      const head = await route.upstream.headManifest(route.repository, tag, defaultManifestAccept, AbortSignal.timeout(this.options.upstreamTimeoutMs));
      let next: TagRecord;
      // A HEAD without a digest says nothing about a move: it is not reported as one.
      const immutability = !head.digest || head.digest === record.digest ? undefined : this.options.policies.immutability(upstream, route.repository, tag);
      if (immutability) {
        this.metrics.tagChangesRefused.inc({ upstream, mode: immutability });
        this.log.warn(
          { upstream, repository: route.repository, tag, kept: record.digest, upstream_digest: head.digest, mode: immutability },
          immutability === 'enforce' ? 'immutable tag moved upstream; keeping the first digest' : 'immutable tag moved upstream; following it (warn mode)',
        );
      }
      if (head.digest === record.digest || immutability === 'enforce') {
        next = { ...record, checkedAt: this.clock() };
        this.metrics.tagRevalidations.inc({ upstream, outcome: immutability === 'enforce' ? 'refused' : 'unchanged' });
      } else {
        const fetched = head.digest
          ? await this.manifests.fetch(route, head.digest, request.accept, parseDigest(head.digest))
          : await this.manifests.fetch(route, tag, request.accept, undefined);
        next = { digest: fetched.digest, mediaType: fetched.mediaType, size: fetched.size, checkedAt: this.clock() };
        this.metrics.tagRevalidations.inc({ upstream, outcome: 'changed' });
        this.log.info({ upstream, repository: route.repository, tag, from: record.digest, to: next.digest }, 'tag moved upstream');
      }
      await this.write(route, tag, next);
      return next;
    });
    try {
      const next = await raceTimeout(work, this.options.staleTimeoutMs);
      return await this.fromRecord(route, next, request, next.digest === record.digest ? 'hit' : 'miss');
    } catch (err) {
      if (isOciError(err) && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN')) {
        // Upstream says the tag is gone: that is an answer, not an outage.
        this.metrics.tagRevalidations.inc({ upstream, outcome: 'gone' });
        await this.forget(route, tag);
        throw err;
      }
      const timedOut = err instanceof RevalidationTimeout;
      this.metrics.tagRevalidations.inc({ upstream, outcome: timedOut ? 'timeout' : 'error' });
      const first = (this.retryAfter.get(key) ?? 0) <= this.clock();
      this.retryAfter.set(key, this.clock() + revalidationBackoffMs);
      if (first)
        this.log.warn(
          { upstream, repository: route.repository, tag, digest: record.digest, reason: timedOut ? 'timeout' : describeError(err) },
          'upstream revalidation failed; serving last known digest',
        );
      return this.fromRecord(route, record, request, 'stale');
    }
  }

  private async fromRecord(route: Route, record: TagRecord, request: ManifestRequest, result: CacheResult): Promise<ManifestAnswer> {
    if (request.head) return { digest: record.digest, mediaType: record.mediaType, size: record.size, body: undefined, result };
    const digest = parseDigest(record.digest);
    const local = await this.manifests.local(digest, true);
    if (local) return { digest: record.digest, ...local, result };
    // Known from a HEAD only, or the body went missing: fetch it by digest.
    const fetched = await this.manifests.fetch(route, record.digest, request.accept, digest);
    return { ...fetched, result: result === 'hit' ? 'miss' : result };
  }

  private async write(route: Route, tag: string, record: TagRecord): Promise<void> {
    this.memory.set(tagKey(route, tag), record);
    this.parts.onTag?.(route, tag, record);
    const context = { upstream: route.upstream.name, repository: route.repository, tag };
    await this.parts.writes.attempt('metadata', 'tag record', () => this.parts.records.setTag(route.upstream.name, route.repository, tag, record), context);
  }

  private async forget(route: Route, tag: string): Promise<void> {
    this.memory.delete(tagKey(route, tag));
    const context = { upstream: route.upstream.name, repository: route.repository, tag };
    await this.parts.writes.attempt('metadata', 'tag removal', () => this.parts.records.deleteTag(route.upstream.name, route.repository, tag), context);
  }
}

async function raceTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      work,
      sleep(ms, undefined, { signal: timer.signal }).then(() => {
        throw new RevalidationTimeout(`no upstream answer within ${ms} ms`);
      }),
    ]);
  } finally {
    timer.abort();
  }
}
