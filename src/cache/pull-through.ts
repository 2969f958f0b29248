// The pull-through policy: digests local-first, tags fresh within a window, one upstream flight per digest.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { isDigest, parseDigest, type Digest } from '../oci/digest.js';
import { OciError, isOciError, describeError } from '../oci/errors.js';
import { accepts, acceptsEveryManifestType, defaultManifestAccept, maxManifestBytes, parseAccept, upstreamAccept } from '../oci/media-types.js';
import { assertTag } from '../oci/names.js';
import { repositoryMatcher, type RepositoryMatcher } from '../oci/repository-pattern.js';
import type { Logger } from '../log.js';
import type { CacheResult, Metrics } from '../metrics.js';
import { BlobCache, type BlobAnswer, type BlobCacheOptions } from './blob-cache.js';
import { CacheScrub } from './cache-scrub.js';
import { CacheWrites } from './cache-writes.js';
import { KnownSizes } from './known-sizes.js';
import { DamagedBlobError, DigestMismatchError, type BlobStore, type ManifestInfo, type MetadataStore, type Route, type TagRecord } from './ports.js';
import { SingleFlight } from './single-flight.js';
import type { Sanctioned } from './sanctioned.js';
import { TagPolicies } from './tag-policy.js';
import { Visibility } from './visibility.js';

export interface PullThroughOptions {
  /** How long a tag resolution is served without asking upstream. */
  readonly tagTtlMs: number;
  /** How long a revalidation may take before the last known digest is served instead. */
  readonly staleTimeoutMs: number;
  /** Deadline for one upstream blob fetch, however many clients share it. */
  readonly flightTimeoutMs: number;
  /** Deadline for one upstream manifest or HEAD request made on the cache's behalf. */
  readonly upstreamTimeoutMs: number;
  /** Bytes of manifests kept in memory. */
  readonly manifestMemoryBytes: number;
  readonly clock?: () => number;
  /** Immutable and pinned tags; none when absent. */
  readonly tagPolicies?: TagPolicies;
  /** When set, only these images (and what they reference) are served. */
  readonly sanctioned?: Sanctioned;
  /** Bytes per second the background scrub re-hashes (see startScrub); 0 or absent: no scrub. */
  readonly scrubBytesPerSecond?: number;
}

export type { BlobAnswer };

export interface ManifestAnswer {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number | undefined;
  /** Present for GET; HEAD answers never read a body. */
  readonly body: Buffer | undefined;
  readonly result: CacheResult;
}

interface StoredManifest extends ManifestInfo {
  readonly body: Buffer;
}

export class PullThrough {
  private readonly manifestFetches = new SingleFlight<StoredManifest & { digest: string }>();
  private readonly revalidations = new SingleFlight<TagRecord>();
  private readonly heads = new SingleFlight<{ digest: string | undefined; mediaType: string | undefined; size: number | undefined }>();
  private readonly memory: LRUCache<string, StoredManifest>;
  /** Tags whose revalidation just failed, and until when they are served stale without asking again. */
  private readonly retryAfter = new LRUCache<string, number>({ max: 10_000 });
  /** Tag records in front of the metadata store: a tag hit must not cost a file or network read. */
  private readonly tags = new LRUCache<string, TagRecord>({ max: 10_000 });
  private readonly shutdown = new AbortController();
  private readonly clock: () => number;
  private readonly pinned: RepositoryMatcher;

  readonly blobs: BlobCache;
  /** Every cache write on the request path goes through here (counted, logged per interval, readiness). */
  readonly writes: CacheWrites;
  private readonly knownSizes = new KnownSizes();
  private readonly visibility: Visibility;
  private readonly tagPolicies: TagPolicies;

  constructor(
    store: BlobStore,
    private readonly metadata: MetadataStore,
    private readonly options: PullThroughOptions & Omit<BlobCacheOptions, 'pinned'> & { readonly pinnedRepositories?: readonly string[] },
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.clock = options.clock ?? Date.now;
    this.pinned = repositoryMatcher(options.pinnedRepositories ?? []);
    this.writes = new CacheWrites(metrics, log, this.clock);
    this.visibility = new Visibility(metadata, this.writes);
    this.tagPolicies = options.tagPolicies ?? new TagPolicies(new Map());
    this.blobs = new BlobCache(store, this.visibility, { ...options, pinned: this.pinned }, this.shutdown.signal, metrics, log, this.writes, this.knownSizes);
    this.memory = new LRUCache<string, StoredManifest>({
      maxSize: Math.max(1, options.manifestMemoryBytes),
      sizeCalculation: (m) => Math.max(1, m.body.length),
    });
  }

  // ---- manifests -------------------------------------------------------------------------------

