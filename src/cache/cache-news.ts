// The port between processes that serve one cache directory on one host (workers, issue 17): what one of
// them committed or evicted, what was read, and which one owns eviction. workers/host-news.ts implements it
// over the primary process; a single process has none.
//
// Why news rather than one index in the primary: a hit must be answered from memory in the process that got
// it, without a round trip. Each worker keeps the whole index, kept the host's by these messages; only the
// eviction owner needs recency, so reads are sent to it in batches.

export interface CacheNewsHandlers {
  /** Another process committed (and verified) `digest` at its final path. */
  committed(digest: string, size: number): void;
  /** The eviction owner evicted these digests: they are gone from the host's index. */
  evicted(digests: readonly string[]): void;
  /** Digests read elsewhere since the last batch (recency for the owner's eviction order). */
  touched(digests: readonly string[]): void;
  /** This process became the eviction owner (at start, or when the owner died). */
  owner(): void;
}

export interface CacheNews {
  committed(digest: string, size: number): void;
  evicted(digests: readonly string[]): void;
  /** Called on every hit: implementations batch. */
  touched(digest: string): void;
  /** Whether this process runs eviction for the host now. */
  isEvictionOwner(): boolean;
  /** Starts delivering the other processes' news. */
  listen(handlers: CacheNewsHandlers): void;
}
