// The embedded InventoryStore: one JSON-lines log in the cache directory, appended to, compacted when it has
// grown to twice what it holds.
//
// Hand-written rather than a keyv store: a file per key (the metadata store's layout) costs a file read per
// record at start and an fsync per record per flush, which 100,000 records make minutes; one appended log
// costs one write per flush and one sequential read at start. Lines are `{"put":record}` or `{"del":digest}`;
// records merge (mergeRecords), so lines from several writers (a serving tender, `tender seed` beside it) in
// any order read back as the union. Appends use O_APPEND and one write call per batch (fs.appendFile would cut a
// large batch into 512 KiB writes, between which another process's lines could land), so lines from two
// processes never interleave. A line cut short by a crash is skipped; a line over 8 MiB is skipped unread.
//
// Compaction writes the merged records to a temp file, renames it over the log, and then copies whatever
// another writer appended to the old file meanwhile; readers notice the new inode and read it whole. A writer
// whose append reached the old file too late for that copy (opened before the rename, written after the copy)
// sees, after its write, that the path names another file, and appends its lines again: a record twice in the
// log reads back as once, so no append made during a compaction is lost.
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isInventoryRecord, mergeRecords, type InventoryRecord } from '../cache/inventory-record.js';
import type { InventoryChanges, InventoryStore } from '../cache/inventory-store.js';

const maxLine = 8 * 1024 * 1024;
const readChunk = 1024 * 1024;
/** Compacted when the log is this much larger than its last compacted size (and at least 1 MiB). */
const growthFactor = 2;
const minCompactBytes = 1024 * 1024;

export class FileInventoryStore implements InventoryStore {
  /** Bytes of the log read so far, and which file (dev:ino) they belong to. */
  private offset = 0;
  private fileId: string | undefined;
  private compactedSize = 0;

  constructor(private readonly path: string) {}

  async load(): Promise<InventoryRecord[]> {
    const { records } = await this.readAll();
    return [...records.values()];
  }

  async changes(): Promise<InventoryChanges> {
    const state = await statOrUndefined(this.path);
    if (!state) return { records: [], removed: [], complete: this.fileId !== undefined ? this.forget() : false };
    if (`${state.dev}:${state.ino}` !== this.fileId || state.size < this.offset) {
      const { records } = await this.readAll();
      return { records: [...records.values()], removed: [], complete: true };
    }
    if (state.size === this.offset) return { records: [], removed: [], complete: false };
    const { records, removed } = await this.readFrom(this.offset, state.size);
    return { records: [...records.values()], removed: [...removed], complete: false };
  }

  async save(records: readonly InventoryRecord[], removed: readonly string[]): Promise<void> {
    if (records.length === 0 && removed.length === 0) return;
    const lines = [...records.map((record) => JSON.stringify({ put: record })), ...removed.map((digest) => JSON.stringify({ del: digest }))];
    await mkdir(dirname(this.path), { recursive: true });
    await this.append(Buffer.from(`${lines.join('\n')}\n`));
    const size = (await stat(this.path)).size;
    if (size > Math.max(minCompactBytes, this.compactedSize * growthFactor)) await this.compact();
  }

  async close(): Promise<void> {}

