// How the facade connects the inventory to the parts that feed it: manifests stored, tags seen, blobs committed
// and evicted (whose manifest records and visibility links now leave with them: they used to stay for good).
import { parseDigest } from '../oci/digest.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { CacheWrites } from './cache-writes.js';
import { Inventory } from './inventory.js';
import type { InventoryOptions } from './inventory-ports.js';
import { InventoryQueries } from './inventory-queries.js';
import type { TrustVerdict } from './inventory-record.js';
import type { InventoryStore } from './inventory-store.js';
import type { ManifestRecords } from './metadata-store.js';
import type { Route } from './ports.js';
import type { StoredBlobs } from './stored-blobs.js';
import type { Visibility } from './visibility.js';

export interface InventoryFeeds {
  readonly stored: StoredBlobs;
  readonly visibility: Visibility;
  readonly writes: CacheWrites;
  readonly metadata: Pick<ManifestRecords, 'deleteManifest'>;
}

const defaults = { writer: 'tender', flushIntervalMs: 5_000, retentionMs: 7 * 24 * 3_600_000 };

export function wireInventory(
  feeds: InventoryFeeds,
  store: InventoryStore | undefined,
  options: Omit<InventoryOptions, 'clock'> | undefined,
  clock: () => number,
  metrics: Metrics,
  log: Logger,
) {
  const { stored, visibility, writes, metadata } = feeds;
  const cache = {
    read: (digest: string, maxBytes: number) => stored.readSmall(parseDigest(digest), maxBytes, 'blob'),
    size: (digest: string) => stored.size(parseDigest(digest)),
    pinned: (digest: string) => stored.isPinned(parseDigest(digest)),
  };
  const inventory = new Inventory(store, cache, { ...(options ?? defaults), clock }, metrics, log);
  const at = (route: Route) => ({ upstream: route.upstream.name, repository: route.repository });
  stored.listen({
    committed: (digest) => inventory.committed(digest),
    evicted: (digest) => {
      inventory.evicted(digest);
      void writes.attempt('metadata', 'manifest record removal', () => metadata.deleteManifest(digest), { digest });
      void visibility.forget(digest);
    },
  });
  return {
    inventory,
    queries: new InventoryQueries(inventory, cache, clock),
    onStored: (route: Route, digest: string, mediaType: string, body: Buffer) => inventory.stored(at(route), digest, mediaType, body),
    onTag: (route: Route, tag: string, record: { digest: string; checkedAt: number }) => inventory.tagSeen(at(route), tag, record.digest, record.checkedAt),
    /** The signature policy's fresh verdicts (SignaturePolicyParts.onVerdict). */
    onVerdict: (digest: string, verdict: TrustVerdict) => inventory.verdict(digest, verdict),
  };
}
