// The coordination port: at most one process downloads a digest at a time, across everything sharing the cache volume.
//
// Redis implements it for replicas (storage/redis-flight-locks.ts), the primary process for the workers of one
// host (workers/host-flight-locks.ts), and layered-flight-locks.ts stacks the two (workers of several replicas).
// cluster-flight.ts runs the same protocol over any of them: lease, follow the holder's temp file as it grows
// (it announces its name and size in the lease), take over when the holder's lease is gone.

/** The holder's download as others can read it: a temp file in the store's tmp/ and the size it will have. */
export interface FlightFile {
  /** A bare file name in the store's temp directory (checked again by BlobStore.openTemp: it is input). */
  readonly name: string;
  readonly size: number;
}

/** A process's claim on downloading one digest, kept alive (renewed) by its holder until released. */
export interface FlightLease {
  /** Makes the download's temp file known to the processes waiting for it; never throws. */
  announce(file: FlightFile): Promise<void>;
  /** Gives the claim up; never throws (a lease that cannot be released runs out on its own). */
  release(): Promise<void>;
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
}

/** Names and sizes in a lease come from another process (or Redis): only a plain name and a safe size pass. */
export function checkedFlightFile(value: unknown): FlightFile | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { name, size } = value as { name?: unknown; size?: unknown };
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(name)) return undefined;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined;
  return { name, size };
}
