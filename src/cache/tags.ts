// Tag resolution: fresh within its TTL, revalidated with one upstream HEAD after it, stale-if-error, missing
// tags remembered, and the tag policies (pinned tags, immutable tags) applied. The clock that decides
// freshness is injected here.
//
// A record is fresh for its TTL (`fresh`: the first tagTtls pattern that matches, else tagTtl) after upstream
// last confirmed it, and served without asking. After that one HEAD (free of Docker Hub's pull quota) per tag
// at a time says whether it moved; if upstream fails or does not answer within `staleTimeoutMs`, the last
// known digest is served ("stale") and upstream is asked again at most every 10 s. Offline upstreams never
// expire a record. A record that cannot be read is a miss. A tag upstream answered 404 for is answered 404
// for `missingTtlMs` without asking again. A tag with no record is asked about once however many clients
// ask at the same moment, GET or HEAD (see `cold`).
import { LRUCache } from 'lru-cache';
import { isDigest, parseDigest, type Digest } from '../oci/digest.js';
import { describeError } from '../oci/errors.js';
import { accepts, acceptsEveryManifestType, defaultManifestAccept, parseAccept } from '../oci/media-types.js';
import type { Logger } from '../log.js';
import type { CacheResult, Metrics } from '../metrics.js';
import type { ManifestAnswer, ManifestRequest, Manifests } from './manifests.js';
import type { TagRecord } from './metadata-store.js';
import { MissingTags, isMissing } from './missing-tags.js';
import { RaceTimeout, raceTimeout } from './race-timeout.js';
import { RevalidatedElsewhereFailed, revalidatedElsewhere, underRevalidationLease } from './revalidation-lease.js';
import type { Route } from './ports.js';
import { SingleFlight } from './single-flight.js';
import type { TagOptions, TagParts } from './tag-options.js';

export type { TagOptions, TagParts } from './tag-options.js';

/** The one spelling of a tag's key, for every memory of tags in this file. */
export function tagKey(route: Route, tag: string): string {
  return `${route.upstream.name}/${route.repository}:${tag}`;
}

/** While upstream is failing, an expired tag is asked about again at most this often. */
const revalidationBackoffMs = 10_000;

/** A tag's first upstream resolution, which later clients join (see `Tags.cold`). */
interface ColdResolution {
  readonly head: boolean;
  readonly answer: Promise<ManifestAnswer>;
}

export class Tags {
  readonly clock: () => number;
  private readonly revalidations = new SingleFlight<TagRecord>();
  /** Tags whose revalidation just failed, and until when they are served stale without asking again. */
  private readonly retryAfter = new LRUCache<string, number>({ max: 10_000 });
  /** Records in front of the metadata store: a tag hit must not cost a file or network read. */
  private readonly memory = new LRUCache<string, TagRecord>({ max: 10_000 });
  private readonly missing: MissingTags;
  /**
   * Resolutions of tags with no record, by tag key, and whether the first one was a HEAD. Whoever comes
   * next joins: a GET's answer serves a HEAD (and a GET); a GET that finds a HEAD waits for its digest and
   * fetches by digest, a fetch containerd's own GET by digest after its HEAD then shares.
   */
  private readonly cold = new Map<string, ColdResolution>();

  constructor(
    private readonly manifests: Manifests,
    private readonly parts: TagParts,
    private readonly options: TagOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.clock = options.clock ?? Date.now;
    this.missing = new MissingTags(options.missingTtlMs, this.clock);
  }

  /** The one freshness decision: offline upstreams never expire a record; otherwise its pattern's TTL, or tagTtl. */
  fresh(route: Route, tag: string, record: Pick<TagRecord, 'checkedAt'>): boolean {
    if (route.upstream.offline) return true;
    const ttl = this.options.policies.ttl(route.upstream.name, route.repository, tag) ?? this.options.ttlMs;
    return this.clock() - record.checkedAt < ttl;
  }

