// The ports the core drives: where blobs live, where tag/manifest metadata lives, and how upstreams are reached.
import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import type { ByteRange } from '../oci/range.js';

/** Random access to bytes being written, so late joiners read from disk, not from a memory fan-out. */
export interface RandomAccess {
  read(buffer: Buffer, position: number): Promise<number>;
  close(): Promise<void>;
}

export interface BlobWriter {
  /** Bytes appended (and hashed) so far. */
  readonly written: number;
  /** Bytes safely in the temp file: less than `written` once the disk failed. */
  readonly durableBytes: number;
  /** The first disk error, if any. Writes go on hashing after it, so clients can still be served. */
  readonly diskFailure: unknown;
  /** Appends and hashes a chunk; never throws for disk trouble (see diskFailure). */
  write(chunk: Uint8Array): Promise<void>;
  /** A private reader of the bytes written so far; stays valid after commit or abort. */
  openReader(): Promise<RandomAccess>;
  /**
   * Verifies digest (and size, when given) and moves the bytes to their final place. Throws
   * DigestMismatchError for wrong content, DiskWriteError for right content that could not be stored.
   */
  commit(expectedSize?: number): Promise<void>;
  /** Drops the temp file. Safe to call more than once, and after a failed commit. */
  abort(): Promise<void>;
}

/**
 * What a committed file is now: its size, and a stamp that changes whenever the file is written, cut,
 * replaced or renamed (inode, size and change time), so content checked once is trusted only unchanged.
 */
export interface FileState {
  readonly size: number;
  readonly stamp: string;
}

/** A committed blob opened for reading, with the state of the file actually opened (fstat), not as it was listed. */
export interface OpenedBlob extends RandomAccess, FileState {}

export interface BlobStore {
  /** Size and stamp of a committed blob, or undefined when absent. */
  stat(digest: Digest): Promise<FileState | undefined>;
  /** Streams a committed blob, or the inclusive range of it, in reads of `chunkBytes` (default 1 MiB). */
  read(digest: Digest, range?: ByteRange, chunkBytes?: number): Readable;
  /** Random access to a committed blob (hits are sent from reused buffers); undefined when absent. */
  openRead(digest: Digest): Promise<OpenedBlob | undefined>;
  /**
   * Reads a whole committed blob that must be exactly `size` bytes (manifests, small blobs), never more:
   * undefined when absent, DamagedBlobError (reason "size") when the file has another size.
   */
  readAll(digest: Digest, size: number, signal: AbortSignal): Promise<Buffer | undefined>;
  /** Writes and removes a small file where downloads are written; throws when the disk takes no writes (full, read-only). */
  probe(): Promise<void>;
  /** Starts a verified write of `digest`. */
  create(digest: Digest): Promise<BlobWriter>;
  /** Every committed blob, for rebuilding the index at start and for `verify`. */
  list(): AsyncIterable<StoredBlob>;
  /** Removes a committed blob (eviction). Open readers keep their bytes. */
  delete(digest: Digest): Promise<void>;
  /** Moves a blob that failed re-verification out of the served tree. */
  quarantine(digest: Digest): Promise<string>;
  /** Pinned digests survive eviction; the set persists with the store. */
  pin(digest: Digest): Promise<void>;
  pinned(): AsyncIterable<string>;
}

export interface StoredBlob {
  readonly digest: Digest;
  readonly size: number;
  /** Last modification, used as recency after a restart. */
  readonly mtimeMs: number;
}

export class DigestMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
    readonly expectedSize: number | undefined,
    readonly actualSize: number,
  ) {
    super(
      `content does not match its digest: expected ${expected}${expectedSize === undefined ? '' : ` (${expectedSize} bytes)`}, got ${actual} (${actualSize} bytes)`,
    );
    this.name = 'DigestMismatchError';
  }
}

/** A committed file whose size or content no longer matches its digest: damaged on disk since it was stored. */
export class DamagedBlobError extends Error {
  constructor(
    readonly digest: string,
    readonly reason: 'size' | 'digest',
    detail: string,
  ) {
    super(`the cached copy of ${digest} is damaged: ${detail}`);
    this.name = 'DamagedBlobError';
  }
}

