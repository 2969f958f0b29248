// An in-memory BlobStore for unit tests of the blob engine: verified writes like the fs store, plus switches
// that simulate a full disk mid-write, a failing commit, or a store that cannot start a temp file at all.
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  DamagedBlobError,
  DigestMismatchError,
  DiskWriteError,
  type BlobStore,
  type BlobWriter,
  type FileState,
  type OpenedBlob,
  type RandomAccess,
  type StoredBlob,
} from '../../../src/cache/blob-store.js';
import { parseDigest, type Digest } from '../../../src/oci/digest.js';
import type { ByteRange } from '../../../src/oci/range.js';

/** An error shaped like the one a full disk gives. */
export function enospc(): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error('ENOSPC: no space left on device, write');
  err.code = 'ENOSPC';
  return err;
}

interface StoredEntry {
  bytes: Buffer;
  mtimeMs: number;
  /** Stands for inode and change time: a new value whenever the "file" is rewritten. */
  version: number;
}

function stateOf(blob: StoredEntry): FileState {
  return { size: blob.bytes.length, stamp: `${blob.version}:${blob.bytes.length}` };
}

export class MemoryBlobWriter implements BlobWriter {
  written = 0;
  durableBytes = 0;
  /** The first disk error. Tests may set it directly to make every later write miss the "disk". */
  diskFailure: unknown;
  /** When set, the write that would take the durable bytes past this many fails like a full disk. */
  failAfterBytes: number | undefined;
  committed = false;
  aborted = false;
  /** The temp "file": only durable bytes. Kept after commit/abort so open readers stay valid, like an unlinked file. */
  private temp: Buffer = Buffer.alloc(0);
  private readonly hash: Hash;
  private finished = false;

  constructor(
    readonly digest: Digest,
    private readonly store: MemoryBlobStore,
    /** The temp "file's" name, for another core over the same store to follow (openTemp). */
    readonly tempName: string = `temp-${digest.hex.slice(0, 12)}`,
  ) {
    this.hash = createHash(digest.algorithm);
  }

  async write(chunk: Uint8Array): Promise<void> {
    // Like the fs writer: hash first and always, then store unless the disk already failed.
    this.hash.update(chunk);
    this.written += chunk.length;
    if (this.diskFailure !== undefined) return;
    if (this.failAfterBytes !== undefined && this.durableBytes + chunk.length > this.failAfterBytes) {
      this.diskFailure = enospc();
      return;
    }
    this.temp = Buffer.concat([this.temp, chunk]);
    this.durableBytes += chunk.length;
  }

  async openReader(): Promise<RandomAccess> {
    let closed = false;
    return {
      read: async (buffer, position) => {
        if (closed) throw new Error('read from a closed RandomAccess');
        if (position >= this.temp.length) return 0;
        return this.temp.copy(buffer, 0, position, Math.min(this.temp.length, position + buffer.length));
      },
      close: async () => {
        closed = true;
      },
    };
  }

  async commit(expectedSize?: number): Promise<void> {
    if (this.finished) throw new Error('commit after commit or abort');
    const actual = `${this.digest.algorithm}:${this.hash.digest('hex')}`;
    if (actual !== this.digest.value || (expectedSize !== undefined && expectedSize !== this.written)) {
      await this.abort();
      throw new DigestMismatchError(this.digest.value, actual, expectedSize, this.written);
    }
    const failure = this.diskFailure ?? this.store.commitFailure;
    if (failure !== undefined) {
      await this.abort();
      throw new DiskWriteError(this.digest.value, failure);
    }
    this.finished = true;
    this.committed = true;
    this.store.blobs.set(this.digest.value, { bytes: Buffer.from(this.temp), mtimeMs: Date.now(), version: this.store.nextVersion() });
  }

  async abort(): Promise<void> {
    this.finished = true;
    this.aborted = true;
  }
}

export class MemoryBlobStore implements BlobStore {
  readonly blobs = new Map<string, StoredEntry>();
  readonly pins = new Set<string>();
  readonly quarantined = new Map<string, Buffer>();
  /** Every writer handed out, in order. */
  readonly writers: MemoryBlobWriter[] = [];
  /** When set, create() rejects with it (no temp file could be started). */
  createFailure: unknown;
  /** When set, commit() of verified content throws DiskWriteError with it (fsync or rename failed). */
  commitFailure: unknown;
  /** Applied to each new writer: see MemoryBlobWriter.failAfterBytes. */
  failAfterBytes: number | undefined;
  /** When set, probe() rejects with it (a disk that takes no writes). */
  probeFailure: unknown;
  /** Calls of readAll and openRead, by digest: what was read from the "disk". */
  readonly reads = new Map<string, number>();
  private versions = 0;

