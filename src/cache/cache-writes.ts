// Writes to the cache made on the request path: a full, read-only or failing disk never fails a pull.
//
// Every such write (tag records, visibility links, manifest records and bodies, pins, blob files) goes
// through here: a failure is counted, logged at most once per interval and kind (a full disk fails every
// request the same way; one line per request would drown the log), and makes the replica unready while
// writes keep failing. The caller goes on serving from upstream or memory.
import { describeError } from '../oci/errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

/** A closed set, used as a metric label: blob files, manifest bodies with their records, other metadata. */
export type CacheWriteKind = 'blob' | 'manifest' | 'metadata';

/** At most one log line per kind in this interval; the next one says how many failures it stood for. */
const logIntervalMs = 30_000;
/** A request-path failure keeps the replica unready this long unless a write succeeds after it. */
const unreadyForMs = 30_000;

export interface WriteProbe {
  /** Writes where downloads go (the blob store) and to the metadata store; throws when either refuses. */
  (): Promise<void>;
}

export class CacheWrites {
  private lastFailure: { at: number; kind: CacheWriteKind; message: string } | undefined;
  private readonly logged = new Map<CacheWriteKind, { at: number; suppressed: number }>();

  constructor(
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Runs a cache write; a failure is reported (see failed) and resolves to false instead of throwing. */
  async attempt(kind: CacheWriteKind, what: string, write: () => Promise<unknown>, context: Record<string, unknown> = {}): Promise<boolean> {
    try {
      await write();
    } catch (err) {
      this.failed(kind, what, err, context);
      return false;
    }
    this.succeeded();
    return true;
  }

  /** Reports a failed write that the caller handled itself (a blob download that goes on without its file). */
  failed(kind: CacheWriteKind, what: string, err: unknown, context: Record<string, unknown> = {}): void {
    const now = this.clock();
    this.metrics.cacheWriteErrors.inc({ kind });
    this.lastFailure = { at: now, kind, message: `${what}: ${describeError(err)}` };
    const last = this.logged.get(kind);
    if (last && now - last.at < logIntervalMs) {
      last.suppressed += 1;
      return;
    }
    this.logged.set(kind, { at: now, suppressed: 0 });
    this.log.error(
      { ...context, kind, what, err: describeError(err), ...(last?.suppressed ? { alsoFailed: last.suppressed } : {}) },
      'cache write failed; serving without caching',
    );
  }

  /** A write went through: the disk takes writes again. */
  succeeded(): void {
    if (!this.lastFailure) return;
    const { kind } = this.lastFailure;
    this.lastFailure = undefined;
    this.logged.clear();
    this.log.info({ kind }, 'cache writes succeed again');
  }

  /**
   * Readiness: the probe must write, and request-path writes must not have failed lately without a
   * success since. The probe makes a replica that gets no traffic (because it is unready) ready again
   * once its disk recovers, and unready when the disk fails while nobody pulls.
   */
  async problems(probe: WriteProbe): Promise<string[]> {
    try {
      await probe();
    } catch (err) {
      return [`cache directory does not take writes: ${describeError(err)}`];
    }
    const failure = this.lastFailure;
    if (failure && this.clock() - failure.at < unreadyForMs) {
      return [`cache writes are failing (${failure.kind}, ${Math.round((this.clock() - failure.at) / 1000)} s ago): ${failure.message}`];
    }
    return [];
  }
}
