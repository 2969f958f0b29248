// The one log line and the request metrics of every request, hono's and the plain registry listener's alike.
//
// It runs once per request, so it is built for the warm hit (bench/PROFILE.md: the line at info was 25-41 % of
// a hit's CPU): the line's logger skips the redaction walk (its fields are fixed and hold no secret), and the
// metric series are bound once per label set and kept, so a hit builds no label object.
import type { Counter, Histogram } from 'prom-client';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { RequestState } from './request-state.js';

/** Label sets are closed (kinds, methods, statuses, upstream names, results): this only bounds a surprise. */
const maxBound = 2048;

/** prom-client children bound to one label set, kept by a key of the label values. */
class Bound<T> {
  private readonly children = new Map<string, T>();

  constructor(private readonly bind: (...values: string[]) => T) {}

  get(key: string, ...values: string[]): T {
    let child = this.children.get(key);
    if (child === undefined) {
      child = this.bind(...values);
      if (this.children.size >= maxBound) this.children.clear();
      this.children.set(key, child);
    }
    return child;
  }
}

type Inc = ReturnType<Counter<string>['labels']>;
type Observe = ReturnType<Histogram<string>['labels']>;

export class RequestLog {
  private readonly log: Logger;
  private readonly requests: Bound<Inc>;
  private readonly cacheResults: Bound<Inc>;
  private readonly bytesServed: Bound<Inc>;
  private readonly timeToFirstByte: Bound<Observe>;

  constructor(log: Logger, metrics: Metrics) {
    // The request line's fields are fixed and hold no secret (a URL, names, counts), so it skips the redaction
    // walk every other line gets: at info, tender's default, redaction was 6 % of a warm hit's CPU.
    this.log = log.child({}, { redact: [] });
    this.requests = new Bound((kind, method, status) => metrics.requests.labels({ kind: kind!, method: method!, status: status! }));
    this.cacheResults = new Bound((upstream, kind, result) => metrics.cacheResults.labels({ upstream: upstream!, kind: kind!, result: result! }));
    this.bytesServed = new Bound((upstream, source) => metrics.bytesServed.labels({ upstream: upstream!, source: source! }));
    this.timeToFirstByte = new Bound((kind, result) => metrics.timeToFirstByte.labels({ kind: kind!, result: result! }));
  }

  /** Counts the request and writes its line (none for ops endpoints: probes and scrapes would drown the log). */
  record(method: string, url: string, status: number, state: RequestState, requestId: string, started: number, finished: boolean): void {
    const durationMs = Math.round((performance.now() - started) * 10) / 10;
    const { kind, upstream, result, cacheKind } = state;
    this.requests.get(`${kind}\n${method}\n${status}`, kind, method, String(status)).inc();
    if (upstream && result && cacheKind) {
      this.cacheResults.get(`${upstream}\n${cacheKind}\n${result}`, upstream, cacheKind, result).inc();
      if (state.firstByteAt !== undefined) this.timeToFirstByte.get(`${cacheKind}\n${result}`, cacheKind, result).observe((state.firstByteAt - started) / 1000);
    }
    const bytes = finished ? (state.bytes ?? 0) : undefined;
    if (upstream && bytes && state.source) this.bytesServed.get(`${upstream}\n${state.source}`, upstream, state.source).inc(bytes);
    if (kind === 'ops') return;
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
