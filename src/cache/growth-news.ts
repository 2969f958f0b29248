// A download's "my temp file grew" for the processes following it, at most once per interval.
//
// Each tell is an IPC message relayed by the primary (workers) or a Redis PUBLISH (replicas), so not one per
// chunk (upstream bodies come in 16-64 KiB chunks: tens of thousands a second on a fast link). The last growth
// of a burst is always told (trailing edge), so a follower never sleeps through the chunk before a stall.
import type { FlightLease } from './flight-locks.js';

/** Followers read 1 MiB at a time; at 1 GB/s that is a read per millisecond, so a few ms lose nothing. */
export const growthNewsEveryMs = 4;

export class GrowthNews {
  private last = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly lease: FlightLease | undefined,
    private readonly everyMs = growthNewsEveryMs,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The temp file has more bytes on disk. */
  grew(): void {
    if (!this.lease?.grew || this.timer || this.stopped) return;
    const wait = this.last + this.everyMs - this.now();
    if (wait <= 0) return this.tell();
    this.timer = setTimeout(() => this.tell(), wait);
    this.timer.unref();
  }

  /** The download ended: no tell after this (the release tells the waiters itself). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.stopped = true;
  }

  private tell(): void {
    this.timer = undefined;
    this.last = this.now();
    this.lease?.grew?.();
  }
}