  async resolve(route: Route, tag: string, request: ManifestRequest): Promise<ManifestAnswer> {
    const pinned = this.pinned(route, tag);
    // A pinned tag never asks upstream what it points to: it is exactly the pinned digest.
    if (pinned) return this.manifests.byDigest(route, parseDigest(pinned), request);
    const record = await this.recorded(route, tag);
    const key = tagKey(route, tag);
    if (record !== undefined && accepts(parseAccept(request.accept), record.mediaType)) {
      // Offline, the last known digest is the answer for good: there is nobody to ask.
      if (this.fresh(route, tag, record)) return this.fromRecord(route, record, request, 'hit');
      // Upstream failed a moment ago: serve the last known digest without asking (and logging) again.
      if ((this.retryAfter.get(key) ?? 0) > this.clock()) return this.fromRecord(route, record, request, 'stale');
      return this.revalidate(route, tag, record, request);
    }
    const missing = this.missing.recall(key);
    if (missing) {
      this.metrics.missingTagHits.inc({ upstream: route.upstream.name });
      throw missing;
    }
    if (!record && !acceptsEveryManifestType(request.accept)) {
      // A narrow Accept (one manifest type, as the conformance suite, crane or oras send) with no record:
      // learn what the tag points to for everyone (a HEAD with the full list), and serve that when it is
      // a type this client takes, so its next requests are served from the record within the window.
      const learned = await this.learnForEveryone(route, tag);
      if (learned && accepts(parseAccept(request.accept), learned.mediaType)) return this.fromRecord(route, learned, request, 'miss');
    }
    // A client with an unusual Accept gets its own answer, which neither displaces nor becomes the record:
    // a registry may answer it with one platform's manifest instead of the index the tag points to.
    if (record || !acceptsEveryManifestType(request.accept)) return this.ask(route, tag, request, false);
    const running = this.cold.get(key);
    if (running) return this.join(route, running, request);
    const answer = this.ask(route, tag, request, true);
    const entry = { head: request.head, answer };
    this.cold.set(key, entry);
    const done = (): void => {
      if (this.cold.get(key) === entry) this.cold.delete(key);
    };
    answer.then(done, done);
    return answer;
  }

  /** Asks upstream about a tag with no usable record; a 404 from a recordable ask is remembered. */
  private async ask(route: Route, tag: string, request: ManifestRequest, recordable: boolean): Promise<ManifestAnswer> {
    try {
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
    } catch (err) {
      // Only the full Accept list's 404 is remembered: a narrow one may be "nothing of these types".
      if (recordable && isMissing(err)) this.missing.remember(tagKey(route, tag), err);
      throw err;
    }
  }

  /** Another client's cold resolution of the same tag, shared (see `cold`). */
  private async join(route: Route, running: ColdResolution, request: ManifestRequest): Promise<ManifestAnswer> {
    const answer = await running.answer;
    if (request.head) return { ...answer, body: undefined, result: 'joined' };
    if (!running.head && answer.body) return { ...answer, result: 'joined' };
    const byDigest = await this.manifests.byDigest(route, parseDigest(answer.digest), request);
    return { ...byDigest, result: byDigest.result === 'hit' ? 'joined' : byDigest.result };
  }

  /**
   * The record as known here, without asking upstream: from memory while fresh, else from the metadata
   * store (another replica may have revalidated it meanwhile). An unreadable store gives what memory has.
   */
  async recorded(route: Route, tag: string): Promise<TagRecord | undefined> {
    const fresh = this.rememberedFresh(route, tag);
    if (fresh) return fresh;
    const key = tagKey(route, tag);
    const remembered = this.memory.get(key);
    const context = { upstream: route.upstream.name, repository: route.repository, tag };
    const record = await this.parts.reads.attempt('tag', () => this.parts.records.getTag(route.upstream.name, route.repository, tag), undefined, context);
    if (record) this.memory.set(key, record);
    return record ?? remembered;
  }

