// Workers of several replicas: the host's lease first (the primary process), then the cluster's (Redis).
//
// A worker downloads only with both; losing either leaves it waiting for whoever holds that one. The host
// layer keeps the other workers of this host off Redis while one of them holds a digest, and when Redis
// fails the host's lease still holds: one download per host instead of one per worker.
import type { FlightHolder, FlightLease, FlightLocks } from './flight-locks.js';

export class LayeredFlightLocks implements FlightLocks {
  constructor(
    private readonly host: FlightLocks,
    private readonly cluster: FlightLocks,
    /** A cluster lock failure (counted and logged by the caller); the host's lease is kept. */
    private readonly onClusterFailure: (err: unknown) => void,
  ) {}

  async acquire(digest: string): Promise<FlightLease | undefined> {
    const host = await this.host.acquire(digest);
    if (!host) return undefined;
    let cluster: FlightLease | undefined;
    try {
      cluster = await this.cluster.acquire(digest);
    } catch (err) {
      this.onClusterFailure(err);
      return host;
    }
    if (!cluster) {
      await host.release();
      return undefined;
    }
    const both = cluster;
    return {
      announce: async (file) => {
        await Promise.all([host.announce(file), both.announce(file)]);
      },
      release: async () => {
        await Promise.all([both.release(), host.release()]);
      },
      grew: () => {
        host.grew?.();
        both.grew?.();
      },
    };
  }

  /** A change of either lease: the host's (a worker here) or the cluster's (another replica). */
  watch(digest: string, changed: () => void): () => void {
    const stops = [this.host.watch?.(digest, changed), this.cluster.watch?.(digest, changed)];
    return () => {
      for (const stop of stops) stop?.();
    };
  }

  /** Both asked at once (a waiter looks at every change): the host's holder first, else the cluster's. */
  async holder(digest: string): Promise<FlightHolder | undefined> {
    const cluster = this.cluster.holder(digest).catch((err: unknown) => {
      this.onClusterFailure(err);
      return undefined;
    });
    const local = await this.host.holder(digest).catch(async (err: unknown) => {
      await cluster;
      throw err;
    });
    return local ?? (await cluster);
  }
}
