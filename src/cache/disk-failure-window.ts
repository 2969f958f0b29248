// The bytes of a download kept in memory after the cache disk failed mid-fill, for the clients already reading.
//
// Bounded by the flight: it pauses upstream while the window holds more than `limitBytes` and a reader
// is behind (the slowest reader sets the pace), and drops every chunk all readers have passed.

/** Bytes held in memory after a disk failure before upstream is paused for the slowest reader. */
export const memoryWindowBytes = 16 * 1024 * 1024;

export class DiskFailureWindow {
  /** Offset where the disk stopped taking bytes; undefined while the disk is fine. */
  private at: number | undefined;
  private base = 0;
  private chunks: Buffer[] = [];
  private held = 0;

  /** Where the file behind the download ends, once the disk failed. */
  get failedAt(): number | undefined {
    return this.at;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.held;
  }

  /** Starts keeping bytes from `offset` on (the bytes safely on disk end there). */
  open(offset: number): void {
    this.at = offset;
    this.base = offset;
    this.chunks = [];
    this.held = 0;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.held += chunk.length;
  }

  /** Whether bytes at `position` come from the window rather than the file. */
  covers(position: number): boolean {
    return this.at !== undefined && position >= this.at;
  }

  /** Copies up to `want` bytes at `position`; throws when they were dropped already (a reader fell behind the window). */
  read(buffer: Buffer, position: number, want: number): number {
    let offset = this.base;
    let copied = 0;
    for (const chunk of this.chunks) {
      const end = offset + chunk.length;
      if (end > position + copied && copied < want) {
        const from = position + copied - offset;
        copied += chunk.copy(buffer, copied, from, Math.min(chunk.length, from + want - copied));
      }
      offset = end;
      if (copied >= want) break;
    }
    if (copied === 0 && position < this.base) throw new Error('bytes no longer available after a disk failure');
    return copied;
  }

  /** Drops the chunks that end at or before `lowest`, the position of the slowest reader. */
  trim(lowest: number): void {
    while (this.chunks.length > 0) {
      const first = this.chunks[0]!;
      if (this.base + first.length > lowest) break;
      this.chunks.shift();
      this.base += first.length;
      this.held -= first.length;
    }
  }

  /** Drops everything (the flight failed). */
  clear(): void {
    this.base = 0;
    this.chunks = [];
    this.held = 0;
  }
}
