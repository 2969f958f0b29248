// The one log line and the request metrics of every request, hono's and the plain registry listener's alike.
//
// It runs once per request, so it is built for the warm hit (bench/PROFILE.md: the line at info was 25-41 % of
// a hit's CPU): the line's logger skips the redaction walk (its fields are fixed and hold no secret), and the
// metrics count in plain numbers (metrics/tallied-counter.ts, tallied-histogram.ts), so a hit builds no label object.
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { RequestState } from './request-state.js';

export class RequestLog {
  private readonly log: Logger;

  constructor(
    log: Logger,
    private readonly metrics: Metrics,
  ) {
    // The request line's fields are fixed and hold no secret, so it skips the redaction walk every other line
    // gets: at info, tender's default, redaction was 6 % of a warm hit's CPU.
    this.log = log.child({}, { redact: [] });
  }

  /** Counts the request and writes its line (none for ops endpoints: probes and scrapes would drown the log). */
  record(method: string, url: string, status: number, state: RequestState, requestId: string, started: number, finished: boolean): void {
    const { kind, upstream, result, cacheKind } = state;
    const metrics = this.metrics;
    metrics.requests.add(kind, method, status);
    if (upstream && result && cacheKind) {
      metrics.cacheResults.add(upstream, cacheKind, result);
      if (state.firstByteAt !== undefined) metrics.timeToFirstByte.observe(cacheKind, result, (state.firstByteAt - started) / 1000);
    }
    const bytes = finished ? (state.bytes ?? 0) : undefined;
    if (upstream && bytes && state.source) metrics.bytesServed.add(upstream, state.source, '', bytes);
    // No line object is built when the level drops it (the bench runs at warn; a quiet production may too).
    if (kind === 'ops' || !this.log.isLevelEnabled('info')) return;
    const durationMs = Math.round((performance.now() - started) * 10) / 10;
    this.log.info(
      {
        requestId,
        method,
        path: url.length > 512 ? `${url.slice(0, 512)}…` : url,
        status,
        upstream,
        repository: state.repository,
        identity: state.identity,
        kind,
        result,
        bytes,
        aborted: finished ? undefined : true,
        durationMs,
        error: state.error,
      },
      'request',
    );
  }
}
