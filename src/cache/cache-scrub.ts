// The background scrub: re-hashes every cached file at a bounded rate (scrubRate, bytes per second), so
// rot that changes no file metadata (a failing medium) is found before a client asks, not only on serve.
//
// Serve-time checks already guarantee that no client gets a complete body whose bytes do not match; the
// scrub finds damage early and keeps the quarantine honest. Files not yet hashed by this process go first,
// then the others, oldest first. A pass starts at most once a day; a pass over a large cache at a modest
// rate takes hours, and reading the whole volume more often would cost more disk bandwidth than it saves.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDigest } from '../oci/digest.js';
import { describeError } from '../oci/errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { BlobIndex } from './blob-index.js';
import { DamagedBlobError } from './blob-store.js';
import { CachedCopyGone, type CachedKind, type ServeVerification } from './serve-verification.js';

/** A new pass starts at most this long after the previous one started. */
const passIntervalMs = 24 * 60 * 60 * 1000;

export class CacheScrub {
  constructor(
    private readonly index: BlobIndex,
    private readonly verification: ServeVerification,
    private readonly bytesPerSecond: number,
    /** Whether a cached digest is a manifest (for the corruption count's kind). */
    private readonly kindOf: (digest: string, size: number) => Promise<CachedKind>,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** Runs passes until `signal` aborts; does nothing when the rate is 0. Never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.bytesPerSecond <= 0) return;
    this.log.info({ bytesPerSecond: this.bytesPerSecond }, 'cache scrub started');
    try {
      while (!signal.aborted) {
        const started = Date.now();
        await this.pass(signal);
        await sleep(Math.max(0, started + passIntervalMs - Date.now()), undefined, { signal });
      }
    } catch (err) {
      if (!signal.aborted) this.log.error({ err: describeError(err) }, 'cache scrub stopped');
    }
  }

  /** One pass over what is indexed now, at the configured rate. */
  async pass(signal: AbortSignal): Promise<{ checked: number; bytes: number; damaged: number }> {
    const started = Date.now();
    const report = { checked: 0, bytes: 0, damaged: 0 };
    // The rate is kept over the whole pass: after each chunk, wait until the bytes read so far are due.
    let due = 0;
    const pace = async (bytes: number): Promise<void> => {
      this.metrics.scrubbedBytes.inc(bytes);
      due += (bytes / this.bytesPerSecond) * 1000;
      const wait = started + due - Date.now();
      if (wait > 0) await sleep(wait, undefined, { signal });
    };
    for (const entry of this.index.scrubOrder()) {
      signal.throwIfAborted();
      if (this.index.entryId(entry.digest) !== entry.id) continue; // evicted or replaced since the pass began
      const digest = parseDigest(entry.digest);
      try {
        await this.verification.hashFile(digest, entry.id, entry.size, await this.kindOf(entry.digest, entry.size), pace);
        report.checked += 1;
        report.bytes += entry.size;
      } catch (err) {
        if (signal.aborted) throw err;
        if (err instanceof DamagedBlobError) report.damaged += 1;
        else if (!(err instanceof CachedCopyGone)) this.log.warn({ digest: entry.digest, err: describeError(err) }, 'cache scrub could not read a file');
      }
    }
    this.log.info({ ...report, ms: Date.now() - started }, 'cache scrub pass finished');
    return report;
  }
}
