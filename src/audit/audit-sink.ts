// What every audit adapter is besides a PullEventSink: a queue that can be flushed on shutdown, and its counters.
import type { Counter } from 'prom-client';
import type { PullEventSink } from '../cache/pull-events.js';

/** Which adapter a count belongs to; a closed set, used as a metric label. */
export type AuditSinkKind = 'file' | 'http';

/**
 * Why an event was given up; a closed set, used as a metric label.
 * - `queue-full`: the bounded queue was full when the event arrived (the destination is down or too slow);
 * - `rejected`: the listener refused the envelope for good (a 4xx other than 408/429, or a redirect);
 * - `shutdown`: still queued when the flush deadline of close() passed, or emitted after close().
 */
export type AuditDropReason = 'queue-full' | 'rejected' | 'shutdown';

/** The counters an adapter reports to; defined with the other metrics (src/metrics.ts) and handed in. */
export interface AuditCounters {
  /** Events written to the file or accepted by the listener. */
  readonly delivered: Counter<'sink'>;
  readonly dropped: Counter<'sink' | 'reason'>;
  /** Writes or POSTs that failed; every retry counts once. */
  readonly failedAttempts: Counter<'sink'>;
}

export interface AuditSink extends PullEventSink {
  /** Events taken but not yet delivered (a queue-depth gauge can read it on collect). */
  readonly pending: number;
  /**
   * Stops taking events and delivers what is queued, for at most `deadlineMs`; what is left then is dropped and
   * counted (`shutdown`). Never rejects.
   */
  close(deadlineMs: number): Promise<void>;
}

/** Waits `ms`, or less when `signal` aborts; never rejects. Injected so tests need not wait for backoff. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;
