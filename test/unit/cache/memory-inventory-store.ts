// An in-memory InventoryStore for the core's unit tests: counts its writes, and can be told to refuse them.
import { mergeRecords, type InventoryRecord } from '../../../src/cache/inventory-record.js';
import type { InventoryChanges, InventoryStore } from '../../../src/cache/inventory-store.js';

export class MemoryInventoryStore implements InventoryStore {
  readonly records = new Map<string, InventoryRecord>();
  saves = 0;
  /** When set, save() rejects with it. */
  writeFailure: unknown;

  async load(): Promise<InventoryRecord[]> {
    return [...this.records.values()];
  }

  async changes(): Promise<InventoryChanges> {
    return { records: [], removed: [], complete: false };
  }

  async save(records: readonly InventoryRecord[], removed: readonly string[]): Promise<void> {
    if (this.writeFailure !== undefined) throw this.writeFailure;
    this.saves += 1;
    for (const record of records) {
      const stored = this.records.get(record.digest);
      this.records.set(record.digest, stored ? mergeRecords(stored, record) : record);
    }
    for (const digest of removed) this.records.delete(digest);
  }

  async close(): Promise<void> {}
}
