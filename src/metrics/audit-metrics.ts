// The pull audit's delivery series (issue 15), part of Metrics (metrics.ts) as `metrics.audit`: by sink, the
// events delivered, dropped and the failed attempts, and the queue depth read from the sinks when scraped.
import { Counter, Gauge, type Registry } from 'prom-client';

export type AuditSinkName = 'file' | 'http';

export class AuditMetrics {
  readonly delivered: Counter<'sink'>;
  readonly dropped: Counter<'sink' | 'reason'>;
  readonly failedAttempts: Counter<'sink'>;
  readonly queueDepth: Gauge<'sink'>;
  /** The audit sinks whose queues the depth gauge reads when scraped. */
  private readonly queues: Array<{ readonly sink: AuditSinkName; pending(): number }> = [];

  constructor(registry: Registry) {
    this.delivered = new Counter({
      name: 'tender_audit_events_delivered_total',
      help: 'Pull events written to the audit file or accepted by the notification listener, by sink (file|http).',
      labelNames: ['sink'] as const,
      registers: [registry],
    });
    this.dropped = new Counter({
      name: 'tender_audit_events_dropped_total',
      help: 'Pull events given up, by sink (file|http) and reason (queue-full|rejected|shutdown).',
      labelNames: ['sink', 'reason'] as const,
      registers: [registry],
    });
    this.failedAttempts = new Counter({
      name: 'tender_audit_failed_attempts_total',
      help: 'Audit file writes or listener POSTs that failed, by sink; every retry counts.',
      labelNames: ['sink'] as const,
      registers: [registry],
    });
    const queues = this.queues;
    this.queueDepth = new Gauge({
      name: 'tender_audit_queue_depth',
      help: 'Pull events waiting for delivery, by sink.',
      labelNames: ['sink'] as const,
      registers: [registry],
      collect() {
        for (const queue of queues) this.set({ sink: queue.sink }, queue.pending());
      },
    });
  }

  /** The series at 0 for each configured sink (see Metrics.initialize), and its queue read by the depth gauge. */
  initialize(sinks: ReadonlyArray<{ readonly sink: AuditSinkName; pending(): number }>): void {
    for (const queue of sinks) {
      const sink = queue.sink;
      this.queues.push(queue);
      this.delivered.inc({ sink }, 0);
      this.failedAttempts.inc({ sink }, 0);
      for (const reason of ['queue-full', 'rejected', 'shutdown'] as const) this.dropped.inc({ sink, reason }, 0);
    }
  }
}
