// The InventoryStore port: where inventory records persist (a JSON-lines log in the cache directory by default,
// Redis when configured, so every replica sees the same records).
//
// The core keeps every record in memory (Inventory, InventoryIndex: queries answer from indexes in
// milliseconds) and writes what changed in batches, never per request. Records merge (mergeRecords), so
// writers on one store never lose each other's facts or counts; `changes` brings in what other writers
// (replicas, `tender seed` or `import` beside a serving tender) wrote since this one last looked.
import type { InventoryRecord } from './inventory-record.js';

export interface InventoryChanges {
  /** Records written by others (merged with this process's copy by the caller). */
  readonly records: readonly InventoryRecord[];
  /** Digests whose records others removed. */
  readonly removed: readonly string[];
  /** The store was rewritten (compacted) under us: `records` is all of it, and what is not in it is gone. */
  readonly complete: boolean;
}

export interface InventoryStore {
  /** Every record, each digest once, in one array (start-up builds its indexes in one pass); throws when the store cannot be read. */
  load(): Promise<InventoryRecord[]>;
  /** What others wrote since the last load or changes; throws when the store cannot be read. */
  changes(): Promise<InventoryChanges>;
  /**
   * Writes `records` merged with what the store holds (read, merge, write) and removes `removed`; throws
   * when the store refuses (the caller keeps them and tries again).
   */
  save(records: readonly InventoryRecord[], removed: readonly string[]): Promise<void>;
  /** Releases files and connections; never throws. */
  close(): Promise<void>;
}
