// What the cache holds, in memory: sizes, recency, readers in progress and pins, for hits without a
// syscall and for size-capped LRU eviction that never removes a blob being read or a pinned one.
//
// Hand-written rather than lru-cache: eviction here must skip entries that are in use or pinned and
// must delete files asynchronously; lru-cache evicts whatever is oldest, synchronously, on insert.

interface Entry {
  size: number;
  readers: number;
  pinned: boolean;
  /** Hashed by this process (downloaded and verified here, or checked since it was found on disk). */
  verified: boolean;
  /** The file's stamp (inode, size, change time) when it was verified: trusted only while it is unchanged. */
  stamp: string | undefined;
  /** Tells this entry from a later one for the same digest (a damaged copy dropped, a good one stored again). */
  readonly id: number;
}

export class BlobIndex {
  /** Map order is recency order: oldest first. A touch moves an entry to the end. */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private readonly pins = new Set<string>();
  private nextId = 1;

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

  /**
   * Records a committed blob as the most recently used. `verified`: this process wrote it and checked
   * its digest while doing so; a blob found on disk (at start, or another replica's) is not.
   */
  add(digest: string, size: number, verified = false): void {
    const existing = this.entries.get(digest);
    if (existing) {
      if (verified) {
        // Just written and checked here: its size and content are what the file holds now.
        this.bytes += size - existing.size;
        existing.size = size;
        existing.verified = true;
        existing.stamp = undefined;
      }
      this.touch(digest);
      return;
    }
    this.entries.set(digest, { size, readers: 0, pinned: this.pins.has(digest), verified, stamp: undefined, id: this.nextId++ });
    this.bytes += size;
  }

  /**
   * Whether the entry `id`'s file, now with `stamp`, was hashed by this process and has not changed
   * since: then it is served without hashing it again.
   */
  trusts(digest: string, id: number | undefined, stamp: string): boolean {
    const entry = this.entries.get(digest);
    return entry !== undefined && entry.id === id && entry.verified && entry.stamp === stamp;
  }

  /** Records the stamp of a file this process just wrote and verified (known once it is at its final path). */
  setStamp(digest: string, id: number, stamp: string): void {
    const entry = this.entries.get(digest);
    if (entry?.id === id && entry.verified && entry.stamp === undefined) entry.stamp = stamp;
  }

  /** The current entry's id, to act on exactly that entry later (see markVerified, removeEntry). */
  entryId(digest: string): number | undefined {
    return this.entries.get(digest)?.id;
  }

  /** Records that the entry `id`'s file, with `stamp`, was hashed and matched; a newer entry is left alone. */
  markVerified(digest: string, id: number, stamp: string): void {
    const entry = this.entries.get(digest);
    if (entry?.id !== id) return;
    entry.verified = true;
    entry.stamp = stamp;
  }

  /** Forgets the entry `id` (found damaged); false when the digest is absent or now a newer entry. */
  removeEntry(digest: string, id: number): boolean {
    if (this.entries.get(digest)?.id !== id) return false;
    this.remove(digest);
    return true;
  }

  /** Every entry, oldest first, those not yet hashed by this process before the others (the scrub's order). */
  scrubOrder(): Array<{ digest: string; size: number; id: number }> {
    const unverified: Array<{ digest: string; size: number; id: number }> = [];
    const verified: Array<{ digest: string; size: number; id: number }> = [];
    for (const [digest, entry] of this.entries) (entry.verified ? verified : unverified).push({ digest, size: entry.size, id: entry.id });
    return [...unverified, ...verified];
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
