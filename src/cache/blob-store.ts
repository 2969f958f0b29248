// The BlobStore port: where verified content lives (a directory today), written by digest and committed by rename.
import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import type { ByteRange } from '../oci/range.js';

/** Random access to bytes being written, so late joiners read from disk, not from a memory fan-out. */
export interface RandomAccess {
  /** Reads up to `buffer.length` bytes at `position`; 0 at the end. Throws on an I/O error. */
  read(buffer: Buffer, position: number): Promise<number>;
  /** Releases the handle; never throws. */
  close(): Promise<void>;
}

export interface BlobWriter {
  /** The temp file's name in the store's temp directory, for other processes to follow (openTemp); absent without one. */
  readonly tempName?: string;
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

export interface StoredBlob {
  readonly digest: Digest;
  readonly size: number;
  /** Last modification, used as recency after a restart. */
  readonly mtimeMs: number;
}

export interface BlobStore {
  /** Size and stamp of a committed blob; undefined when absent; throws on an I/O error. */
  stat(digest: Digest): Promise<FileState | undefined>;
  /** Streams a committed blob, or the inclusive range of it (export, verify); the stream errors when it is absent. */
  read(digest: Digest, range?: ByteRange): Readable;
  /** Random access to a committed blob (hits are sent from reused buffers); undefined when absent. */
  openRead(digest: Digest): Promise<OpenedBlob | undefined>;
  /**
   * Reads a whole committed blob that must be exactly `size` bytes (manifests, small blobs), never more:
   * undefined when absent, DamagedBlobError (reason "size") when the file has another size.
   */
  readAll(digest: Digest, size: number, signal: AbortSignal): Promise<Buffer | undefined>;
  /** Writes and removes a small file where downloads are written; throws when the disk takes no writes (full, read-only). */
  probe(): Promise<void>;
  /**
   * Another process's download in progress, by the bare name it announced: undefined when the name is not a
   * plain file name or the file is gone. Stays readable after that process renames or removes it.
   */
  openTemp(name: string): Promise<RandomAccess | undefined>;
  /** Starts a verified write of `digest`; throws when no temp file can be started. */
  create(digest: Digest): Promise<BlobWriter>;
  /** Every committed blob, for rebuilding the index at start and for `verify`. */
  list(): AsyncIterable<StoredBlob>;
  /** Removes a committed blob (eviction); open readers keep their bytes; throws on an I/O error. */
  delete(digest: Digest): Promise<void>;
  /** Moves a blob that failed re-verification out of the served tree; resolves to where it went. */
  quarantine(digest: Digest): Promise<string>;
  /** Records a pinned digest (it survives eviction); the set persists with the store; throws when it cannot be written. */
  pin(digest: Digest): Promise<void>;
  /** Every pinned digest, for rebuilding the index at start. */
  pinned(): AsyncIterable<string>;
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
