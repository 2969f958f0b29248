// One download per digest across processes sharing the cache volume: lease, wait for the holder's commit,
// take over when the holder is gone.
//
// The protocol, per uncached digest:
// 1. Take the digest's lease (FlightLocks). Won: this process downloads, renewing the lease until it ends.
// 2. Lost: another process downloads. Every poll, look for a flight started here meanwhile (join it) and
//    for the committed file on the shared volume (adopt it from disk, checked like any hit).
// 3. Every tenth poll, ask whether the lease is still held; when it ran out with nothing committed (the
//    holder died), take the lease and download here.
// 4. Lock service trouble at any step: download here without coordination (one flight per process, the
//    same as without Redis); a pull never fails because the lock service did.
// Nothing committed within the flight deadline is a 503: clients retry.
import { setTimeout as sleep } from 'node:timers/promises';
import { OciError } from '../oci/errors.js';
import type { FlightLease, FlightLocks } from './flight-locks.js';

export interface ClusterFlightOptions {
  /** How long a process waits for another's download before giving up (the flight deadline). */
  readonly flightTimeoutMs: number;
  /** Lock service failures (counted and logged by the caller); the download then goes on uncoordinated. */
  readonly onLockFailure: (err: unknown) => void;
  /** How often a waiting process looks for the committed blob (default 100 ms). */
  readonly pollMs?: number;
}

/** What this process does about a digest nobody here is downloading. */
export type Claim<F, T> =
  /** Download here, holding the lease (undefined: uncoordinated). */
  | { readonly kind: 'start'; readonly lease: FlightLease | undefined }
  /** A download started in this process meanwhile: join it. */
  | { readonly kind: 'local'; readonly flight: F }
  /** Another process committed it: serve what it committed. */
  | { readonly kind: 'committed'; readonly found: T };

export interface ClaimWatch<F, T> {
  /** A download of the digest in this process, if one started since. */
  local(): F | undefined;
  /** The committed blob on the shared volume, adopted and checked; undefined when not there (yet), or damaged. */
  committed(): Promise<T | undefined>;
}

/** Polls between take-over checks: the lease is asked about every tenth poll (a second, by default). */
const pollsPerLeaseCheck = 10;

export class ClusterFlight {
  constructor(
    /** Undefined for a single process: every claim starts at once. */
    private readonly locks: FlightLocks | undefined,
    private readonly options: ClusterFlightOptions,
    private readonly wait: (ms: number) => Promise<unknown> = (ms) => sleep(ms),
    private readonly clock: () => number = Date.now,
  ) {}

  /** Decides who downloads `digest` (see the header); throws UNAVAILABLE when another process's download does not finish in time. */
  async claim<F, T>(digest: string, watch: ClaimWatch<F, T>): Promise<Claim<F, T>> {
    const locks = this.locks;
    if (!locks) return { kind: 'start', lease: undefined };
    let lease: FlightLease | undefined;
    try {
      lease = await locks.acquire(digest);
    } catch (err) {
      this.options.onLockFailure(err);
      return { kind: 'start', lease: undefined };
    }
    if (lease) return { kind: 'start', lease };
    const deadline = this.clock() + this.options.flightTimeoutMs;
    for (let polls = 1; this.clock() < deadline; polls++) {
      await this.wait(this.options.pollMs ?? 100);
      const flight = watch.local();
      if (flight) return { kind: 'local', flight };
      const found = await watch.committed();
      if (found !== undefined) return { kind: 'committed', found };
      if (polls % pollsPerLeaseCheck !== 0) continue;
      try {
        if (await locks.held(digest)) continue;
        lease = await locks.acquire(digest);
      } catch (err) {
        this.options.onLockFailure(err);
        return { kind: 'start', lease: undefined };
      }
      // The holder is gone (its lease ran out) and nothing was committed: this process takes over.
      if (lease) return { kind: 'start', lease };
    }
    throw new OciError('UNAVAILABLE', `another replica's download of ${digest} did not finish in time`);
  }
}
