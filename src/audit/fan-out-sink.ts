// One pull event to several audit sinks (file and listener): each gets it; one that throws harms no other, nor the pull.
import { describeError } from '../oci/errors.js';
import type { Logger } from '../log.js';
import type { PullEvent } from '../cache/pull-events.js';
import type { AuditSink } from './audit-sink.js';
import { ThrottledReport } from './throttled-report.js';

export class FanOutSink implements AuditSink {
  private readonly failure: ThrottledReport;

  constructor(
    private readonly sinks: readonly AuditSink[],
    log: Logger,
    now: () => number = Date.now,
  ) {
    this.failure = new ThrottledReport(log, 'an audit sink threw on emit', 60_000, now);
  }

  get pending(): number {
    return this.sinks.reduce((sum, sink) => sum + sink.pending, 0);
  }

  emit(event: PullEvent): void {
    for (const sink of this.sinks) {
      // The port forbids throwing; this guard keeps a broken adapter from failing the pull that emitted.
      try {
        sink.emit(event);
      } catch (err) {
        try {
          this.failure.report({ err: describeError(err) });
        } catch {
          // Even a failing logger stays out of the pull.
        }
      }
    }
  }

  async close(deadlineMs: number): Promise<void> {
    await Promise.all(this.sinks.map((sink) => sink.close(deadlineMs).catch(() => undefined)));
  }
}
