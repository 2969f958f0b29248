// What is committed: the index (private to this class), small blobs kept in memory, pins, serve-time
// verification, eviction and the background scrub. Manifests, the blob cache and imports all store and
// read committed content through here; none of them sees the index.
import type { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import { parseDigest, type Digest } from '../oci/digest.js';
import { repositoryMatcher, type RepositoryMatcher } from '../oci/repository-pattern.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { BlobIndex } from './blob-index.js';
import { DamagedBlobError, type BlobStore } from './blob-store.js';
import type { CacheNews } from './cache-news.js';
import { CacheScrub } from './cache-scrub.js';
import type { CacheWrites } from './cache-writes.js';
import { Eviction } from './eviction.js';
import type { Route } from './ports.js';
import { ServeVerification, type CachedKind, type OpenBlob } from './serve-verification.js';

export interface StoredBlobOptions {
  /** Cap on cached bytes; 0 means no cap. */
  readonly maxCacheBytes: number;
  /** Bytes of small blobs kept in memory once read. */
  readonly blobMemoryBytes: number;
  /** Digests pinned by configuration. */
  readonly pinnedDigests: readonly string[];
  /** Content fetched through these repositories (as `upstream/repository` patterns) is pinned. */
  readonly pinnedRepositories: readonly string[];
  /** Deadline for reading one small cached file whole (manifests, small blobs). */
  readonly readTimeoutMs: number;
  /** Bytes per second the background scrub re-hashes; 0: no scrub. */
  readonly scrubBytesPerSecond: number;
  /** Evicted files are unlinked this long after they leave the index (default 2 s). */
  readonly evictionGraceMs?: number;
}

/** Who hears of commits and evictions (the inventory, and the metadata clean-up); neither may throw. */
export interface StoredBlobListener {
  committed(digest: string): void;
  evicted(digest: string): void;
}

export class StoredBlobs {
  private readonly index = new BlobIndex();
  private readonly memory: LRUCache<string, Buffer>;
  private readonly verification: ServeVerification;
  private readonly eviction: Eviction;
  private readonly pinnedRepository: RepositoryMatcher;
  private listener: StoredBlobListener | undefined;

  constructor(
    private readonly store: BlobStore,
    private readonly options: StoredBlobOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly writes: CacheWrites,
    /** The other workers on this host (issue 17): their commits and evictions, and who evicts. */
    private readonly news?: CacheNews,
  ) {
    this.memory = new LRUCache<string, Buffer>({ maxSize: Math.max(1, options.blobMemoryBytes), sizeCalculation: (b) => Math.max(1, b.length) });
    this.pinnedRepository = repositoryMatcher(options.pinnedRepositories);
    const forget = (digest: string): void => {
      this.memory.delete(digest);
      this.reportSize();
    };
    this.verification = new ServeVerification(store, this.index, metrics, log, forget);
    const evictionOptions = {
      maxCacheBytes: options.maxCacheBytes,
      graceMs: options.evictionGraceMs ?? 2000,
      ...(news ? { isOwner: () => news.isEvictionOwner(), onEvicted: (digests: readonly string[]) => news.evicted(digests) } : {}),
    };
    // Heard once, by the process that evicted (the owner among workers), after the file is gone.
    const evicted = (digest: string): void => this.listener?.evicted(digest);
    this.eviction = new Eviction(this.index, store, evictionOptions, forget, metrics, log, evicted);
    news?.listen({
      committed: (digest, size) => this.record(digest, size, false),
      evicted: (digests) => {
        for (const digest of digests) {
          this.index.remove(digest);
          this.memory.delete(digest);
        }
        this.reportSize();
      },
      touched: (digests) => {
        for (const digest of digests) this.index.touch(digest);
      },
      owner: () => void this.eviction.run(),
    });
  }

  /** Set once by the facade, before any request. */
  listen(listener: StoredBlobListener): void {
    this.listener = listener;
  }

  /** Rebuilds the index from the store (at start), oldest first so recency survives a restart roughly. */
  async rebuild(): Promise<{ count: number; bytes: number }> {
    const found: Array<{ digest: string; size: number; mtimeMs: number }> = [];
    for await (const blob of this.store.list()) found.push({ digest: blob.digest.value, size: blob.size, mtimeMs: blob.mtimeMs });
    for await (const digest of this.store.pinned()) this.index.pin(digest);
    for (const digest of this.options.pinnedDigests) this.index.pin(digest);
    found.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const blob of found) this.index.add(blob.digest, blob.size);
    this.reportSize();
    await this.eviction.run();
    return { count: this.index.count, bytes: this.index.totalBytes };
  }

  /** Size of a committed blob, refreshing its recency (a busy blob is passed by eviction); from memory only. */
  size(digest: Digest): number | undefined {
    const size = this.index.touch(digest.value);
    if (size !== undefined) this.news?.touched(digest.value);
    return size;
  }

  /** Size of a blob found committed on disk though not indexed (another replica's), now indexed. */
  async adopt(digest: Digest): Promise<number | undefined> {
    // A damaged copy still being moved to quarantine must not be found again.
    await this.verification.settled(digest.value);
    const found = await this.store.stat(digest);
    if (!found) return undefined;
    this.index.add(digest.value, found.size);
    this.reportSize();
    return found.size;
  }

  /** Whether content fetched through `route` is pinned by configuration. */
  pinnedThrough(route: Route): boolean {
    return this.pinnedRepository(`${route.upstream.name}/${route.repository}`);
  }

  isPinned(digest: Digest): boolean {
    return this.index.isPinned(digest.value);
  }

  /** Pins a digest for good; a pin the disk refuses still holds in memory (counted by CacheWrites). */
  async pin(digest: Digest): Promise<void> {
    this.index.pin(digest.value);
    await this.writes.attempt('metadata', 'pin', () => this.store.pin(digest), { digest: digest.value });
  }

  /** Stores small verified content (manifests) through the same index and eviction; throws when the disk refuses it. */
  async put(digest: Digest, bytes: Buffer, pin: boolean): Promise<void> {
    const writer = await this.store.create(digest);
    await writer.write(bytes);
    await writer.commit(bytes.length);
    this.committed(digest.value, bytes.length, pin);
  }

  /** Stores content that arrives as a stream (an imported bundle): verified while written, committed by rename; throws DigestMismatchError. */
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

  /** A blob this process wrote and verified on the way is indexed as verified: it is never hashed again on serve. */
  committed(digest: string, size: number, pin: boolean): void {
    this.news?.committed(digest, size);
    this.record(digest, size, pin);
  }

  /**
   * Indexes a blob verified on the way in, by this process or by another worker of this host (which hashed
   * it as this one would have: the host is one tender); the file's stamp makes any later change show.
   */
  private record(digest: string, size: number, pin: boolean): void {
    this.index.add(digest, size, true);
    // Trusted once its stamp is known; a serve before that (microseconds) hashes it like any other.
    const id = this.index.entryId(digest);
    void this.store.stat(parseDigest(digest)).then(
      (state) => state && id !== undefined && this.index.setStamp(digest, id, state.stamp),
      () => undefined,
    );
    this.writes.succeeded();
    this.listener?.committed(digest);
    if (pin) void this.pin(parseDigest(digest));
    this.reportSize();
    void this.eviction.run();
  }

  /**
   * Reads small committed content (manifests) of at most `maxBytes`, hashed against its digest; undefined
   * when it is not cached, larger, or damaged (then dropped). Nothing larger is ever read into memory.
   */
  async readSmall(digest: Digest, maxBytes: number, kind: CachedKind): Promise<Buffer | undefined> {
    const size = this.index.touch(digest.value);
    if (size === undefined || size > maxBytes) return undefined;
    return this.verification.readSmall(digest, size, kind, this.readSignal());
  }

  /** A small blob of `size` bytes from memory, or read from disk (hashed) and kept; undefined when damaged or gone. */
  async smallBlob(digest: Digest, size: number): Promise<Buffer | undefined> {
    const remembered = this.memory.get(digest.value);
    if (remembered) return remembered;
    const bytes = await this.verification.readSmall(digest, size, 'blob', this.readSignal());
    if (bytes) this.memory.set(digest.value, bytes);
    return bytes;
  }

  /** A small blob's bytes when they are in memory (hashed when read), with no await. */
  remembered(digest: Digest): Buffer | undefined {
    return this.memory.get(digest.value);
  }

  /** Whether the blob's bytes are in memory, hashed when they were read. */
  inMemory(digest: Digest): boolean {
    return this.memory.has(digest.value);
  }

  /** Opens committed bytes `start`..`end` for sending (see ServeVerification.open); throws DamagedBlobError or CachedCopyGone. */
  open(digest: Digest, size: number | undefined, start: number, end: number): Promise<OpenBlob> {
    return this.verification.open(digest, size, start, end);
  }

  /** Hashes the whole file now (unless checked and unchanged); false when it is damaged or gone (dropped). */
  checkWhole(digest: Digest, size: number): Promise<boolean> {
    return this.verification.checkWhole(digest, size);
  }

  /** For a HEAD: one stat finds a file cut short, grown or gone; false when it was (dropped). */
  sizeUnchanged(digest: Digest, size: number): Promise<boolean> {
    return this.verification.sizeUnchanged(digest, size);
  }

  /** Drops a committed copy found to have another size than its record says (a manifest edited on disk). */
  damaged(digest: Digest, kind: CachedKind, detail: string): void {
    this.verification.damaged(digest, this.index.entryId(digest.value), kind, new DamagedBlobError(digest.value, 'size', detail));
  }

  /** Streams a committed blob as stored (export); the stream errors when it is gone. */
  stream(digest: Digest): Readable {
    return this.store.read(digest);
  }

  /** Starts the background scrub when it has a rate; it ends when `signal` aborts. */
  startScrub(kindOf: (digest: string, size: number) => Promise<CachedKind>, signal: AbortSignal): void {
    void new CacheScrub(this.index, this.verification, this.options.scrubBytesPerSecond, kindOf, this.metrics, this.log).run(signal);
  }

  private reportSize(): void {
    this.metrics.cacheMaxBytes.set(this.options.maxCacheBytes);
    this.metrics.cacheBytes.set(this.index.totalBytes);
    this.metrics.cacheObjects.set(this.index.count);
  }

  private readSignal(): AbortSignal {
    // A timeout alone: AbortSignal.any() with a long-lived signal leaks on Node 20 for every call (nodejs/node#55351).
    return AbortSignal.timeout(this.options.readTimeoutMs);
  }
}