  /** The record in memory while it is fresh, with no await: `recorded`'s first step and the memory answer's. */
  rememberedFresh(route: Route, tag: string): TagRecord | undefined {
    const remembered = this.memory.get(tagKey(route, tag));
    return remembered && this.fresh(route, tag, remembered) ? remembered : undefined;
  }

  /** The digest configuration pins the tag to, if any: such a tag is never asked upstream. */
  pinned(route: Route, tag: string): string | undefined {
    return this.options.policies.pinned(route.upstream.name, route.repository, tag);
  }

  /** Records what an imported image's tag points to; throws when the record cannot be written (the import fails). */
  async adopt(route: Route, tag: string, record: TagRecord): Promise<void> {
    await this.parts.records.setTag(route.upstream.name, route.repository, tag, record);
    this.memory.set(tagKey(route, tag), record);
    this.parts.onTag?.(route, tag, record);
    this.missing.forget(tagKey(route, tag));
  }

  /** The tag's record from a HEAD with the full Accept list (what every client gets), or undefined when the HEAD does not say. */
  private async learnForEveryone(route: Route, tag: string): Promise<TagRecord | undefined> {
    const head = await this.manifests.head(route, tag, undefined).catch((err: unknown) => {
      // The full list's 404: the tag does not exist for anyone.
      if (isMissing(err)) this.missing.remember(tagKey(route, tag), err);
      throw err;
    });
    if (!head.digest || !isDigest(head.digest) || !head.mediaType || head.size === undefined) return undefined;
    let digest: Digest;
    try {
      digest = parseDigest(head.digest);
    } catch {
      return undefined; // a malformed digest header: the GET that follows decides
    }
    await this.parts.visibility.remember(route, digest);
    const record = { digest: head.digest, mediaType: head.mediaType, size: head.size, checkedAt: this.clock() };
    await this.write(route, tag, record);
    return record;
  }

  /** One upstream HEAD per expired tag at a time; if it fails or is slow, the last known digest is served. */
  private async revalidate(route: Route, tag: string, record: TagRecord, request: ManifestRequest): Promise<ManifestAnswer> {
    const upstream = route.upstream.name;
    const key = tagKey(route, tag);
    const work = this.revalidations.run(key, () =>
      underRevalidationLease(
        this.parts.locks,
        key,
        () => this.headAndRecord(route, tag, record, request),
        async (locks) => {
          const read = () => this.parts.records.getTag(upstream, route.repository, tag);
          const next = await revalidatedElsewhere(locks, key, read, record, this.clock, this.clock() + this.options.upstreamTimeoutMs);
          this.memory.set(key, next);
          return next;
        },
      ),
    );
    try {
      const next = await raceTimeout(work, this.options.staleTimeoutMs);
      return await this.fromRecord(route, next, request, next.digest === record.digest ? 'hit' : 'miss');
    } catch (err) {
      if (isMissing(err)) {
        // Upstream says the tag is gone: that is an answer, not an outage.
        this.metrics.tagRevalidations.inc({ upstream, outcome: 'gone' });
        await this.forget(route, tag);
        this.missing.remember(key, err);
        throw err;
      }
      const first = (this.retryAfter.get(key) ?? 0) <= this.clock();
      this.retryAfter.set(key, this.clock() + revalidationBackoffMs);
      if (err instanceof RevalidatedElsewhereFailed) return this.fromRecord(route, record, request, 'stale');
      const timedOut = err instanceof RaceTimeout;
      this.metrics.tagRevalidations.inc({ upstream, outcome: timedOut ? 'timeout' : 'error' });
      if (first)
        this.log.warn(
          { upstream, repository: route.repository, tag, digest: record.digest, reason: timedOut ? 'timeout' : describeError(err) },
          'upstream revalidation failed; serving last known digest',
        );
      return this.fromRecord(route, record, request, 'stale');
    }
  }

  /** The revalidation itself: one HEAD (with the full Accept list), the move followed or refused, the record written. */
  private async headAndRecord(route: Route, tag: string, record: TagRecord, request: ManifestRequest): Promise<TagRecord> {
    const upstream = route.upstream.name;
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