  async manifest(route: Route, reference: string, request: { accept: string | undefined; head: boolean }): Promise<ManifestAnswer> {
    const sanctioned = this.options.sanctioned;
    if (isDigest(reference)) parseDigest(reference);
    else assertTag(reference);
    sanctioned?.check(route, reference);
    const answer = isDigest(reference)
      ? await this.manifestByDigest(route, parseDigest(reference), request)
      : await this.manifestByTag(route, reference, request);
    sanctioned?.learn(answer.digest, answer.body);
    // The sizes it gives its blobs bound their downloads through this repository.
    if (answer.body) this.knownSizes.learnManifest(route, answer.digest, answer.body);
    return answer;
  }

  private async manifestByDigest(route: Route, digest: Digest, request: { accept: string | undefined; head: boolean }): Promise<ManifestAnswer> {
    const local = await this.localManifest(digest, !request.head);
    if (local) {
      if (!(await this.visibility.allows(route, digest))) {
        // Cached for another repository (of a private upstream): this one must hold it too.
        await this.upstreamHead(route, digest.value, request.accept);
        await this.visibility.remember(route, digest);
      }
      return { digest: digest.value, ...local, result: 'hit' };
    }
    if (request.head) {
      const head = await this.upstreamHead(route, digest.value, request.accept);
      await this.visibility.remember(route, digest);
      return {
        digest: digest.value,
        mediaType: head.mediaType ?? 'application/octet-stream',
        size: head.size,
        body: undefined,
        result: 'miss',
      };
    }
    const fetched = await this.fetchManifest(route, digest.value, request.accept, digest);
    return { ...fetched, result: 'miss' };
  }

  private async manifestByTag(route: Route, tag: string, request: { accept: string | undefined; head: boolean }): Promise<ManifestAnswer> {
    const upstream = route.upstream.name;
    const pinned = this.tagPolicies.pinned(upstream, route.repository, tag);
    // A pinned tag never asks upstream what it points to: it is exactly the pinned digest.
    if (pinned) return this.manifestByDigest(route, parseDigest(pinned), request);
    const record = await this.readTag(upstream, route.repository, tag);
    const usable = record !== undefined && accepts(parseAccept(request.accept), record.mediaType);
    if (usable) {
      // Offline, the last known digest is the answer for good: there is nobody to ask.
      if (route.upstream.offline || this.clock() - record.checkedAt < this.options.tagTtlMs) return this.fromRecord(route, record, request, 'hit');
      // Upstream failed a moment ago: serve the last known digest without asking (and logging) again.
      if ((this.retryAfter.get(`${upstream}/${route.repository}:${tag}`) ?? 0) > this.clock()) return this.fromRecord(route, record, request, 'stale');
      return this.revalidate(route, tag, record, request);
    }
    if (request.head) {
      const head = await this.upstreamHead(route, tag, request.accept);
      if (head.digest && isDigest(head.digest) && head.mediaType && head.size !== undefined) {
        await this.visibility.remember(route, parseDigest(head.digest));
        const fresh = { digest: head.digest, mediaType: head.mediaType, size: head.size, checkedAt: this.clock() };
        if (!record && acceptsEveryManifestType(request.accept)) await this.writeTag(upstream, route.repository, tag, fresh);
        return { ...fresh, body: undefined, result: 'miss' };
      }
      // An upstream HEAD without digest or length: containerd would GET next, so do that now.
    }
    const fetched = await this.fetchManifest(route, tag, request.accept, undefined);
    // A client with an unusual Accept gets its own answer, which neither displaces nor becomes the record.
    if (!record && acceptsEveryManifestType(request.accept)) {
      await this.writeTag(upstream, route.repository, tag, {
        digest: fetched.digest,
        mediaType: fetched.mediaType,
        size: fetched.size,
        checkedAt: this.clock(),
      });
    }
    return { ...fetched, body: request.head ? undefined : fetched.body, result: 'miss' };
  }

