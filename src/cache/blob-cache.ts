// Blobs: the in-memory index and small-blob memory, one flight per uncached digest, and size-capped eviction.
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { parseDigest, type Digest } from '../oci/digest.js';
import { OciError, describeError } from '../oci/errors.js';
import type { ByteRange } from '../oci/range.js';
import type { RepositoryMatcher } from '../oci/repository-pattern.js';
import type { Logger } from '../log.js';
import type { CacheResult, Metrics } from '../metrics.js';
import { BlobFlight } from './blob-flight.js';
import { BlobIndex } from './blob-index.js';
import type { CacheWrites } from './cache-writes.js';
import type { KnownSizes } from './known-sizes.js';
import { CachedCopyGone, ServeVerification, type CachedKind, type OpenBlob } from './serve-verification.js';
import { SingleFlight } from './single-flight.js';
import type { Visibility } from './visibility.js';
import { DamagedBlobError, DigestMismatchError, DiskWriteError, type BlobStore, type FlightLease, type FlightLocks, type Route } from './ports.js';

export interface BlobCacheOptions {
  /** Cap on cached bytes; 0 means no cap. */
  readonly maxCacheBytes: number;
  /** Blobs up to this size are kept in memory once read. */
  readonly smallBlobBytes: number;
  /** Bytes of small blobs kept in memory. */
  readonly blobMemoryBytes: number;
  readonly flightTimeoutMs: number;
  readonly upstreamTimeoutMs: number;
  /** Content fetched through these repositories (as `upstream/repository`) is pinned. */
  readonly pinned: RepositoryMatcher;
  /** Cluster-wide single flight across replicas sharing the cache volume; per replica when absent. */
  readonly locks?: FlightLocks;
  readonly onLockFailure?: (err: unknown) => void;
  /** Digests pinned by configuration. */
  readonly pinnedDigests?: readonly string[];
  /** Files of evicted blobs are unlinked this long after they leave the index, so a request that just looked one up can still open it. */
  readonly evictionGraceMs?: number;
  /** The largest blob accepted from upstream when its size is not known otherwise (maxBlobSize). */
  readonly maxBlobBytes: number;
}

export interface BlobAnswer {
  /** Undefined only when an upstream in flight did not announce a length. */
  readonly size: number | undefined;
  readonly result: CacheResult;
  /** The whole blob, when it is small and in memory. */
  readonly bytes?: Buffer;
  /** Opens the body, or an inclusive byte range of it; absent for HEAD. */
  readonly open: ((range?: ByteRange) => Readable) | undefined;
  /**
   * Random access for sending bytes `start` to `end` (inclusive; Infinity for a body of unknown length),
   * disk hits and flights alike; `done` must be called once sent. A cached file not yet hashed by this
   * process is checked as it is sent (whole) or before (a range).
   */
  readonly file?: (start: number, end: number) => Promise<OpenBlob>;
}

/** A cached file that cannot be sent (damaged, gone, unreadable) is an outage of this copy, retried by clients. */
function unavailable(digest: Digest, err: unknown): OciError {
  if (err instanceof OciError) return err;
  return new OciError('UNAVAILABLE', `could not read the cached copy of ${digest.value}: ${describeError(err)}; retry to fetch it again`, { cause: err });
}

/** How often a replica waiting on another replica's download looks for the committed blob. */
const remotePollMs = 100;

/** Cache-fill work below 5 % under the cap, so eviction does not run on every commit. */
const lowWatermark = 0.95;

export class BlobCache {
  readonly index = new BlobIndex();
  readonly verification: ServeVerification;
  private readonly flights = new Map<string, BlobFlight>();
  private readonly memory: LRUCache<string, Buffer>;
  private evicting = false;
  private readonly heads = new SingleFlight<{ size: number | undefined }>();
  private readonly fetches = new SingleFlight<BlobAnswer>();

