// The inventory of a tender that is not running (or a shared Redis), read directly for `tender inventory`: its
// records, and the cache directory's sizes and pins for the cache state. Read-only: nothing is written.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Inventory } from '../cache/inventory.js';
import { InventoryQueries } from '../cache/inventory-queries.js';
import type { InventoryStore } from '../cache/inventory-store.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { FileInventoryStore } from './file-inventory-store.js';
import { FsBlobStore } from './fs-blob-store.js';
import { RedisInventoryStore, type RedisRaw } from './redis-inventory-store.js';

export interface InventoryReader {
  readonly queries: InventoryQueries;
  close(): Promise<void>;
}

/** `redis`: a client not yet connected (the configuration's metadata.redis), or undefined for the cache directory's log. */
export async function openInventoryReader(
  cacheDir: string,
  pinnedDigests: readonly string[],
  redis: (RedisRaw & { connect(): Promise<unknown>; on(event: 'error', listener: () => void): unknown; destroy(): void; isOpen: boolean }) | undefined,
  metrics: Metrics,
  log: Logger,
): Promise<InventoryReader> {
  // A cache directory that is not there is a mistake to name, not one to create.
  const isDirectory = await stat(cacheDir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDirectory) throw new Error(`cache directory ${cacheDir} does not exist`);
  const blobs = await FsBlobStore.open(cacheDir, { clearTemp: false });
  const sizes = new Map<string, number>();
  for await (const blob of blobs.list()) sizes.set(blob.digest.value, blob.size);
  const pins = new Set(pinnedDigests);
  for await (const digest of blobs.pinned()) pins.add(digest);
  if (redis) {
    redis.on('error', () => undefined); // connect() rejects with it
    await redis.connect();
  }
  const store: InventoryStore = redis ? new RedisInventoryStore(redis, 'tender') : new FileInventoryStore(join(cacheDir, 'inventory', 'records.jsonl'));
  const cache = { read: async () => undefined, size: (digest: string) => sizes.get(digest), pinned: (digest: string) => pins.has(digest) };
  const options = { writer: 'reader', flushIntervalMs: 60_000, retentionMs: Number.POSITIVE_INFINITY, clock: Date.now };
  const inventory = new Inventory(store, cache, options, metrics, log);
  await inventory.open();
  return {
    queries: new InventoryQueries(inventory, cache, Date.now),
    close: async () => {
      if (redis?.isOpen) redis.destroy();
    },
  };
}