  /** One upstream HEAD per expired tag at a time; if it fails or is slow, the last known digest is served. */
  private async revalidate(route: Route, tag: string, record: TagRecord, request: { accept: string | undefined; head: boolean }): Promise<ManifestAnswer> {
    const upstream = route.upstream.name;
    const key = `${upstream}/${route.repository}:${tag}`;
    const work = this.revalidations.run(key, async () => {
      const signal = this.upstreamSignal();
      // The full list, not the client's: whether the tag moved must not depend on who asked.
      const head = await route.upstream.headManifest(route.repository, tag, defaultManifestAccept, signal);
      let next: TagRecord;
      // A HEAD without a digest says nothing about a move: it is not reported as one.
      const immutability = !head.digest || head.digest === record.digest ? undefined : this.tagPolicies.immutability(upstream, route.repository, tag);
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
          ? await this.fetchManifest(route, head.digest, request.accept, parseDigest(head.digest))
          : await this.fetchManifest(route, tag, request.accept, undefined);
        next = { digest: fetched.digest, mediaType: fetched.mediaType, size: fetched.size, checkedAt: this.clock() };
        this.metrics.tagRevalidations.inc({ upstream, outcome: 'changed' });
        this.log.info({ upstream, repository: route.repository, tag, from: record.digest, to: next.digest }, 'tag moved upstream');
      }
      await this.writeTag(upstream, route.repository, tag, next);
      return next;
    });
    try {
      const next = await raceTimeout(work, this.options.staleTimeoutMs);
      return await this.fromRecord(route, next, request, next.digest === record.digest ? 'hit' : 'miss');
    } catch (err) {
      if (isOciError(err) && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN')) {
        // Upstream says the tag is gone: that is an answer, not an outage.
        this.metrics.tagRevalidations.inc({ upstream, outcome: 'gone' });
        await this.forgetTag(upstream, route.repository, tag);
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

  private async readTag(upstream: string, repository: string, tag: string): Promise<TagRecord | undefined> {
    const key = `${upstream}/${repository}:${tag}`;
    const remembered = this.tags.get(key);
    // A remembered record that is still fresh is the answer; an expired one is looked up again first,
    // because another replica sharing the metadata store may have revalidated it meanwhile.
    if (remembered && this.clock() - remembered.checkedAt < this.options.tagTtlMs) return remembered;
    const record = await this.metadata.getTag(upstream, repository, tag);
    if (record) this.tags.set(key, record);
    return record ?? remembered;
  }

  private async writeTag(upstream: string, repository: string, tag: string, record: TagRecord): Promise<void> {
    this.tags.set(`${upstream}/${repository}:${tag}`, record);
    await this.writes.attempt('metadata', 'tag record', () => this.metadata.setTag(upstream, repository, tag, record), { upstream, repository, tag });
  }

  private async forgetTag(upstream: string, repository: string, tag: string): Promise<void> {
    this.tags.delete(`${upstream}/${repository}:${tag}`);
    await this.writes.attempt('metadata', 'tag removal', () => this.metadata.deleteTag(upstream, repository, tag), { upstream, repository, tag });
  }

  private async fromRecord(
    route: Route,
    record: TagRecord,
    request: { accept: string | undefined; head: boolean },
    result: CacheResult,
  ): Promise<ManifestAnswer> {
    if (request.head) return { digest: record.digest, mediaType: record.mediaType, size: record.size, body: undefined, result };
    const digest = parseDigest(record.digest);
    const local = await this.localManifest(digest, true);
    if (local) return { digest: record.digest, ...local, result };
    // Known from a HEAD only, or the body went missing: fetch it by digest.
    const fetched = await this.fetchManifest(route, record.digest, request.accept, digest);
    return { ...fetched, result: result === 'hit' ? 'miss' : result };
  }

  /**
   * A cached manifest: only what tender stored as a manifest (its metadata record names the media type),
   * never a blob asked for through the manifest route, and never anything over the 4 MiB manifest cap
   * read into memory. Read from disk it is hashed every time. Undefined sends the request the miss way:
   * upstream is asked by digest, and its answer for a blob (404, or an error) is what the client gets.
   */
  private async localManifest(digest: Digest, withBody: boolean): Promise<{ mediaType: string; size: number; body: Buffer | undefined } | undefined> {
    // The index, not the metadata, says what is cached (an evicted manifest keeps its metadata);
    // looking it up also keeps a busy manifest recent, so eviction passes it by.
    // Not in this replica's index: another replica sharing the volume may have stored it.
    const size = this.blobs.lookup(digest) ?? (await this.blobs.adoptFromDisk(digest));
    if (size === undefined) {
      this.memory.delete(digest.value);
      return undefined;
    }
    const remembered = this.memory.get(digest.value);
    if (remembered) return remembered;
    // The size from the index decides before any read: a 256 MiB layer is never opened as a manifest.
    if (size > maxManifestBytes) return undefined;
    const info = await this.metadata.getManifest(digest.value);
    if (!info) return undefined;
    if (info.size !== size) {
      // Stored as a manifest of another length: the file changed on disk since.
      this.blobs.verification.damaged(
        digest,
        this.blobs.index.entryId(digest.value),
        'manifest',
        new DamagedBlobError(digest.value, 'size', `the file has ${size} bytes, the manifest ${info.size}`),
      );
      return undefined;
    }
    if (!withBody) return { ...info, body: undefined };
    const body = await this.blobs.readSmall(digest, maxManifestBytes, 'manifest');
    if (!body) return undefined;
    const stored = { mediaType: info.mediaType, size: body.length, body };
    this.memory.set(digest.value, stored);
    return stored;
  }

  /** A cached manifest's body (hashed when read from disk), without asking upstream; for priming at start. */
  async cachedManifest(digest: Digest): Promise<Buffer | undefined> {
    return (await this.localManifest(digest, true))?.body;
  }

  /** GETs a manifest, verifies it against the digest asked for (or the one upstream claims), stores it. */
  private fetchManifest(
    route: Route,
    reference: string,
    accept: string | undefined,
    expected: Digest | undefined,
  ): Promise<StoredManifest & { digest: string }> {
    const upstream = route.upstream.name;
    // Shared by digest across repositories only where content is public: a private repository must not
    // receive what another repository's fetch brought in.
    const shared = expected && !route.upstream.private;
    const key = shared ? expected.value : `${upstream}/${route.repository}:${reference}|${upstreamAccept(accept)}`;
    return this.manifestFetches.run(key, async () => {
      const got = await route.upstream.getManifest(route.repository, reference, upstreamAccept(accept), this.upstreamSignal());
      const claimed = expected ?? (got.digest && isDigest(got.digest) ? parseDigest(got.digest) : undefined);
      const actual = `${claimed?.algorithm ?? 'sha256'}:${createHash(claimed?.algorithm ?? 'sha256')
        .update(got.body)
        .digest('hex')}`;
      if (claimed && claimed.value !== actual) {
        const mismatch = new DigestMismatchError(claimed.value, actual, undefined, got.body.length);
        this.metrics.digestMismatches.inc({ upstream, kind: 'manifest' });
        this.log.error(
          { upstream, repository: route.repository, reference, expected: claimed.value, actual },
          'upstream manifest does not match its digest; not cached',
        );
        throw new OciError('UPSTREAM_ERROR', mismatch.message);
      }
      const digest = claimed ?? parseDigest(actual);
      await this.visibility.remember(route, digest);
      const stored = { mediaType: got.mediaType, size: got.body.length, body: got.body };
      await this.storeManifest(digest, stored, this.pinned(`${upstream}/${route.repository}`));
      return { digest: digest.value, ...stored };
    });
  }

  private async storeManifest(digest: Digest, manifest: StoredManifest, pin: boolean): Promise<void> {
    this.memory.set(digest.value, manifest);
    // The client still gets the verified manifest from memory when the disk refuses it; only the disk copy is lost.
    await this.writes.attempt(
      'manifest',
      'manifest',
      async () => {
        // Metadata first: the body is only reachable through the index once it is committed.
        await this.metadata.setManifest(digest.value, { mediaType: manifest.mediaType, size: manifest.size });
        await this.blobs.put(digest, manifest.body, pin);
      },
      { digest: digest.value },
    );
  }

  private upstreamHead(route: Route, reference: string, accept: string | undefined) {
    const key = `${route.upstream.name}/${route.repository}:${reference}|${upstreamAccept(accept)}`;
    return this.heads.run(key, () => route.upstream.headManifest(route.repository, reference, upstreamAccept(accept), this.upstreamSignal()));
  }

  // ---- blobs -----------------------------------------------------------------------------------

  blob(route: Route, reference: string, request: { head: boolean }): Promise<BlobAnswer> {
    const digest = parseDigest(reference);
    this.options.sanctioned?.check(route, digest.value);
    return this.blobs.blob(route, digest, request);
  }

  /** Pass-through routes: nothing to cache, but they share the upstream client and its tokens. */
  listTags(route: Route, query: string) {
    return route.upstream.listTags(route.repository, query, this.upstreamSignal());
  }

  referrers(route: Route, reference: string, query: string) {
    const digest = parseDigest(reference);
    return route.upstream.referrers(route.repository, digest.value, query, this.upstreamSignal());
  }

  /** Starts the background scrub, when it has a rate; it ends at close(). For the serving process only. */
  startScrub(): void {
    const kindOf = async (digest: string, size: number) =>
      size <= maxManifestBytes && (await this.metadata.getManifest(digest).catch(() => undefined)) ? ('manifest' as const) : ('blob' as const);
    const scrub = new CacheScrub(this.blobs.index, this.blobs.verification, this.options.scrubBytesPerSecond ?? 0, kindOf, this.metrics, this.log);
    void scrub.run(this.shutdown.signal);
  }

  /** Aborts every flight still running (used at shutdown after the drain deadline). */
  close(): void {
    this.shutdown.abort(new Error('tender is shutting down'));
  }

  private upstreamSignal(): AbortSignal {
    // A timeout alone: AbortSignal.any() with the long-lived shutdown signal leaks on Node 20 for every
    // call (nodejs/node#55351); at shutdown the upstream clients are destroyed instead.
    return AbortSignal.timeout(this.options.upstreamTimeoutMs);
  }
}

class RevalidationTimeout extends Error {}

/** While upstream is failing, an expired tag is asked about again at most this often. */
const revalidationBackoffMs = 10_000;

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
