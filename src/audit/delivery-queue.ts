// The bounded queue each audit sink delivers from (the file and the notification listener): events wait in order
// while the destination is slow or down, up to a bound past which new ones are dropped and counted; one delivery
// loop drains it, started on a later turn of the event loop (never inside the emitting pull's call stack); close()
// stops taking events and gives the queue a deadline to drain, then drops (and counts) what is left.
import type { AuditDropReason } from './audit-sink.js';
import { sleepUnlessAborted } from './sleep-unless-aborted.js';

export class DeliveryQueue<T> {
  /** Waiting, oldest first; the delivery loop takes from the front. */
  readonly items: T[] = [];
  /** Items taken off by the delivery in progress (still pending until it settles). */
  inFlight = 0;
  /** Aborted when close()'s deadline has passed: the delivery loop stops and what it holds is dropped. */
  readonly stop = new AbortController();
  private running: Promise<void> | undefined;
  private closingNow = false;

  constructor(
    private readonly bound: number,
    /** The delivery loop: runs while there are items and `stop` is not aborted. */
    private readonly deliver: () => Promise<void>,
    private readonly dropped: (reason: AuditDropReason, count: number) => void,
  ) {}

  get pending(): number {
    return this.items.length + this.inFlight;
  }

  get closing(): boolean {
    return this.closingNow;
  }

  /** The delivery loop when it runs. */
  get delivering(): Promise<void> | undefined {
    return this.running;
  }

  /** Queues the item `make` builds (not built when it is dropped: closing, or the queue full); false when dropped. */
  offer(make: () => T): boolean {
    if (this.closingNow) return (this.dropped('shutdown', 1), false);
    if (this.pending >= this.bound) return (this.dropped('queue-full', 1), false);
    this.items.push(make());
    this.kick();
    return true;
  }

  /** Stops taking items, waits up to `deadlineMs` for the queue to drain, then stops the loop and drops what is left. */
  async close(deadlineMs: number, onClosing?: () => void): Promise<void> {
    this.closingNow = true;
    onClosing?.();
    const timer = new AbortController();
    await Promise.race([this.idle(), sleepUnlessAborted(deadlineMs, timer.signal)]);
    timer.abort();
    this.stop.abort();
    this.dropped('shutdown', this.items.splice(0).length);
  }

  /** Resolves once no delivery loop runs. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private kick(): void {
    if (this.running || this.stop.signal.aborted) return;
    this.running = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.deliver())
      .finally(() => {
        this.running = undefined;
        if (this.items.length > 0) this.kick();
      });
  }
}
