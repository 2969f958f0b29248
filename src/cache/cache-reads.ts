// Metadata reads on the request path: an unreadable record (EIO, a broken Redis answer) is never a 500.
//
// Reads degrade the way writes do (cache-writes.ts): the failure is counted, logged at most once per
// interval and kind, and the request goes on as if nothing were recorded. A tag whose record cannot be
// read is resolved upstream like a miss; a manifest record that cannot be read means "not cached" (it is
// fetched again by digest); a visibility link that cannot be read means "not known" (upstream confirms
// with a HEAD). A store that stays unreadable makes the replica unready through /readyz's own read.
import { describeError } from '../oci/errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

/** A closed set, used as a metric label. */
export type CacheReadKind = 'tag' | 'manifest' | 'link' | 'listing' | 'signature';

/** At most one log line per kind in this interval; the next one says how many failures it stood for. */
const logIntervalMs = 30_000;

export class CacheReads {
  private readonly logged = new Map<CacheReadKind, { at: number; suppressed: number }>();

  constructor(
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Runs a metadata read; a failure is reported and resolves to `fallback` instead of throwing. */
  async attempt<T>(kind: CacheReadKind, read: () => Promise<T>, fallback: T, context: Record<string, unknown> = {}): Promise<T> {
    try {
      return await read();
    } catch (err) {
      this.failed(kind, err, context);
      return fallback;
    }
  }

  private failed(kind: CacheReadKind, err: unknown, context: Record<string, unknown>): void {
    const now = this.clock();
    this.metrics.cacheReadErrors.inc({ kind });
    const last = this.logged.get(kind);
    if (last && now - last.at < logIntervalMs) {
      last.suppressed += 1;
      return;
    }
    this.logged.set(kind, { at: now, suppressed: 0 });
    this.log.error(
      { ...context, kind, err: describeError(err), ...(last?.suppressed ? { alsoFailed: last.suppressed } : {}) },
      'cache metadata read failed; going on as if nothing were recorded',
    );
  }
}
