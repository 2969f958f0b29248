// The pull audit POSTed to an HTTP listener in the reference registry's notification format, batched, retried,
// behind a bounded queue, so existing listeners work and a slow or dead listener never slows a pull.
//
// emit() formats the event and queues it, nothing more. One sender takes up to batchSize events, waiting at most
// batchDelayMs for a batch to fill, and POSTs them as one envelope (distribution's docs allow unrelated events in
// one envelope). A 2xx is delivery. Connection errors, timeouts, 408, 429 and 5xx are retried with exponential
// backoff, for as long as it takes: while the listener is down nothing is lost until the queue is full. A full
// queue drops the *newest* event and counts it: the events kept are then an unbroken run from the moment the
// listener went away, the gap is at the end and its size is known, and the batch being retried (the oldest events)
// is never pulled out from under its own retry. Any other 4xx is the listener refusing this envelope for good
// (retrying would block everything behind it): the batch is dropped, counted and logged. Redirects are not
// followed (distribution follows them): audit records and the configured Authorization header go only to the
// URL the operator named, so a 3xx is counted as a refusal.
import { Agent, request, type Dispatcher } from 'undici';
import { describeError } from '../oci/errors.js';
import type { Logger } from '../log.js';
import type { PullEvent } from '../cache/pull-events.js';
import type { AuditCounters, AuditDropReason, AuditSink, Sleep } from './audit-sink.js';
import { notificationEvent, notificationMediaType, type NotificationEvent, type NotificationSource } from './notification-format.js';
import { DeliveryQueue } from './delivery-queue.js';
import { parseRetryAfter } from './retry-after.js';
import { sleepUnlessAborted } from './sleep-unless-aborted.js';
import { ThrottledReport } from './throttled-report.js';

export interface NotificationSettings {
  /** The listener's URL (http or https, no user:password: put credentials in `headers`). */
  readonly url: string;
  /** Sent with every POST (e.g. Authorization); never logged. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Per POST, connection to last byte of the answer (default 5 s). */
  readonly timeoutMs?: number;
  /** Events per envelope, at most (default 100). */
  readonly batchSize?: number;
  /** How long the first queued event waits for others to share its envelope (default 1 s). */
  readonly batchDelayMs?: number;
  /** Events held while the listener is slow or down; beyond it new events are dropped and counted (default 10,000). */
  readonly queueSize?: number;
  /** First retry pause; it doubles per failed attempt up to backoffMaxMs (defaults 500 ms and 60 s). */
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  readonly source: NotificationSource;
}

export interface NotificationDeps {
  readonly counters: AuditCounters;
  readonly log: Logger;
  readonly now?: () => number;
  readonly sleep?: Sleep;
  /** In [0, 1): the jitter. */
  readonly random?: () => number;
  /** At most one error line per this interval (default 60 s). */
  readonly logIntervalMs?: number;
  /** Where POSTs go through; by default an Agent of the sink's own, closed with it. */
  readonly dispatcher?: Dispatcher;
}

type Outcome = { kind: 'delivered' } | { kind: 'rejected'; status: number } | { kind: 'retry'; status?: number; error?: string; retryAfterMs?: number };

