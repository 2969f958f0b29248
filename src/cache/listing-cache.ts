// The one caching policy of the listings (tags lists and referrers lists), which change upstream while
// tender serves them: fresh for a window after upstream last answered, then asked again (one request per
// list at a time); stale-if-error, and stale after `staleTimeoutMs` when upstream is slow; for good when
// the upstream is offline. The same policy as tag resolution (tags.ts), for the same reason: a list, like
// a tag, may move upstream, and a mirror that lists what it can pull while upstream is down is what users
// expect.
import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { describeError, isOciError, type OciErrorCode } from '../oci/errors.js';
import type { Logger } from '../log.js';
import type { CacheResult } from '../metrics.js';
import type { CacheReads } from './cache-reads.js';
import type { CacheWrites } from './cache-writes.js';
import type { ListingRecord, ListingRecords } from './listing-records.js';
import type { Route } from './ports.js';
import { SingleFlight } from './single-flight.js';

export interface ListingCacheOptions {
  /** How long a list is served without asking upstream (the tag TTL). */
  readonly ttlMs: number;
  /** How long a refresh may take before the last known list is served instead. */
  readonly staleTimeoutMs: number;
  readonly clock: () => number;
}

export interface ListingCacheParts {
  readonly records: ListingRecords;
  readonly writes: CacheWrites;
  readonly reads: CacheReads;
}

export interface Listed<R extends ListingRecord> {
  readonly record: R;
  /** hit: within the window (or offline); miss: upstream answered now; stale: upstream failed, the last list served. */
  readonly result: Extract<CacheResult, 'hit' | 'miss' | 'stale'>;
}

/** While upstream is failing, an expired list is asked about again at most this often (as tags are). */
const refreshBackoffMs = 10_000;
/** Lists kept in memory in front of the metadata store, in (UTF-16) characters of their JSON. */
const memoryChars = 16 * 1024 * 1024;

class RefreshTimeout extends Error {}

export class ListingCache {
  private readonly refreshes = new SingleFlight<ListingRecord>();
  private readonly retryAfter = new LRUCache<string, number>({ max: 10_000 });
  private readonly memory = new LRUCache<string, ListingRecord>({ maxSize: memoryChars, sizeCalculation: (r) => Math.max(1, JSON.stringify(r).length) });

  constructor(
    private readonly parts: ListingCacheParts,
    private readonly options: ListingCacheOptions,
    private readonly log: Logger,
  ) {}

  /**
   * The list under `key`: the record while fresh, else `fetch`'s answer (recorded), else the record
   * served stale. `gone` names the error codes that mean "upstream has no such list any more": that
   * is an answer, the record is forgotten and the error thrown.
   */
  async get<R extends ListingRecord>(route: Route, key: string, fetch: () => Promise<R>, gone: readonly OciErrorCode[]): Promise<Listed<R>> {
    const now = this.options.clock();
    const record = (await this.recorded(key)) as R | undefined;
    if (record) {
      if (route.upstream.offline || now - record.checkedAt < this.options.ttlMs) return { record, result: 'hit' };
      if ((this.retryAfter.get(key) ?? 0) > now) return { record, result: 'stale' };
    }
    const work = this.refreshes.run(key, async () => {
      const fresh = await fetch();
      await this.write(key, fresh);
      return fresh;
    }) as Promise<R>;
    if (!record) return { record: await work, result: 'miss' };
    try {
      return { record: await raceTimeout(work, this.options.staleTimeoutMs), result: 'miss' };
    } catch (err) {
      if (isOciError(err) && gone.includes(err.code)) {
        await this.forget(key);
        throw err;
      }
      const first = (this.retryAfter.get(key) ?? 0) <= now;
      this.retryAfter.set(key, now + refreshBackoffMs);
      const reason = err instanceof RefreshTimeout ? 'timeout' : describeError(err);
      if (first) this.log.warn({ key, reason, checkedAt: record.checkedAt }, 'upstream list refresh failed; serving the last known list');
      return { record, result: 'stale' };
    }
  }

  /** The record as known here, without asking upstream; an unreadable store gives what memory has. */
  async recorded(key: string): Promise<ListingRecord | undefined> {
    const remembered = this.memory.get(key);
    if (remembered && this.options.clock() - remembered.checkedAt < this.options.ttlMs) return remembered;
    // Another replica may have refreshed it meanwhile.
    const stored = await this.parts.reads.attempt('listing', () => this.parts.records.getListing(key), undefined, { key });
    if (stored) this.memory.set(key, stored);
    return stored ?? remembered;
  }

  private async write(key: string, record: ListingRecord): Promise<void> {
    this.memory.set(key, record);
    await this.parts.writes.attempt('metadata', 'listing record', () => this.parts.records.setListing(key, record), { key });
  }

  private async forget(key: string): Promise<void> {
    this.memory.delete(key);
    await this.parts.writes.attempt('metadata', 'listing removal', () => this.parts.records.deleteListing(key), { key });
  }
}

async function raceTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      work,
      sleep(ms, undefined, { signal: timer.signal }).then(() => {
        throw new RefreshTimeout(`no upstream answer within ${ms} ms`);
      }),
    ]);
  } finally {
    timer.abort();
  }
}
