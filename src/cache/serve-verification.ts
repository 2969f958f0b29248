// Serve-time verification of cached files: a file on disk can rot, be cut short or be edited while tender
// runs or while it is stopped, and a hit must never hand out a complete body whose bytes do not match.
//
// What it costs on the hit path, and why this design (see the README, "What tender verifies at serve time"):
// - every open compares the opened file's size (fstat) with the size it was indexed with;
// - small content read into memory (manifests, small blobs) is hashed whenever it is read from disk;
// - a large blob is hashed while its first serve after start streams, with the last chunk held back until
//   the digest matches, and trusted from then on while its file is unchanged (same inode, size and change
//   time: an edit, truncation or replacement is hashed again); a blob this process downloaded was hashed
//   on the way in;
// - a range of a blob not yet hashed waits for one whole-file check (single flight, at disk speed).
// A damaged file is quarantined, dropped from the index, counted and logged once; the next request refetches.
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import type { Digest } from '../oci/digest.js';
import { OciError, describeError } from '../oci/errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { BlobIndex } from './blob-index.js';
import { DamagedBlobError, type BlobStore, type OpenedBlob, type RandomAccess } from './blob-store.js';
import { SingleFlight } from './single-flight.js';

export type CachedKind = 'manifest' | 'blob';

/** The cached file vanished (deleted by hand, quarantined by `tender verify`): fetched again, not damaged. */
export class CachedCopyGone extends Error {
  constructor(readonly digest: string) {
    super(`the cached copy of ${digest} is gone`);
    this.name = 'CachedCopyGone';
  }
}

/** A cached blob (or a download in flight) opened for sending. */
export interface OpenBlob {
  readonly access: RandomAccess;
  /** Call once sent: until then eviction passes the blob by. */
  done(): void;
  /** Read from a download in flight: its bytes may be a while coming, so the response head is sent at once. */
  readonly live?: boolean;
}

/** Whole-file checks at once: each reads at disk speed with its own 1 MiB buffer. */
const wholeFileChecks = 2;
const checkBufferBytes = 1024 * 1024;

export class ServeVerification {
  private readonly wholeFile = new SingleFlight<void>();
  private readonly limit = pLimit(wholeFileChecks);
  /** Quarantines under way: a new download of the digest waits until the damaged file has left its path. */
  private readonly quarantines = new Map<string, Promise<void>>();

  constructor(
    private readonly store: BlobStore,
    private readonly index: BlobIndex,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** Drops every other copy of a digest found damaged (the small-blob memory) and reports the cache size. */
    private readonly forget: (digest: string) => void,
  ) {}

  /**
   * Opens a committed blob for sending bytes `start`..`end` (inclusive), protected from eviction until
   * done(). The opened file must have the indexed size (`size`, or the index's); one this process has not
   * hashed, or that changed since, is hashed on the way (a whole body) or before (a range). Throws
   * DamagedBlobError (dropped) or CachedCopyGone (it vanished, and leaves the index).
   */
  async open(digest: Digest, size: number | undefined, start: number, end: number): Promise<OpenBlob> {
    const id = this.index.entryId(digest.value);
    const expected = size ?? this.index.touch(digest.value);
    this.index.acquire(digest.value);
    const release = (): void => this.index.release(digest.value);
    const opened = await this.store.openRead(digest).catch(() => undefined);
    if (!opened) {
      release();
      if (id !== undefined && this.index.removeEntry(digest.value, id)) this.forget(digest.value);
      throw new CachedCopyGone(digest.value);
    }
    const length = expected ?? opened.size;
    let access: RandomAccess = opened;
    try {
      if (opened.size !== length) {
        const err = new DamagedBlobError(digest.value, 'size', `the file has ${opened.size} bytes, expected ${length}`);
        this.damaged(digest, id, 'blob', err);
        throw err;
      }
      if (!this.index.trusts(digest.value, id, opened.stamp)) {
        // An empty body has no last chunk to hold back: it is checked first, like a range.
        if (start === 0 && end >= length - 1 && length > 0) {
          // The whole body: hashed while it streams, the last chunk held back until it matches.
          access = this.verifying(digest, id, opened, length, 'blob');
        } else {
          // A range: the whole file is checked first (once, however many ranges wait), then served.
          if (id !== undefined) await this.verifyWhole(digest, id, length, 'blob');
          if (!this.index.trusts(digest.value, id, opened.stamp)) throw new CachedCopyGone(digest.value); // replaced meanwhile
        }
      }
    } catch (err) {
      await opened.close().catch(() => undefined);
      release();
      throw err;
    }
    let released = false;
    return {
      access,
      done: () => {
        if (released) return;
        released = true;
        release();
      },
    };
  }

