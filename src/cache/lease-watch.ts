// Waiting on another process's download: until its lease changes (pushed) or a bounded pause ends (polled).
//
// Why both: the push (FlightLocks.watch: the primary's IPC news, Redis pub/sub) is what makes a follower start
// within a millisecond or two of the holder naming its temp file, and read each chunk as it lands. But pub/sub
// delivers at most once: a message published while a replica's subscriber reconnects is gone, and nothing
// replays it. So every wait also ends after a pause, and the waiter looks at the lease (or the file) itself; the
// pause only decides how late a lost message is noticed, not how soon a delivered one is.
import type { FlightLocks } from './flight-locks.js';

export class LeaseWatch {
  /** A change arrived since the last wait began: the next wait returns at once (a change is never missed). */
  private changed = false;
  private wake: (() => void) | undefined;
  private readonly unwatch: () => void;

  constructor(
    locks: FlightLocks | undefined,
    digest: string,
    private readonly pause: (ms: number, signal: AbortSignal) => Promise<unknown>,
  ) {
    this.unwatch =
      locks?.watch?.(digest, () => {
        this.changed = true;
        this.wake?.();
      }) ?? (() => undefined);
  }

  /** Resolves at the next change of the lease, or after `ms`, whichever comes first. */
  async wait(ms: number): Promise<void> {
    if (this.changed) {
      this.changed = false;
      return;
    }
    const timer = new AbortController();
    try {
      await Promise.race([this.pause(ms, timer.signal).catch(() => undefined), new Promise<void>((resolve) => (this.wake = resolve))]);
    } finally {
      this.wake = undefined;
      this.changed = false;
      timer.abort();
    }
  }

  close(): void {
    this.unwatch();
    this.wake?.();
  }
}