  nextVersion(): number {
    return ++this.versions;
  }

  async stat(digest: Digest): Promise<FileState | undefined> {
    const blob = this.blobs.get(digest.value);
    return blob ? stateOf(blob) : undefined;
  }

  /** Replaces a committed blob's bytes in place, as a disk fault or an edit would (its stamp changes). */
  damage(digest: string, bytes: Buffer): void {
    const blob = this.blobs.get(digest);
    if (!blob) throw new Error(`${digest} is not stored`);
    this.blobs.set(digest, { bytes, mtimeMs: blob.mtimeMs, version: this.nextVersion() });
  }

  /** Replaces a committed blob's bytes without any trace (same stamp): silent rot of the medium. */
  rot(digest: string, bytes: Buffer): void {
    const blob = this.blobs.get(digest);
    if (!blob) throw new Error(`${digest} is not stored`);
    this.blobs.set(digest, { ...blob, bytes });
  }

  read(digest: Digest, range?: ByteRange): Readable {
    const blob = this.blobs.get(digest.value);
    if (!blob) {
      const stream = new Readable({ read() {} });
      stream.destroy(Object.assign(new Error(`ENOENT: ${digest.value}`), { code: 'ENOENT' }));
      return stream;
    }
    const bytes = range ? blob.bytes.subarray(range.start, range.end + 1) : blob.bytes;
    return Readable.from([Buffer.from(bytes)]);
  }

  async openRead(digest: Digest): Promise<OpenedBlob | undefined> {
    const blob = this.blobs.get(digest.value);
    if (!blob) return undefined;
    this.countRead(digest);
    // Like an open file: later changes to the stored entry (a test damaging it) do not reach this reader.
    const bytes = blob.bytes;
    return {
      ...stateOf(blob),
      read: async (buffer, position) => (position >= bytes.length ? 0 : bytes.copy(buffer, 0, position, Math.min(bytes.length, position + buffer.length))),
      close: async () => undefined,
    };
  }

  async readAll(digest: Digest, size: number, signal: AbortSignal): Promise<Buffer | undefined> {
    signal.throwIfAborted();
    const blob = this.blobs.get(digest.value);
    if (!blob) return undefined;
    this.countRead(digest);
    if (blob.bytes.length !== size) throw new DamagedBlobError(digest.value, 'size', `the file has ${blob.bytes.length} bytes, expected ${size}`);
    return Buffer.from(blob.bytes);
  }

  async probe(): Promise<void> {
    if (this.probeFailure !== undefined) throw this.probeFailure;
  }

  private countRead(digest: Digest): void {
    this.reads.set(digest.value, (this.reads.get(digest.value) ?? 0) + 1);
  }

  async create(digest: Digest): Promise<MemoryBlobWriter> {
    if (this.createFailure !== undefined) throw this.createFailure;
    const writer = new MemoryBlobWriter(digest, this, `temp-${this.writers.length + 1}`);
    writer.failAfterBytes = this.failAfterBytes;
    this.writers.push(writer);
    return writer;
  }

  async openTemp(name: string): Promise<RandomAccess | undefined> {
    return this.writers.find((w) => w.tempName === name)?.openReader();
  }

  async *list(): AsyncGenerator<StoredBlob> {
    for (const [digest, blob] of this.blobs) yield { digest: parseDigest(digest), size: blob.bytes.length, mtimeMs: blob.mtimeMs };
  }

  async delete(digest: Digest): Promise<void> {
    this.blobs.delete(digest.value);
  }

  async quarantine(digest: Digest): Promise<string> {
    const blob = this.blobs.get(digest.value);
    if (!blob) throw Object.assign(new Error(`ENOENT: ${digest.value}`), { code: 'ENOENT' });
    this.blobs.delete(digest.value);
    this.quarantined.set(digest.value, blob.bytes);
    return `quarantine/${digest.algorithm}-${digest.hex}`;
  }

  async pin(digest: Digest): Promise<void> {
    this.pins.add(digest.value);
  }

  async *pinned(): AsyncGenerator<string> {
    yield* this.pins;
  }
}