  /** Hashes the whole cached file now (unless checked and unchanged); false when it is damaged or gone (dropped). */
  async checkWhole(digest: Digest, size: number): Promise<boolean> {
    const id = this.index.entryId(digest.value);
    if (id === undefined) return false;
    try {
      await this.verifyWhole(digest, id, size, 'blob');
      return true;
    } catch (err) {
      if (err instanceof DamagedBlobError || err instanceof CachedCopyGone) return false;
      throw err;
    }
  }

  /** For a HEAD, which opens no body: one stat finds a file cut short, grown or gone since it was indexed. */
  async sizeUnchanged(digest: Digest, size: number): Promise<boolean> {
    const id = this.index.entryId(digest.value);
    const state = await this.store.stat(digest).catch((err: unknown) => {
      throw new OciError('UNAVAILABLE', `could not read the cached copy of ${digest.value}: ${describeError(err)}`, { cause: err });
    });
    if (!state) {
      if (id !== undefined && this.index.removeEntry(digest.value, id)) this.forget(digest.value);
      return false;
    }
    if (state.size === size) return true;
    this.damaged(digest, id, 'blob', new DamagedBlobError(digest.value, 'size', `the file has ${state.size} bytes, expected ${size}`));
    return false;
  }

  /**
   * Reads small cached content of `size` bytes (never more) and hashes it: undefined when the file is
   * absent or damaged (then it is dropped as below). Manifests and small blobs are checked on every read.
   */
  async readSmall(digest: Digest, size: number, kind: CachedKind, signal: AbortSignal): Promise<Buffer | undefined> {
    const id = this.index.entryId(digest.value);
    let bytes: Buffer | undefined;
    try {
      bytes = await this.store.readAll(digest, size, signal);
    } catch (err) {
      // An unreadable disk (EIO) is an outage of this copy: 503, which clients retry; never a 500.
      if (!(err instanceof DamagedBlobError))
        throw new OciError('UNAVAILABLE', `could not read the cached copy of ${digest.value}: ${describeError(err)}`, { cause: err });
      this.damaged(digest, id, kind, err);
      return undefined;
    }
    if (!bytes) {
      if (id !== undefined && this.index.removeEntry(digest.value, id)) this.forget(digest.value);
      return undefined;
    }
    const actual = createHash(digest.algorithm).update(bytes).digest('hex');
    if (actual !== digest.hex) {
      this.damaged(digest, id, kind, new DamagedBlobError(digest.value, 'digest', `its content hashes to ${digest.algorithm}:${actual}`));
      return undefined;
    }
    return bytes;
  }

  /**
   * Wraps the reader of a whole blob's first serve: it must be read in order from byte 0; it hashes as it
   * goes, and the read that reaches the end settles only once the digest matched, so a client of a damaged
   * file is cut off before its last bytes, as the clients of a bad upstream download are.
   */
  verifying(digest: Digest, id: number | undefined, file: OpenedBlob, size: number, kind: CachedKind): RandomAccess {
    const hash = createHash(digest.algorithm);
    let hashed = 0;
    const fail = (err: DamagedBlobError): never => {
      this.damaged(digest, id, kind, err);
      throw err;
    };
    return {
      read: async (buffer, position) => {
        if (position !== hashed) throw new Error(`verifying read of ${digest.value} out of order (at ${position}, hashed ${hashed})`);
        const got = await file.read(buffer.subarray(0, Math.min(buffer.length, size - position)), position);
        if (got === 0) {
          if (hashed < size) fail(new DamagedBlobError(digest.value, 'size', `the file ended after ${hashed} of ${size} bytes`));
          return 0;
        }
        hash.update(buffer.subarray(0, got));
        hashed += got;
        if (hashed === size) {
          const actual = hash.digest('hex');
          if (actual !== digest.hex) fail(new DamagedBlobError(digest.value, 'digest', `its content hashes to ${digest.algorithm}:${actual}`));
          if (id !== undefined) this.index.markVerified(digest.value, id, file.stamp);
        }
        return got;
      },
      close: () => file.close(),
    };
  }

