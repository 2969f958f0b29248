// An error line at most once per interval, with how many were held back: a dead audit destination must
// be visible in the log without writing one line per event (which would be its own outage).
import type { Logger } from '../log.js';

export class ThrottledReport {
  private lastAt = Number.NEGATIVE_INFINITY;
  private held = 0;

  constructor(
    private readonly log: Logger,
    private readonly message: string,
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {}

  report(fields: Record<string, unknown>): void {
    const at = this.now();
    if (at - this.lastAt < this.intervalMs) {
      this.held += 1;
      return;
    }
    this.log.error({ ...fields, suppressedSinceLast: this.held }, this.message);
    this.lastAt = at;
    this.held = 0;
  }
}
