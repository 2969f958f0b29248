// What the provenance inventory is given: its options, and what it asks of the cache.

export interface InventoryOptions {
  /** This writer's name in the per-writer pull counts (the replica id; commands add their own suffix). */
  readonly writer: string;
  readonly flushIntervalMs: number;
  /** How long records of evicted content are kept. */
  readonly retentionMs: number;
  readonly clock: () => number;
}

/** What the inventory asks of the cache: config blobs and manifests it holds (hashed reads), sizes, pins. */
export interface InventoryCache {
  read(digest: string, maxBytes: number): Promise<Buffer | undefined>;
  size(digest: string): number | undefined;
  pinned(digest: string): boolean;
}