/** The content was verified, but the disk failed: the clients got good bytes, the cache did not. */
export class DiskWriteError extends Error {
  constructor(
    readonly digest: string,
    cause: unknown,
  ) {
    super(`could not store ${digest}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'DiskWriteError';
  }
}

/** What a tag pointed to when tender last asked upstream. */
export interface TagRecord {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  /** Epoch ms of the last upstream confirmation. */
  readonly checkedAt: number;
}

export interface ManifestInfo {
  readonly mediaType: string;
  readonly size: number;
}

export interface MetadataStore {
  getTag(upstream: string, repository: string, tag: string): Promise<TagRecord | undefined>;
  setTag(upstream: string, repository: string, tag: string, record: TagRecord): Promise<void>;
  deleteTag(upstream: string, repository: string, tag: string): Promise<void>;
  /** Every tag record (for exporting what is cached). */
  listTags(): AsyncIterable<{ upstream: string; repository: string; tag: string; record: TagRecord }>;
  getManifest(digest: string): Promise<ManifestInfo | undefined>;
  setManifest(digest: string, info: ManifestInfo): Promise<void>;
  /** Visibility links: which (upstream, repository) is known to hold a digest, or that a public upstream does. */
  hasLink(link: string): Promise<boolean>;
  addLink(link: string): Promise<void>;
  /** Writes a probe record; throws when this replica's own store takes no writes (readiness). */
  probe(): Promise<void>;
  close(): Promise<void>;
}

export interface UpstreamManifest {
  readonly body: Buffer;
  readonly mediaType: string;
  /** The upstream's Docker-Content-Digest, when it sent one. */
  readonly digest: string | undefined;
}

export interface UpstreamManifestHead {
  readonly digest: string | undefined;
  readonly mediaType: string | undefined;
  readonly size: number | undefined;
}

export interface UpstreamBlob {
  readonly size: number | undefined;
  readonly body: Readable;
}

/** A proxied answer passed through as is (tags list, referrers). */
export interface UpstreamPassthrough {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** One configured upstream registry. Failures are OciErrors (404 → *_UNKNOWN, 429 → TOOMANYREQUESTS, else UNAVAILABLE). */
export interface Upstream {
  readonly name: string;
  /** Content of a private upstream is served to a repository only once that repository is known to hold it. */
  readonly private: boolean;
  /** Never contacted: cached tags never expire, anything else is unknown. */
  readonly offline: boolean;
  getManifest(repository: string, reference: string, accept: string, signal: AbortSignal): Promise<UpstreamManifest>;
  headManifest(repository: string, reference: string, accept: string, signal: AbortSignal): Promise<UpstreamManifestHead>;
  /** With `from`, the bytes from that offset on (a resumed download); `size` is always the whole blob's. */
  getBlob(repository: string, digest: string, signal: AbortSignal, from?: number): Promise<UpstreamBlob>;
  headBlob(repository: string, digest: string, signal: AbortSignal): Promise<{ size: number | undefined }>;
  listTags(repository: string, query: string, signal: AbortSignal): Promise<UpstreamPassthrough>;
  referrers(repository: string, digest: string, query: string, signal: AbortSignal): Promise<UpstreamPassthrough>;
}

/** A replica's claim on downloading one digest, kept alive until released. */
export interface FlightLease {
  release(): Promise<void>;
}

/** Cluster-wide single flight: at most one replica downloads a digest at a time. */
export interface FlightLocks {
  /** The lease, or undefined when another replica holds it. Throws when the lock service fails. */
  acquire(digest: string): Promise<FlightLease | undefined>;
  /** Whether any replica holds the lease now. Throws when the lock service fails. */
  held(digest: string): Promise<boolean>;
}

/** Why a request was refused; a closed set, used as a metric label. */
export type DenialReason = 'unknown-registry' | 'deny-rule' | 'not-allowed' | 'client-scope' | 'sanctioned-only';

/** Where a request goes: which upstream, and the repository name there. */
export interface Route {
  readonly upstream: Upstream;
  readonly repository: string;
}

export interface RouteRequest {
  /** containerd's `?ns=` value, when sent. */
  readonly ns: string | undefined;
  /** The name from the path, possibly starting with a registry host prefix. */
  readonly name: string;
}

/** Maps ns / path prefix / default to a configured upstream; throws DENIED for anything else. */
export interface Router {
  resolve(request: RouteRequest): Route;
}
