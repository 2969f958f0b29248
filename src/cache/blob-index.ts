// What the cache holds, in memory: sizes, recency, readers in progress and pins, for hits without a
// syscall and for size-capped LRU eviction that never removes a blob being read or a pinned one.
//
// Hand-written rather than lru-cache: eviction here must skip entries that are in use or pinned and
// must delete files asynchronously; lru-cache evicts whatever is oldest, synchronously, on insert.

interface Entry {
  size: number;
  readers: number;
  pinned: boolean;
}

export class BlobIndex {
  /** Map order is recency order: oldest first. A touch moves an entry to the end. */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private readonly pins = new Set<string>();

  get totalBytes(): number {
    return this.bytes;
  }

  get count(): number {
    return this.entries.size;
  }

  /** Size of a cached blob, refreshing its recency; undefined when absent. */
  touch(digest: string): number | undefined {
    const entry = this.entries.get(digest);
    if (!entry) return undefined;
    this.entries.delete(digest);
    this.entries.set(digest, entry);
    return entry.size;
  }

  has(digest: string): boolean {
    return this.entries.has(digest);
  }

  /** Records a committed blob as the most recently used. */
  add(digest: string, size: number): void {
    const existing = this.entries.get(digest);
    if (existing) {
      this.touch(digest);
      return;
    }
    this.entries.set(digest, { size, readers: 0, pinned: this.pins.has(digest) });
    this.bytes += size;
  }

  /** Marks a blob in use; eviction passes it by until released. */
  acquire(digest: string): void {
    const entry = this.entries.get(digest);
    if (entry) entry.readers += 1;
  }

  release(digest: string): void {
    const entry = this.entries.get(digest);
    if (entry && entry.readers > 0) entry.readers -= 1;
  }

  pin(digest: string): void {
    this.pins.add(digest);
    const entry = this.entries.get(digest);
    if (entry) entry.pinned = true;
  }

  isPinned(digest: string): boolean {
    return this.pins.has(digest);
  }

  /** Forgets a blob (after its file is gone). */
  remove(digest: string): void {
    const entry = this.entries.get(digest);
    if (!entry) return;
    this.entries.delete(digest);
    this.bytes -= entry.size;
  }

  /**
   * Least recently used blobs that may go, oldest first, until `bytesToFree` is covered.
   * In-use and pinned blobs are skipped; the caller deletes and then calls remove().
   */
  victims(bytesToFree: number): Array<{ digest: string; size: number }> {
    const chosen: Array<{ digest: string; size: number }> = [];
    let freed = 0;
    for (const [digest, entry] of this.entries) {
      if (freed >= bytesToFree) break;
      if (entry.readers > 0 || entry.pinned) continue;
      chosen.push({ digest, size: entry.size });
      freed += entry.size;
    }
    return chosen;
  }
}
