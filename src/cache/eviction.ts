// The evictor: keeps the index under maxCacheSize, least recently used first, never a pinned blob or one being read.
//
// A victim leaves the index at once (a new request for it is a miss) and its file is unlinked a short
// grace later, so a request that looked it up a moment ago can still open it (a file already open stays
// readable after its unlink). With workers on one host (issue 17) one process owns eviction for the shared
// directory: its index has every worker's commits (cache-news.ts), and the others drop what it evicts.
import { parseDigest } from '../oci/digest.js';
import { describeError } from '../oci/errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { BlobIndex } from './blob-index.js';
import type { BlobStore } from './blob-store.js';

export interface EvictionOptions {
  /** Cap on cached bytes; 0 means no cap. */
  readonly maxCacheBytes: number;
  /** Files of evicted blobs are unlinked this long after they leave the index (0: at once). */
  readonly graceMs: number;
  /** Whether this process evicts (the host's one owner among workers); always, when absent. */
  readonly isOwner?: () => boolean;
  /** Tells the other processes what was evicted. */
  readonly onEvicted?: (digests: readonly string[]) => void;
}

/** Work down to 5 % under the cap, so eviction does not run on every commit. */
const lowWatermark = 0.95;

export class Eviction {
  private running = false;

  constructor(
    private readonly index: BlobIndex,
    private readonly store: Pick<BlobStore, 'delete'>,
    private readonly options: EvictionOptions,
    /** Drops other copies of an evicted digest (the small-blob memory). */
    private readonly forget: (digest: string) => void,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** The file of an evicted digest is gone (not fetched again within the grace): its records may go too. */
    private readonly evicted: (digest: string) => void = () => undefined,
  ) {}

  /** Evicts until the cache is under its low watermark, when it is over its cap; one pass at a time. Never rejects. */
  async run(): Promise<void> {
    const cap = this.options.maxCacheBytes;
    if (cap <= 0 || this.running || this.index.totalBytes <= cap || this.options.isOwner?.() === false) return;
    await this.pass(cap);
    // Commits that arrived during the pass found it running and left: look again.
    if (this.index.totalBytes > cap && this.index.victims(1).length > 0) await this.run();
  }

  private async pass(cap: number): Promise<void> {
    this.running = true;
    try {
      const victims = this.index.victims(this.index.totalBytes - Math.floor(cap * lowWatermark));
      for (const victim of victims) {
        this.index.remove(victim.digest);
        this.forget(victim.digest);
        this.metrics.evictions.inc();
        this.metrics.evictedBytes.inc(victim.size);
        const unlink = async (): Promise<void> => {
          if (this.index.has(victim.digest)) return; // fetched again meanwhile: the file is current
          await this.store.delete(parseDigest(victim.digest)).then(
            () => this.evicted(victim.digest),
            (err: unknown) => this.log.warn({ digest: victim.digest, err: describeError(err) }, 'could not delete evicted blob'),
          );
        };
        if (this.options.graceMs > 0) setTimeout(() => void unlink(), this.options.graceMs).unref();
        else await unlink();
      }
      if (victims.length > 0) this.options.onEvicted?.(victims.map((v) => v.digest));
      if (victims.length > 0) this.log.info({ evicted: victims.length, cacheBytes: this.index.totalBytes, cap }, 'evicted least recently used blobs');
      if (this.index.totalBytes > cap) this.log.warn({ cacheBytes: this.index.totalBytes, cap }, 'cache over its cap: the rest is pinned or being read');
    } finally {
      this.running = false;
    }
  }
}
