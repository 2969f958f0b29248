// One download per digest across processes sharing the cache volume: lease, follow the holder's download,
// take over when the holder is gone.
//
// The protocol, per uncached digest:
// 1. Take the digest's lease (FlightLocks). Won: this process downloads, renewing the lease until it ends,
//    and announces its temp file in the lease once upstream answered.
// 2. Lost: another process downloads. At every change of the lease (pushed by FlightLocks.watch) and after
//    every pause, look for a flight started here meanwhile (join it), for the committed file on the shared
//    volume (adopt it from disk, checked like any hit), and at the lease: once the holder announced its temp
//    file, follow it (remote-flight.ts: read as it grows, hashed here, the last chunk held back until the
//    holder commits). With a push the follower starts as the holder announces; the pauses (a few milliseconds
//    first, backing off to `pollMs`) only bound how late a lost message is noticed (lease-watch.ts).
// 3. When the lease is free with nothing committed (the holder died, or finished between two looks), take
//    the lease; if the commit shows up now after all, give the lease back and serve the commit.
// 4. Lock service trouble at any step: download here without coordination (one flight per process, the
//    same as without Redis); a pull never fails because the lock service did.
// Nothing committed within the flight deadline is a 503: clients retry.
import { setTimeout as sleep } from 'node:timers/promises';
import { OciError } from '../oci/errors.js';
import type { FlightFile, FlightLease, FlightLocks } from './flight-locks.js';
import { LeaseWatch } from './lease-watch.js';

export interface ClusterFlightOptions {
  /** How long a process waits for another's download before giving up (the flight deadline). */
  readonly flightTimeoutMs: number;
  /** Lock service failures (counted and logged by the caller); the download then goes on uncoordinated. */
  readonly onLockFailure: (err: unknown) => void;
  /** The longest pause between two looks while waiting (default 100 ms); the first looks come sooner. */
  readonly pollMs?: number;
}

/** What this process does about a digest nobody here is downloading. */
export type Claim<F, T> =
  /** Download here, holding the lease (undefined: uncoordinated). */
  | { readonly kind: 'start'; readonly lease: FlightLease | undefined }
  /** A download started (or followed) in this process meanwhile: join it. */
  | { readonly kind: 'local'; readonly flight: F }
  /** Another process is downloading it: follow its temp file (the flight watch.remote built). */
  | { readonly kind: 'remote'; readonly flight: F }
  /** Another process committed it: serve what it committed. */
  | { readonly kind: 'committed'; readonly found: T };

export interface ClaimWatch<F, T> {
  /** A download of the digest in this process, if one started since. */
  local(): F | undefined;
  /** The committed blob on the shared volume, adopted and checked; undefined when not there (yet), or damaged. */
  committed(): Promise<T | undefined>;
  /** A follower of another process's temp file; undefined when it cannot be opened (look again later). */
  remote?(file: FlightFile): Promise<F | undefined>;
}

/** The first pause while waiting; each next one doubles, up to pollMs. */
const firstPollMs = 5;

export class ClusterFlight {
  constructor(
    /** Undefined for a single process: every claim starts at once. */
    private readonly locks: FlightLocks | undefined,
    private readonly options: ClusterFlightOptions,
    /** A pause (a fake clock in tests); the signal ends it early once a pushed change made it moot. */
    private readonly wait: (ms: number, signal: AbortSignal) => Promise<unknown> = (ms, signal) => sleep(ms, undefined, { signal }),
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
    // Watching before the first look: an announcement between that look and the wait still wakes it.
    const changes = this.watch(digest);
    try {
      return await this.follow(digest, locks, watch, changes);
    } finally {
      changes.close();
    }
  }

  /** Waits on the lease of `digest`: each change of it ends a wait early (see lease-watch.ts). */
  watch(digest: string): LeaseWatch {
    return new LeaseWatch(this.locks, digest, this.wait);
  }

  private async follow<F, T>(digest: string, locks: FlightLocks, watch: ClaimWatch<F, T>, changes: LeaseWatch): Promise<Claim<F, T>> {
    let lease: FlightLease | undefined;
    const deadline = this.clock() + this.options.flightTimeoutMs;
    const longest = this.options.pollMs ?? 100;
    for (let pause = Math.min(firstPollMs, longest); this.clock() < deadline; pause = Math.min(pause * 2, longest)) {
      const flight = watch.local();
      if (flight) return { kind: 'local', flight };
      const found = await watch.committed();
      if (found !== undefined) return { kind: 'committed', found };
      let holder;
      try {
        holder = await locks.holder(digest);
        // The holder is gone (finished between two looks, or died) and nothing was committed when looked: take over.
        if (!holder) lease = await locks.acquire(digest);
      } catch (err) {
        this.options.onLockFailure(err);
        return { kind: 'start', lease: undefined };
      }
      if (lease) {
        const after = await watch.committed();
        if (after === undefined) return { kind: 'start', lease };
        await lease.release();
        return { kind: 'committed', found: after };
      }
      if (holder?.file && watch.remote) {
        const remote = await watch.remote(holder.file);
        if (remote) return { kind: 'remote', flight: remote };
      }
      await changes.wait(pause);
    }
    throw new OciError('UNAVAILABLE', `another process's download of ${digest} did not finish in time`);
  }

  /** Whether the download that announced temp file `name` still holds the lease (false when the lock service fails: the follower stops). */
  async stillHeld(digest: string, name: string): Promise<boolean> {
    if (!this.locks) return false;
    try {
      return (await this.locks.holder(digest))?.file?.name === name;
    } catch (err) {
      this.options.onLockFailure(err);
      return false;
    }
  }
}
