// The coordination port: at most one process downloads a digest at a time, across everything sharing the cache volume.
//
// Redis implements it for replicas (storage/redis-flight-locks.ts). Worker processes on one host (issue 17)
// implement the same port (a lock file or the primary process), and cluster-flight.ts runs the same
// protocol over either: lease, wait for the holder's commit on the shared volume, take over when the
// holder's lease runs out.

/** A process's claim on downloading one digest, kept alive (renewed) by its holder until released. */
export interface FlightLease {
  /** Gives the claim up; never throws (a lease that cannot be released runs out on its own). */
  release(): Promise<void>;
}

export interface FlightLocks {
  /** The lease, or undefined when another process holds it. Throws when the lock service fails. */
  acquire(digest: string): Promise<FlightLease | undefined>;
  /** Whether any process holds the lease now. Throws when the lock service fails. */
  held(digest: string): Promise<boolean>;
}