  /**
   * Hashes the whole cached file at disk speed, once per digest however many requests wait (a range of a
   * blob not yet checked): resolves when it matches, throws DamagedBlobError (dropped) or CachedCopyGone.
   */
  verifyWhole(digest: Digest, id: number, size: number, kind: CachedKind): Promise<void> {
    return this.wholeFile.run(`${digest.value}#${id}`, () => this.limit(() => this.hashFile(digest, id, size, kind)));
  }

  /**
   * Reads and hashes one cached file; `pace` is awaited after each chunk (the background scrub's rate).
   * Marks the entry verified on a match, drops it as damaged otherwise.
   */
  async hashFile(digest: Digest, id: number, size: number, kind: CachedKind, pace?: (bytes: number) => Promise<void>): Promise<void> {
    const file = await this.store.openRead(digest);
    if (!file) {
      if (this.index.removeEntry(digest.value, id)) this.forget(digest.value);
      throw new CachedCopyGone(digest.value);
    }
    try {
      // Checked already and unchanged since; the scrub (pace) re-hashes anyway, for rot nothing else sees.
      if (!pace && this.index.trusts(digest.value, id, file.stamp)) return;
      if (file.size !== size) {
        const err = new DamagedBlobError(digest.value, 'size', `the file has ${file.size} bytes, expected ${size}`);
        this.damaged(digest, id, kind, err);
        throw err;
      }
      const check = this.verifying(digest, id, file, size, kind);
      const buffer = Buffer.allocUnsafe(Math.min(checkBufferBytes, Math.max(1, size)));
      for (let position = 0; position < size;) {
        const got = await check.read(buffer, position);
        if (got === 0) break;
        position += got;
        await pace?.(got);
      }
      if (size === 0) {
        // Nothing to read, but an empty file still has a digest to match.
        if (createHash(digest.algorithm).digest('hex') !== digest.hex) {
          const err = new DamagedBlobError(digest.value, 'digest', 'the file is empty');
          this.damaged(digest, id, kind, err);
          throw err;
        }
        this.index.markVerified(digest.value, id, file.stamp);
      }
    } finally {
      await file.close().catch(() => undefined);
    }
  }

  /** Drops a damaged copy: out of the index (so the next request is a miss), into quarantine, counted, logged once. */
  damaged(digest: Digest, id: number | undefined, kind: CachedKind, err: DamagedBlobError): void {
    // Already dropped by a concurrent reader, or a newer good copy is indexed now: nothing more to do.
    if (id === undefined || !this.index.removeEntry(digest.value, id)) return;
    this.forget(digest.value);
    this.metrics.cacheCorruptions.inc({ kind, reason: err.reason });
    const moving = this.store.quarantine(digest).then(
      (movedTo) =>
        this.log.error(
          { digest: digest.value, kind, reason: err.reason, err: err.message, movedTo },
          'cached copy is damaged; quarantined, fetched again on the next request',
        ),
      (moveErr: unknown) =>
        this.log.error(
          { digest: digest.value, kind, reason: err.reason, err: err.message, quarantine: describeError(moveErr) },
          'cached copy is damaged; could not quarantine it, fetched again on the next request',
        ),
    );
    this.quarantines.set(digest.value, moving);
    void moving.finally(() => {
      if (this.quarantines.get(digest.value) === moving) this.quarantines.delete(digest.value);
    });
  }

  /** Resolves once a damaged copy of `digest` being moved away has left the served tree. */
  async settled(digest: string): Promise<void> {
    await this.quarantines.get(digest);
  }
}
