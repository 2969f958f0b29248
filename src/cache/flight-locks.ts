// The coordination port: at most one process downloads a digest at a time, across everything sharing the cache volume.
//
// Redis implements it for replicas (storage/redis-flight-locks.ts), the primary process for the workers of one
// host (workers/host-flight-locks.ts), and layered-flight-locks.ts stacks the two (workers of several replicas).
// cluster-flight.ts runs the same protocol over any of them: lease, follow the holder's temp file as it grows
// (it announces its name and size in the lease), take over when the holder's lease is gone.
//
// Waiters learn of a lease's changes by push where the service has a channel for it (`watch`: the primary's
// IPC news for workers, Redis pub/sub for replicas), so a follower starts the moment the holder names its
// file instead of at its next poll (issue 17). A push is a hint to look again, never the state itself.

/** The holder's download as others can read it: a temp file in the store's tmp/ and the size it will have. */
export interface FlightFile {
  /** A bare file name in the store's temp directory (checked again by BlobStore.openTemp: it is input). */
  readonly name: string;
  readonly size: number;
  /**
   * The visibility link the holder's upstream answer granted (visibility.ts): a follower serves its clients of
   * that repository (any repository, for a public upstream) at once, instead of asking upstream with a HEAD
   * while the holder's write of the link is still on its way to the store.
   */
  readonly link?: string;
}

/** A process's claim on downloading one digest, kept alive (renewed) by its holder until released. */
export interface FlightLease {
  /** Makes the download's temp file known to the processes waiting for it; never throws. */
  announce(file: FlightFile): Promise<void>;
  /** Gives the claim up; never throws (a lease that cannot be released runs out on its own). */
  release(): Promise<void>;
  /** Tells the followers that the temp file grew (throttled by the caller); never throws. Optional: they poll the file. */
  grew?(): void;
}

/** Who holds a lease: undefined when nobody does; `file` once the holder announced its temp file. */
export interface FlightHolder {
  readonly file: FlightFile | undefined;
}

export interface FlightLocks {
  /** The lease, or undefined when another process holds it. Throws when the lock service fails. */
  acquire(digest: string): Promise<FlightLease | undefined>;
  /** The lease's holder now, undefined when none. Throws when the lock service fails. */
  holder(digest: string): Promise<FlightHolder | undefined>;
  /**
   * Calls `changed` whenever the lease of `digest` may have changed (taken, announced, grown, released), until
   * the returned function is called. Optional, and best effort: a message can be lost (a Redis reconnect, a
   * primary busy elsewhere), so a waiter still looks again after a bounded pause.
   */
  watch?(digest: string, changed: () => void): () => void;
}

/** Names and sizes in a lease come from another process (or Redis): only a plain name and a safe size pass. */
export function checkedFlightFile(value: unknown): FlightFile | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { name, size } = value as { name?: unknown; size?: unknown };
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(name)) return undefined;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined;
  const link = (value as { link?: unknown }).link;
  // A link that is not a plain printable string is left out (the follower then confirms with upstream).
  return typeof link === 'string' && /^[!-~]{1,700}$/.test(link) ? { name, size, link } : { name, size };
}
