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
import { SingleFlight } from './single-flight.js';
import type { Visibility } from './visibility.js';
import { DiskWriteError, type BlobStore, type FlightLease, type FlightLocks, type RandomAccess, type Route } from './ports.js';

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
}

export interface BlobAnswer {
  /** Undefined only when an upstream in flight did not announce a length. */
  readonly size: number | undefined;
  readonly result: CacheResult;
  /** The whole blob, when it is small and in memory. */
  readonly bytes?: Buffer;
  /** Opens the body, or an inclusive byte range of it; absent for HEAD. */
  readonly open: ((range?: ByteRange) => Readable) | undefined;
  /** Random access from `start` (disk hits and flights alike); `done` must be called once sent. */
  readonly file?: (start: number) => Promise<OpenBlob>;
}

export interface OpenBlob {
  readonly access: RandomAccess;
  /** Call once sent: until then eviction passes the blob by. */
  done(): void;
}

/** How often a replica waiting on another replica's download looks for the committed blob. */
const remotePollMs = 100;

/** Cache-fill work below 5 % under the cap, so eviction does not run on every commit. */
const lowWatermark = 0.95;

export class BlobCache {
  readonly index = new BlobIndex();
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
  ) {
    this.memory = new LRUCache<string, Buffer>({
      maxSize: Math.max(1, options.blobMemoryBytes),
      sizeCalculation: (b) => Math.max(1, b.length),
    });
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

  async blob(route: Route, digest: Digest, request: { head: boolean }): Promise<BlobAnswer> {
    const size = this.index.touch(digest.value);
    if (size !== undefined) {
      await this.confirm(route, digest);
      // Content cached through another repository is pinned once a pinned repository asks for it.
      if (!this.index.isPinned(digest.value) && this.options.pinned(`${route.upstream.name}/${route.repository}`)) await this.pin(digest);
      return this.hit(digest, size, request.head);
    }
    const flight = this.flights.get(digest.value);
    if (flight) return this.joinLocal(route, digest, flight);
    // Another replica sharing the cache volume may have committed it.
    const committed = await this.adoptFromDisk(digest);
    if (committed !== undefined) {
      await this.confirm(route, digest);
      return this.hit(digest, committed, request.head);
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
        return { ...(await this.hit(digest, committed, false)), result: 'joined' };
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

  /** One upstream HEAD per repository and digest at a time, however many clients ask. */
  private headUpstream(route: Route, digest: Digest): Promise<{ size: number | undefined }> {
    const key = `${route.upstream.name}/${route.repository}@${digest.value}`;
    return this.heads.run(key, () => route.upstream.headBlob(route.repository, digest.value, this.upstreamSignal()));
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

  /** Reads small content (manifests) when it is cached. */
  async read(digest: Digest, signal: AbortSignal): Promise<Buffer | undefined> {
    if (!this.index.has(digest.value)) return undefined;
    return this.store.readAll(digest, signal);
  }

  async pin(digest: Digest): Promise<void> {
    this.index.pin(digest.value);
    await this.store.pin(digest);
  }

  private async hit(digest: Digest, size: number, head: boolean): Promise<BlobAnswer> {
    if (head) return { size, result: 'hit', open: undefined };
    let bytes = size <= this.options.smallBlobBytes ? this.memory.get(digest.value) : undefined;
    if (!bytes && size <= this.options.smallBlobBytes) {
      bytes = await this.store.readAll(digest, this.upstreamSignal());
      if (bytes) this.memory.set(digest.value, bytes);
    }
    if (bytes) return { size, result: 'hit', bytes, open: (range) => this.store.read(digest, range), file: () => this.openCommitted(digest) };
    return { size, result: 'hit', open: (range) => this.store.read(digest, range), file: () => this.openCommitted(digest) };
  }

  /**
   * Opens a committed blob for sending, protected from eviction until done(). A file that vanished
   * (quarantined by verify, deleted by hand) leaves the index, so the next request fetches it again.
   */
  private async openCommitted(digest: Digest): Promise<OpenBlob> {
    this.index.acquire(digest.value);
    const access = await this.store.openRead(digest).catch(() => undefined);
    if (!access) {
      this.index.release(digest.value);
      this.index.remove(digest.value);
      this.memory.delete(digest.value);
      this.reportSize();
      throw new OciError('UNAVAILABLE', `the cached copy of ${digest.value} is gone; retry to fetch it again`);
    }
    let released = false;
    return {
      access,
      done: () => {
        if (released) return;
        released = true;
        this.index.release(digest.value);
      },
    };
  }

  private join(flight: BlobFlight, result: CacheResult): BlobAnswer {
    return {
      size: flight.size,
      result,
      open: (range) => flight.reader(range?.start, range?.end),
      // A flight that finished (and closed its temp file) before this reader came is read from the cache.
      file: async (start) => (flight.open ? { access: flight.cursor(start), done: () => undefined } : this.openCommitted(flight.digest)),
    };
  }

  private startFlight(route: Route, digest: Digest, lease: FlightLease | undefined): BlobFlight {
    const upstream = route.upstream.name;
    const signal = AbortSignal.any([this.shutdown, AbortSignal.timeout(this.options.flightTimeoutMs)]);
    const context = { upstream, repository: route.repository, digest: digest.value };
    const pin = this.options.pinned(`${upstream}/${route.repository}`);
    const flight = new BlobFlight(digest, route, this.store, signal, {
      onBytes: (bytes) => this.metrics.upstreamBytes.inc({ upstream }, bytes),
      onCommitted: (size) => this.committed(digest.value, size, pin),
      onMismatch: (err) => {
        this.metrics.digestMismatches.inc({ upstream, kind: 'blob' });
        this.log.error({ ...context, err: err.message }, 'upstream blob does not match its digest; not cached, clients cut off');
      },
      onDiskFailure: (err) => {
        // New requests must not join: the window in memory only serves the readers already here.
        this.flights.delete(digest.value);
        this.metrics.cacheWriteErrors.inc({ kind: 'blob' });
        const cause = err instanceof DiskWriteError ? err.cause : err;
        this.log.error({ ...context, err: describeError(cause) }, 'cache write failed; clients keep receiving upstream bytes, blob not cached');
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
    });
    this.flights.set(digest.value, flight);
    this.metrics.flightsInProgress.inc({ upstream });
    // Upstream answering 200 for this repository is what makes the digest visible to it; registered
    // before any joiner waits, so joiners through the same repository need no confirmation.
    flight.started.then(
      () =>
        this.visibility.remember(route, digest).catch((err: unknown) => this.log.warn({ ...context, err: describeError(err) }, 'could not record visibility')),
      () => undefined,
    );
    void flight.run();
    return flight;
  }

  private committed(digest: string, size: number, pin: boolean): void {
    this.index.add(digest, size);
    if (pin) void this.pin(parseDigest(digest)).catch((err: unknown) => this.log.warn({ digest, err: describeError(err) }, 'could not record pin'));
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