/** Headers the sink sets itself; a configured one of these would corrupt the request. */
const reservedHeaders = new Set(['content-type', 'content-length', 'transfer-encoding', 'host', 'connection', 'keep-alive', 'upgrade', 'te', 'expect']);
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Answer bytes read before the connection is given up (a listener's body means nothing to us). */
const answerLimit = 64 * 1024;

export class NotificationSink implements AuditSink {
  private readonly queue: DeliveryQueue<NotificationEvent>;
  private closed: Promise<void> | undefined;
  private wake = new AbortController();
  private failedInARow = 0;
  private readonly url: URL;
  /** The URL without query or credentials, for logs. */
  private readonly shownUrl: string;
  private readonly headers: Record<string, string>;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly timeoutMs: number;
  private readonly batchSize: number;
  private readonly batchDelayMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly failure: ThrottledReport;
  private readonly refusal: ThrottledReport;

  constructor(
    private readonly settings: NotificationSettings,
    private readonly deps: NotificationDeps,
  ) {
    this.url = new URL(settings.url);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:')
      throw new RangeError(`notification url must be http or https, got ${this.url.protocol}`);
    if (this.url.username || this.url.password) throw new RangeError('notification url must not carry user:password; set an Authorization header instead');
    this.shownUrl = `${this.url.origin}${this.url.pathname}`;
    this.headers = {};
    for (const [name, value] of Object.entries(settings.headers ?? {})) {
      if (!headerName.test(name)) throw new RangeError(`notification header name ${JSON.stringify(name)} is not a valid HTTP header name`);
      if (reservedHeaders.has(name.toLowerCase())) throw new RangeError(`notification header ${name} is set by tender and cannot be configured`);
      if (/[\r\n\0]/.test(value)) throw new RangeError(`notification header ${name} has a line break or NUL in its value`);
      this.headers[name.toLowerCase()] = value;
    }
    this.headers['content-type'] = notificationMediaType;
    this.timeoutMs = positive('timeoutMs', settings.timeoutMs ?? 5000);
    this.batchSize = positive('batchSize', settings.batchSize ?? 100);
    this.batchDelayMs = settings.batchDelayMs ?? 1000;
    if (!(Number.isFinite(this.batchDelayMs) && this.batchDelayMs >= 0))
      throw new RangeError(`notification batchDelayMs must be 0 or more, got ${this.batchDelayMs}`);
    this.queue = new DeliveryQueue(
      positive('queueSize', settings.queueSize ?? 10_000),
      () => this.drain(),
      (reason, count) => this.drop(reason, count),
    );
    this.backoffInitialMs = positive('backoffInitialMs', settings.backoffInitialMs ?? 500);
    this.backoffMaxMs = Math.max(this.backoffInitialMs, settings.backoffMaxMs ?? 60_000);
    this.sleep = deps.sleep ?? sleepUnlessAborted;
    this.random = deps.random ?? Math.random;
    this.now = deps.now ?? Date.now;
    this.ownsDispatcher = deps.dispatcher === undefined;
    this.dispatcher = deps.dispatcher ?? new Agent({ connect: { timeout: this.timeoutMs } });
    const interval = deps.logIntervalMs ?? 60_000;
    this.failure = new ThrottledReport(deps.log, 'cannot deliver audit events to the notification listener; retrying', interval, this.now);
    this.refusal = new ThrottledReport(deps.log, 'the notification listener refused audit events; they are dropped', interval, this.now);
  }

  get pending(): number {
    return this.queue.pending;
  }

  emit(event: PullEvent): void {
    try {
      if (this.queue.offer(() => notificationEvent(event, this.settings.source)) && this.queue.items.length >= this.batchSize) this.wake.abort();
    } catch {
      // The port's promise: nothing reaches the pull.
    }
  }

  close(deadlineMs: number): Promise<void> {
    this.closed ??= this.shutdown(deadlineMs);
    return this.closed;
  }

  private async shutdown(deadlineMs: number): Promise<void> {
    // Past the deadline: the POST and the backoff in progress are aborted; what is left is counted, not sent.
    await this.queue.close(deadlineMs, () => this.wake.abort());
    await this.queue.idle();
    if (this.ownsDispatcher) await this.dispatcher.destroy().catch(() => undefined);
  }

  private async drain(): Promise<void> {
    while (this.queue.items.length > 0 && !this.queue.stop.signal.aborted) {
      if (this.queue.items.length < this.batchSize && !this.queue.closing) {
        this.wake = new AbortController();
        await this.sleep(this.batchDelayMs, AbortSignal.any([this.wake.signal, this.queue.stop.signal]));
        if (this.queue.stop.signal.aborted) break;
      }
      const batch = this.queue.items.splice(0, this.batchSize);
      this.queue.inFlight = batch.length;
      const settled = await this.deliver(batch);
      this.queue.inFlight = 0;
      if (!settled) this.drop('shutdown', batch.length);
    }
  }

  /** Sends one envelope until it is delivered or refused (true), or shutdown cuts it off (false). */
  private async deliver(batch: readonly NotificationEvent[]): Promise<boolean> {
    const body = JSON.stringify({ events: batch });
    for (let attempt = 1; ; attempt += 1) {
      const outcome = await this.post(body);
      if (outcome.kind === 'delivered') {
        this.deps.counters.delivered.inc({ sink: 'http' }, batch.length);
        if (this.failedInARow > 0) this.deps.log.info({ url: this.shownUrl, failedAttempts: this.failedInARow }, 'notification listener reachable again');
        this.failedInARow = 0;
        return true;
      }
      if (this.queue.stop.signal.aborted) return false;
      this.deps.counters.failedAttempts.inc({ sink: 'http' });
      if (outcome.kind === 'rejected') {
        this.refusal.report({ url: this.shownUrl, status: outcome.status, events: batch.length });
        this.drop('rejected', batch.length);
        return true;
      }
      this.failedInARow += 1;
      const pause = outcome.retryAfterMs !== undefined ? Math.min(outcome.retryAfterMs, this.backoffMaxMs) : this.backoff(attempt);
      this.failure.report({ url: this.shownUrl, status: outcome.status, err: outcome.error, attempt, retryInMs: Math.round(pause), pending: this.pending });
      await this.sleep(pause, this.queue.stop.signal);
      if (this.queue.stop.signal.aborted) return false;
    }
  }

  private async post(body: string): Promise<Outcome> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.timeoutMs), this.queue.stop.signal]);
    try {
      const answer = await request(this.url, { method: 'POST', headers: this.headers, body, signal, dispatcher: this.dispatcher });
      await answer.body.dump({ limit: answerLimit, signal }).catch(() => undefined);
      const status = answer.statusCode;
      if (status >= 200 && status < 300) return { kind: 'delivered' };
      if (status === 408 || status === 429 || status >= 500) {
        const retryAfterMs = parseRetryAfter(answer.headers['retry-after'], this.now());
        return retryAfterMs === undefined ? { kind: 'retry', status } : { kind: 'retry', status, retryAfterMs };
      }
      return { kind: 'rejected', status };
    } catch (err) {
      return { kind: 'retry', error: describeError(err) };
    }
  }

  /**
   * The pause before retry `attempt` (1-based): the doubling delay, half of it fixed and half random ("equal
   * jitter"), so retries from replicas that failed together spread out yet never come sooner than half the step.
   */
  private backoff(attempt: number): number {
    const step = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** Math.min(attempt - 1, 30));
    return step / 2 + this.random() * (step / 2);
  }

  private drop(reason: AuditDropReason, count: number): void {
    if (count > 0) this.deps.counters.dropped.inc({ sink: 'http', reason }, count);
  }
}

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`notification ${name} must be a positive number, got ${value}`);
  return value;
}
