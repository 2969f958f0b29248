// What the tag resolution (tags.ts) is built from: its options (from the configuration) and its parts (ports).
import type { CacheReads } from './cache-reads.js';
import type { CacheWrites } from './cache-writes.js';
import type { FlightLocks } from './flight-locks.js';
import type { TagRecord, TagRecords } from './metadata-store.js';
import type { Route } from './ports.js';
import type { TagPolicies } from './tag-policy.js';
import type { Visibility } from './visibility.js';

export interface TagOptions {
  /** How long a tag resolution is served without asking upstream, unless a tagTtls pattern (in `policies`) says otherwise. */
  readonly ttlMs: number;
  /** How long a tag upstream answered 404 for is answered 404 without asking again; 0 turns it off. */
  readonly missingTtlMs: number;
  /** How long a revalidation may take before the last known digest is served instead. */
  readonly staleTimeoutMs: number;
  /** Deadline for the revalidation HEAD itself (it goes on in the background after staleTimeout). */
  readonly upstreamTimeoutMs: number;
  /** Immutable and pinned tags. */
  readonly policies: TagPolicies;
  /** Epoch ms; Date.now unless a test drives time. */
  readonly clock?: () => number;
}

export interface TagParts {
  /**
   * One revalidation per tag at a time across processes (workers of a host, replicas with Redis): the others
   * wait for its record in the shared metadata store. Per process when absent.
   */
  readonly locks?: FlightLocks;
  readonly records: TagRecords;
  readonly visibility: Visibility;
  readonly writes: CacheWrites;
  readonly reads: CacheReads;
  /** Upstream (or an import) said where a tag points (the inventory's tag history); must not throw. */
  readonly onTag?: (route: Route, tag: string, record: TagRecord) => void;
}