  /** Appends `data` in one write, again until the file written is still the log (see the header: compaction). */
  private async append(data: Buffer): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const file = await open(this.path, 'a', 0o640);
      let written;
      try {
        for (let done = 0; done < data.length;) done += (await file.write(data, done)).bytesWritten;
        written = await file.stat();
      } finally {
        await file.close();
      }
      const now = await statOrUndefined(this.path);
      if ((now && now.dev === written.dev && now.ino === written.ino) || attempt >= 5) return;
    }
  }

  private forget(): boolean {
    this.fileId = undefined;
    this.offset = 0;
    return true;
  }

  private async readAll(): Promise<{ records: Map<string, InventoryRecord> }> {
    const state = await statOrUndefined(this.path);
    if (!state) {
      this.forget();
      return { records: new Map() };
    }
    this.fileId = `${state.dev}:${state.ino}`;
    const { records } = await this.readFrom(0, state.size);
    this.compactedSize = Math.max(this.compactedSize, state.size);
    return { records };
  }

  /**
   * Applies the complete lines in [start, end) in order; advances the offset past them. Read in 1 MiB chunks, each
   * chunk's complete lines decoded to text at once and split (a line is a JSON text: no newline inside it).
   */
  private async readFrom(start: number, end: number): Promise<{ records: Map<string, InventoryRecord>; removed: Set<string> }> {
    const records = new Map<string, InventoryRecord>();
    const removed = new Set<string>();
    const apply = (line: string): void => {
      let parsed: { put?: InventoryRecord; del?: string };
      try {
        parsed = JSON.parse(line) as typeof parsed;
      } catch {
        return; // cut short by a crash, or not ours
      }
      if (typeof parsed?.del === 'string') {
        records.delete(parsed.del);
        removed.add(parsed.del);
      } else if (isInventoryRecord(parsed?.put)) {
        const seen = records.get(parsed.put.digest);
        records.set(parsed.put.digest, seen ? mergeRecords(seen, parsed.put) : parsed.put);
        removed.delete(parsed.put.digest);
      }
    };
    /** The start of a line whose newline has not come yet; dropped (and the line skipped) past maxLine. */
    let carry: Buffer | undefined;
    let skipping = false;
    /** Bytes after the last newline read so far (carried or skipped). */
    let pendingBytes = 0;
    let consumed = start;
    if (end > start) {
      for await (const chunk of createReadStream(this.path, { start, end: end - 1, highWaterMark: readChunk }) as AsyncIterable<Buffer>) {
        const last = chunk.lastIndexOf(10);
        if (last === -1) {
          pendingBytes += chunk.length;
          if (!skipping) carry = carry ? Buffer.concat([carry, chunk]) : chunk;
          if (carry && carry.length > maxLine) [carry, skipping] = [undefined, true];
          continue;
        }
        const first = chunk.indexOf(10);
        consumed += pendingBytes + last + 1;
        // The line the carry began ends at this chunk's first newline (skipped whole when it was too long).
        if (!skipping) apply((carry ? Buffer.concat([carry, chunk.subarray(0, first)]) : chunk.subarray(0, first)).toString('utf8'));
        skipping = false;
        if (last > first) for (const line of chunk.toString('utf8', first + 1, last).split('\n')) apply(line);
        carry = last + 1 < chunk.length ? chunk.subarray(last + 1) : undefined;
        pendingBytes = chunk.length - last - 1;
      }
    }
    // A last line without its newline is being written (or was cut short): read again next time.
    this.offset = consumed;
    return { records, removed };
  }

  private async compact(): Promise<void> {
    const lock = `${this.path}.compacting`;
    let held;
    try {
      held = await open(lock, 'wx');
    } catch {
      // Another process compacts now, or one died compacting: its lock is cleared after 10 minutes.
      const since = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (since > 600_000) await rm(lock, { force: true });
      return;
    }
    try {
      const before = await stat(this.path);
      const { records } = await this.readFrom(0, before.size);
      const temp = `${this.path}.${process.pid}.tmp`;
      const text = [...records.values()].map((record) => `${JSON.stringify({ put: record })}\n`).join('');
      const file = await open(temp, 'w', 0o640);
      try {
        await file.writeFile(text);
        await file.datasync();
      } finally {
        await file.close();
      }
      const old = await open(this.path, 'r');
      try {
        await rename(temp, this.path);
        // Lines another writer appended to the old file between our read and the rename.
        const after = await old.stat();
        if (after.size > before.size) {
          const tail = Buffer.alloc(after.size - before.size);
          await old.read(tail, 0, tail.length, before.size);
          const complete = tail.subarray(0, tail.lastIndexOf(10) + 1);
          if (complete.length > 0) await this.append(complete);
        }
      } finally {
        await old.close();
      }
      const state = await stat(this.path);
      this.fileId = `${state.dev}:${state.ino}`;
      this.offset = Buffer.byteLength(text);
      this.compactedSize = state.size;
    } finally {
      await held.close();
      await rm(lock, { force: true });
    }
  }
}

async function statOrUndefined(path: string): Promise<{ dev: number; ino: number; size: number } | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