  constructor(
    private readonly store: BlobStore,
    private readonly visibility: Visibility,
    private readonly options: BlobCacheOptions,
    private readonly shutdown: AbortSignal,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly writes: CacheWrites,
    private readonly knownSizes: KnownSizes,
  ) {
    this.memory = new LRUCache<string, Buffer>({
      maxSize: Math.max(1, options.blobMemoryBytes),
      sizeCalculation: (b) => Math.max(1, b.length),
    });
    this.verification = new ServeVerification(store, this.index, metrics, log, (digest) => this.forgetCopies(digest));
  }

  /** Rebuilds the index from the store (at start), oldest first so recency survives a restart roughly. */
  async rebuild(): Promise<{ count: number; bytes: number }> {
    const found: Array<{ digest: string; size: number; mtimeMs: number }> = [];
    for await (const blob of this.store.list()) found.push({ digest: blob.digest.value, size: blob.size, mtimeMs: blob.mtimeMs });
    for await (const digest of this.store.pinned()) this.index.pin(digest);
    for (const digest of this.options.pinnedDigests ?? []) this.index.pin(digest);
    found.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const blob of found) this.index.add(blob.digest, blob.size);
    this.reportSize();
    await this.evictIfNeeded();
    return { count: this.index.count, bytes: this.index.totalBytes };
  }

  /** Size of a cached blob (refreshing its recency), from memory only. */
  lookup(digest: Digest): number | undefined {
    return this.index.touch(digest.value);
  }

  /** `recovering`: this request found its cached copy damaged and asks again; it may not recover twice. */
  async blob(route: Route, digest: Digest, request: { head: boolean }, recovering = false): Promise<BlobAnswer> {
    const size = this.index.touch(digest.value);
    if (size !== undefined) {
      await this.confirm(route, digest);
      // Content cached through another repository is pinned once a pinned repository asks for it.
      if (!this.index.isPinned(digest.value) && this.options.pinned(`${route.upstream.name}/${route.repository}`)) await this.pin(digest);
      const answer = await this.hit(route, digest, size, request.head, recovering);
      // Undefined: the file was damaged or gone, and is dropped: fetched below like any miss.
      if (answer) return answer;
    }
    const flight = this.flights.get(digest.value);
    if (flight) return this.joinLocal(route, digest, flight);
    // Another replica sharing the cache volume may have committed it.
    const committed = await this.adoptFromDisk(digest);
    if (committed !== undefined) {
      await this.confirm(route, digest);
      const answer = await this.hit(route, digest, committed, request.head, recovering);
      if (answer) return answer;
    }
    if (request.head) {
      const head = await this.headUpstream(route, digest);
      await this.visibility.remember(route, digest);
      return { size: head.size, result: 'miss', open: undefined };
    }
    // One decision per digest (per repository of a private upstream) however many local clients ask.
    const key = route.upstream.private ? `${route.upstream.name}/${route.repository}@${digest.value}` : digest.value;
    return this.fetches.run(key, () => this.fetch(route, digest));
  }

  private async joinLocal(route: Route, digest: Digest, flight: BlobFlight): Promise<BlobAnswer> {
    await flight.started;
    await this.confirm(route, digest);
    return this.join(flight, 'joined');
  }

  /** Size of a blob found committed on disk though not in the index (another replica's), now indexed. */
  async adoptFromDisk(digest: Digest): Promise<number | undefined> {
    // A damaged copy still being moved to quarantine must not be found again.
    await this.verification.settled(digest.value);
    const found = await this.store.stat(digest);
    if (!found) return undefined;
    this.index.add(digest.value, found.size);
    this.reportSize();
    return found.size;
  }

  /**
   * Starts the download here, unless another replica holds the digest's lease: then waits for its
   * commit on the shared volume, and takes over if that replica's lease runs out first.
   */
  private async fetch(route: Route, digest: Digest): Promise<BlobAnswer> {
    const locks = this.options.locks;
    if (!locks) return this.startAndJoin(route, digest, undefined);
    let lease: FlightLease | undefined;
    try {
      lease = await locks.acquire(digest.value);
    } catch (err) {
      this.options.onLockFailure?.(err);
      return this.startAndJoin(route, digest, undefined); // Redis trouble: single flight per replica
    }
    if (lease) return this.startAndJoin(route, digest, lease);
    const deadline = Date.now() + this.options.flightTimeoutMs;
    for (let polls = 1; Date.now() < deadline; polls++) {
      await sleep(remotePollMs);
      const local = this.flights.get(digest.value);
      if (local) return this.joinLocal(route, digest, local);
      const committed = await this.adoptFromDisk(digest);
      if (committed !== undefined) {
        await this.confirm(route, digest);
        // The other replica's commit, found damaged: dropped, and this replica keeps waiting or takes over.
        const answer = await this.hit(route, digest, committed, false, false);
        if (answer) return { ...answer, result: 'joined' };
      }
      if (polls % 10 !== 0) continue;
      try {
        if (await locks.held(digest.value)) continue;
        lease = await locks.acquire(digest.value);
      } catch (err) {
        this.options.onLockFailure?.(err);
        return this.startAndJoin(route, digest, undefined);
      }
      // The holder is gone (its lease ran out) and nothing was committed: this replica takes over.
      if (lease) return this.startAndJoin(route, digest, lease);
    }
    throw new OciError('UNAVAILABLE', `another replica's download of ${digest.value} did not finish in time`);
  }

  private async startAndJoin(route: Route, digest: Digest, lease: FlightLease | undefined): Promise<BlobAnswer> {
    const existing = this.flights.get(digest.value);
    if (existing) {
      await lease?.release();
      return this.joinLocal(route, digest, existing);
    }
    const flight = this.startFlight(route, digest, lease);
    await flight.started;
    return this.join(flight, 'miss');
  }

  /**
   * A digest cached (or arriving) for one repository is served to another only when visibility allows
   * it; otherwise the asking repository's upstream must confirm with a HEAD that it holds the digest.
   */
  private async confirm(route: Route, digest: Digest): Promise<void> {
    if (await this.visibility.allows(route, digest)) return;
    await this.headUpstream(route, digest);
    await this.visibility.remember(route, digest);
  }

  /** One upstream HEAD per repository and digest at a time, however many clients ask; its size is remembered. */
  private headUpstream(route: Route, digest: Digest): Promise<{ size: number | undefined }> {
    const key = `${route.upstream.name}/${route.repository}@${digest.value}`;
    return this.heads.run(key, async () => {
      const head = await route.upstream.headBlob(route.repository, digest.value, this.upstreamSignal());
      this.knownSizes.learn(route, digest.value, head.size);
      return head;
    });
  }

  /** Stores small verified content (manifests) through the same index and eviction. */
  async put(digest: Digest, bytes: Buffer, pin: boolean): Promise<void> {
    const writer = await this.store.create(digest);
    await writer.write(bytes);
    await writer.commit(bytes.length);
    this.committed(digest.value, bytes.length, pin);
  }

  /** Stores content that arrives as a stream (an imported bundle): verified while written, committed by rename. */
  async putStream(digest: Digest, size: number | undefined, chunks: AsyncIterable<Buffer>, pin: boolean): Promise<void> {
    const writer = await this.store.create(digest);
    try {
      for await (const chunk of chunks) await writer.write(chunk);
      await writer.commit(size);
    } catch (err) {
      await writer.abort().catch(() => undefined);
      throw err;
    }
    this.committed(digest.value, writer.written, pin);
  }

  /**
   * Reads small cached content (manifests) of at most `maxBytes`, hashed against its digest; undefined
   * when it is not cached, larger, or damaged (then dropped). Nothing larger is ever read into memory.
   */
  async readSmall(digest: Digest, maxBytes: number, kind: CachedKind): Promise<Buffer | undefined> {
    const size = this.index.touch(digest.value);
    if (size === undefined || size > maxBytes) return undefined;
    return this.verification.readSmall(digest, size, kind, this.upstreamSignal());
  }

  async pin(digest: Digest): Promise<void> {
    this.index.pin(digest.value);
    await this.writes.attempt('metadata', 'pin', () => this.store.pin(digest), { digest: digest.value });
  }

  /**
   * A hit's answer; undefined when the cached file turned out damaged or gone (dropped now), and the caller
   * fetches it like a miss. A small blob read from disk is hashed. When the size this repository's manifest
   * gave disagrees with the file, the file is hashed before any header is sent (a manifest can be wrong too).
   */
  private async hit(route: Route, digest: Digest, size: number, head: boolean, recovering: boolean): Promise<BlobAnswer | undefined> {
    const known = this.memory.has(digest.value) ? undefined : this.knownSizes.get(route, digest.value);
    if (known !== undefined && known !== size && !(await this.verification.checkWhole(digest, size))) return undefined;
    if (head) return (await this.verification.sizeUnchanged(digest, size)) ? { size, result: 'hit', open: undefined } : undefined;
    const file = (start: number, end: number) => this.serveCommitted(route, digest, size, start, end, recovering);
    if (size > this.options.smallBlobBytes) return { size, result: 'hit', open: (range) => this.store.read(digest, range), file };
    let bytes = this.memory.get(digest.value);
    if (!bytes) {
      bytes = await this.verification.readSmall(digest, size, 'blob', this.upstreamSignal());
      if (!bytes) return undefined;
      this.memory.set(digest.value, bytes);
    }
    return { size, result: 'hit', bytes, open: (range) => this.store.read(digest, range), file };
  }

  /** Drops what is kept in memory of a digest that left the index. */
  private forgetCopies(digest: string): void {
    this.memory.delete(digest);
    this.reportSize();
  }

  /**
   * Opens a cached blob for sending; when it turns out damaged or gone (dropped now), this request is
   * answered from a fresh download instead, as long as that has the size the response announced.
   */
  private async serveCommitted(route: Route, digest: Digest, size: number, start: number, end: number, recovering: boolean): Promise<OpenBlob> {
    try {
      return await this.verification.open(digest, size, start, end);
    } catch (err) {
      if (!(err instanceof DamagedBlobError || err instanceof CachedCopyGone)) throw unavailable(digest, err);
      const again = recovering ? undefined : await this.blob(route, digest, { head: false }, true);
      if (again?.file && again.size === size) return again.file(start, end);
      throw new OciError('UNAVAILABLE', `${err.message}; it was dropped from the cache, retry to fetch it again`);
    }
  }

  private join(flight: BlobFlight, result: CacheResult): BlobAnswer {
    return {
      size: flight.size,
      result,
      open: (range) => flight.reader(range?.start, range?.end),
      // A flight that finished (and closed its temp file) before this reader came is read from the cache.
      file: async (start, end) =>
        flight.open
          ? { access: flight.cursor(start), done: () => undefined }
          : this.verification.open(flight.digest, flight.size, start, end).catch((err: unknown) => {
              throw unavailable(flight.digest, err);
            }),
    };
  }

  private startFlight(route: Route, digest: Digest, lease: FlightLease | undefined): BlobFlight {
    const upstream = route.upstream.name;
    const signal = AbortSignal.any([this.shutdown, AbortSignal.timeout(this.options.flightTimeoutMs)]);
    const context = { upstream, repository: route.repository, digest: digest.value };
    const pin = this.options.pinned(`${upstream}/${route.repository}`);
    const limits = { expectedSize: this.knownSizes.get(route, digest.value), maxBytes: this.options.maxBlobBytes };
    const flight = new BlobFlight(
      digest,
      route,
      this.store,
      signal,
      {
        onBytes: (bytes) => this.metrics.upstreamBytes.inc({ upstream }, bytes),
        onCommitted: (size) => this.committed(digest.value, size, pin),
        onMismatch: (err) => {
          this.metrics.digestMismatches.inc({ upstream, kind: 'blob' });
          const what = err instanceof DigestMismatchError ? 'upstream blob does not match its digest' : 'upstream blob length refused';
          this.log.error({ ...context, err: err.message }, `${what}; not cached, clients cut off`);
        },
        onDiskFailure: (err) => {
          // New requests must not join: the window in memory only serves the readers already here.
          this.flights.delete(digest.value);
          const cause = err instanceof DiskWriteError ? err.cause : err;
          this.writes.failed('blob', 'blob download', cause, context);
        },
        onResume: (at, err) => {
          this.metrics.upstreamResumes.inc({ upstream });
          this.log.warn({ ...context, at, err: describeError(err) }, 'upstream blob download broke off; resuming with a Range request');
        },
        onFailure: (err) => {
          if ((err as { status?: number }).status !== undefined && (err as { status: number }).status < 500) return; // a 404 is an answer
          this.log.warn({ ...context, err: describeError(err) }, 'upstream blob fetch failed');
        },
        onEnd: () => {
          void lease?.release();
          if (this.flights.get(digest.value) === flight) this.flights.delete(digest.value);
          this.metrics.flightsInProgress.dec({ upstream });
        },
      },
      limits,
    );
    this.flights.set(digest.value, flight);
    this.metrics.flightsInProgress.inc({ upstream });
    // Upstream answering 200 for this repository is what makes the digest visible to it; registered
    // before any joiner waits, so joiners through the same repository need no confirmation.
    flight.started.then(
      () => this.visibility.remember(route, digest),
      () => undefined,
    );
    void flight.run();
    return flight;
  }

  /** A blob this process wrote and verified on the way is indexed as verified: it is never hashed again on serve. */
  private committed(digest: string, size: number, pin: boolean): void {
    this.index.add(digest, size, true);
    // Trusted once its stamp is known; a serve before that (microseconds) hashes it like any other.
    const id = this.index.entryId(digest);
    void this.store.stat(parseDigest(digest)).then(
      (state) => state && id !== undefined && this.index.setStamp(digest, id, state.stamp),
      () => undefined,
    );
    this.writes.succeeded();
    if (pin) void this.pin(parseDigest(digest));
    this.reportSize();
    void this.evictIfNeeded();
  }

  /** Evicts least recently used, unpinned, unread blobs until the cache is under its low watermark. */
  private async evictIfNeeded(): Promise<void> {
    const cap = this.options.maxCacheBytes;
    if (cap <= 0 || this.evicting || this.index.totalBytes <= cap) return;
    await this.evictOnce(cap);
    // Commits that arrived during the pass found it running and left: look again.
    if (this.index.totalBytes > cap && this.index.victims(1).length > 0) await this.evictIfNeeded();
  }

  private async evictOnce(cap: number): Promise<void> {
    this.evicting = true;
    try {
      const victims = this.index.victims(this.index.totalBytes - Math.floor(cap * lowWatermark));
      for (const victim of victims) {
        this.index.remove(victim.digest);
        this.memory.delete(victim.digest);
        this.metrics.evictions.inc();
        this.metrics.evictedBytes.inc(victim.size);
        const unlink = async (): Promise<void> => {
          if (this.index.has(victim.digest)) return; // fetched again meanwhile: the file is current
          await this.store
            .delete(parseDigest(victim.digest))
            .catch((err: unknown) => this.log.warn({ digest: victim.digest, err: describeError(err) }, 'could not delete evicted blob'));
        };
        const grace = this.options.evictionGraceMs ?? 2000;
        if (grace > 0) setTimeout(() => void unlink(), grace).unref();
        else await unlink();
      }
      if (victims.length > 0) this.log.info({ evicted: victims.length, cacheBytes: this.index.totalBytes, cap }, 'evicted least recently used blobs');
      if (this.index.totalBytes > cap) this.log.warn({ cacheBytes: this.index.totalBytes, cap }, 'cache over its cap: the rest is pinned or being read');
    } finally {
      this.evicting = false;
      this.reportSize();
    }
  }

  private reportSize(): void {
    this.metrics.cacheMaxBytes.set(this.options.maxCacheBytes);
    this.metrics.cacheBytes.set(this.index.totalBytes);
    this.metrics.cacheObjects.set(this.index.count);
  }

  private upstreamSignal(): AbortSignal {
    // See PullThrough.upstreamSignal: no AbortSignal.any() on the hot path.
    return AbortSignal.timeout(this.options.upstreamTimeoutMs);
  }
}
