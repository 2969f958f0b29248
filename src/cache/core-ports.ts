// What the core (PullThrough, pull-through.ts) is built from: its ports (the adapters main.ts builds) and one
// option bag per part, each from its slice of the configuration.
import type { BlobCacheOptions } from './blob-cache.js';
import type { BlobStore } from './blob-store.js';
import type { CacheNews } from './cache-news.js';
import type { ClusterFlightOptions } from './cluster-flight.js';
import type { SignaturePolicyOptions, TrustedKeys } from './core-signatures.js';
import type { FlightLocks } from './flight-locks.js';
import type { InventoryOptions } from './inventory-ports.js';
import type { InventoryStore } from './inventory-store.js';
import type { ListingOptions } from './listings.js';
import type { ManifestOptions } from './manifests.js';
import type { MetadataStore } from './metadata-store.js';
import type { PullEventSink } from './pull-events.js';
import type { ServePolicy } from './serve-policy.js';
import type { StoredBlobOptions } from './stored-blobs.js';
import type { TagOptions } from './tag-options.js';

export interface CorePorts {
  readonly store: BlobStore;
  readonly metadata: MetadataStore;
  /** Single flight across processes sharing the cache volume; one flight per process when absent. */
  readonly locks?: FlightLocks;
  /** One tag revalidation at a time per tag across processes (workers, replicas); per process when absent. */
  readonly revalidationLocks?: FlightLocks;
  /** The other workers of this host (issue 17); a single process has none. */
  readonly news?: CacheNews;
  /** The pull audit (issue 15): every client's manifest pull; nobody listens when absent. */
  readonly events?: PullEventSink;
  /** Where inventory records persist; in memory only (this process) when absent. */
  readonly inventory?: InventoryStore;
  readonly keys?: TrustedKeys; // the signature policies' public keys, as their files are now (with CoreOptions.signatures)
}

/** One option bag per part, each built by main.ts from its slice of the configuration. */
export interface CoreOptions {
  readonly stored: StoredBlobOptions;
  readonly blobs: BlobCacheOptions;
  readonly cluster: ClusterFlightOptions;
  readonly manifests: ManifestOptions;
  readonly tags: TagOptions;
  readonly listings: ListingOptions;
  /** In order; the first refusal wins. */
  readonly policies: readonly ServePolicy[];
  /** Default: this process alone, written every 5 s, evicted records kept a week. */
  readonly inventory?: Omit<InventoryOptions, 'clock'>;
  readonly signatures?: SignaturePolicyOptions; // cosign signature policies (issue 13), judged after the policies above
}
