// What the blob cache (blob-cache.ts) answers and is built from, and the small functions around its flights.
import type { Digest } from '../oci/digest.js';
import { describeError, OciError } from '../oci/errors.js';
import type { CacheResult } from '../metrics.js';
import type { BlobFlight } from './blob-flight.js';
import type { BlobStore } from './blob-store.js';
import type { CacheWrites } from './cache-writes.js';
import type { ClusterFlight } from './cluster-flight.js';
import type { KnownSizes } from './known-sizes.js';
import type { RemoteFlight } from './remote-flight.js';
import type { OpenBlob } from './serve-verification.js';
import type { StoredBlobs } from './stored-blobs.js';
import type { Visibility } from './visibility.js';

export interface BlobCacheOptions {
  /** Blobs up to this size are kept in memory once read. */
  readonly smallBlobBytes: number;
  /** Deadline for one upstream blob fetch, however many clients share it. */
  readonly flightTimeoutMs: number;
  /** Deadline for one upstream HEAD made on the cache's behalf. */
  readonly upstreamTimeoutMs: number;
  /** The largest blob accepted from upstream when its size is not known otherwise (maxBlobSize). */
  readonly maxBlobBytes: number;
}

export interface BlobParts {
  readonly stored: StoredBlobs;
  /** Where flights write (verified, committed by rename), and where other processes' downloads are followed. */
  readonly store: Pick<BlobStore, 'create' | 'openTemp'>;
  readonly cluster: ClusterFlight;
  readonly visibility: Visibility;
  readonly knownSizes: KnownSizes;
  readonly writes: CacheWrites;
}

export interface BlobAnswer {
  /** Undefined only when an upstream in flight did not announce a length. */
  readonly size: number | undefined;
  readonly result: CacheResult;
  /** The whole blob, when it is small and in memory. */
  readonly bytes?: Buffer;
  /**
   * Random access for sending bytes `start` to `end` (inclusive; Infinity for a body of unknown length),
   * disk hits and flights alike; `done` must be called once sent; absent for HEAD. A cached file not yet
   * hashed by this process is checked as it is sent (whole) or before (a range).
   */
  readonly file?: (start: number, end: number) => Promise<OpenBlob>;
}

/** A cached file that cannot be sent (damaged, gone, unreadable) is an outage of this copy, retried by clients. */
export function unavailable(digest: Digest, err: unknown): OciError {
  if (err instanceof OciError) return err;
  return new OciError('UNAVAILABLE', `could not read the cached copy of ${digest.value}: ${describeError(err)}; retry to fetch it again`, { cause: err });
}

/** A download this process runs, or one it follows in another process's temp file. */
export type Flight = BlobFlight | RemoteFlight;

export type Obtained = { readonly flight: Flight; readonly result: CacheResult } | { readonly answer: BlobAnswer };

/** Follows a flight to its end, reporting its bytes as they arrive (prefetch's progress); the bytes fetched, or the flight's failure. */
export async function followToCommit(flight: Flight, digest: Digest, onBytes: ((bytes: number) => void) | undefined): Promise<number> {
  let seen = 0;
  const report = (): void => {
    if (flight.publishedBytes > seen) onBytes?.(flight.publishedBytes - seen);
    seen = Math.max(seen, flight.publishedBytes);
  };
  while (flight.state === 'starting' || flight.state === 'streaming') {
    report();
    await Promise.race([flight.waitForChange(), flight.ended]);
  }
  await flight.ended;
  report();
  if (flight.stored) return seen;
  if (flight.error instanceof OciError) throw flight.error;
  const cause = flight.error ?? 'the cache disk did not take it';
  throw new OciError('UNAVAILABLE', `could not store ${digest.value}: ${describeError(cause)}`, { cause });
}
