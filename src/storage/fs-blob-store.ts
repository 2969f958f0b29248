// Filesystem blob store: blobs/<alg>/<2 hex>/<hex>, written to tmp/, verified while written, committed by rename.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
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
} from '../cache/blob-store.js';
import { parseDigest, type Digest } from '../oci/digest.js';
import type { ByteRange } from '../oci/range.js';

/** Large reads: cache hits are limited by syscalls per MiB, not by the disk. */
const readChunk = 1024 * 1024;

/** What the readiness probe writes: one page, so a disk with no free blocks refuses it. */
const probeBytes = Buffer.alloc(4096);

export class FsBlobStore implements BlobStore {
  private readonly blobsDir: string;
  private readonly tmpDir: string;
  private readonly pinsDir: string;
  private readonly quarantineDir: string;

  private constructor(
    readonly root: string,
    /** What this process's temp files start with: the replica id, and the worker's number when there are workers. */
    private readonly tempPrefix: string,
  ) {
    this.blobsDir = join(root, 'blobs');
    this.tmpDir = join(root, 'tmp');
    this.pinsDir = join(root, 'pins');
    this.quarantineDir = join(root, 'quarantine');
  }

  /**
   * Opens the store, creating its folders and (for the serving process) removing temp files a crash
   * left behind; tools that run beside a live server pass `clearTemp: false`.
   */
  static async open(root: string, options: { clearTemp: boolean; replicaId?: string; worker?: number } = { clearTemp: true }): Promise<FsBlobStore> {
    const replicaId = options.replicaId ?? 'local';
    const store = new FsBlobStore(root, options.worker === undefined ? replicaId : `${replicaId}.w${options.worker}`);
    await mkdir(store.blobsDir, { recursive: true });
    // Only this replica's leftovers: on a shared volume the other replicas' downloads are in tmp/ too.
    if (options.clearTemp) await store.clearTemp(`${replicaId}.`);
    await mkdir(store.tmpDir, { recursive: true });
    return store;
  }

  /** Removes temp files whose names start with `prefix`: a replica's at its start, a dead worker's (`<replica>.w<n>.`). */
  async clearTemp(prefix: string): Promise<void> {
    for (const name of await entries(this.tmpDir)) {
      if (name.startsWith(prefix)) await rm(join(this.tmpDir, name), { force: true });
    }
  }

  async openTemp(name: string): Promise<RandomAccess | undefined> {
    // The name came from another process or from Redis: a plain file name in tmp/, nothing else.
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(name)) return undefined;
    try {
      return randomAccess(await open(join(this.tmpDir, name), 'r'));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Digest strings are validated before they get here, so the path cannot leave the root. */
  pathOf(digest: Digest): string {
    return join(this.blobsDir, digest.algorithm, digest.hex.slice(0, 2), digest.hex);
  }

  async stat(digest: Digest): Promise<FileState | undefined> {
    try {
      return stateOf(await stat(this.pathOf(digest)));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  read(digest: Digest, range?: ByteRange): Readable {
    return createReadStream(this.pathOf(digest), {
      highWaterMark: readChunk,
      ...(range ? { start: range.start, end: range.end } : {}),
    });
  }

  async openRead(digest: Digest): Promise<OpenedBlob | undefined> {
    const handle = await this.openFile(digest);
    if (!handle) return undefined;
    try {
      // The file actually opened: one cut short, grown or rewritten since it was indexed or checked shows here.
      return { ...randomAccess(handle), ...stateOf(await handle.stat()) };
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }

  async readAll(digest: Digest, size: number, signal: AbortSignal): Promise<Buffer | undefined> {
    const handle = await this.openFile(digest);
    if (!handle) return undefined;
    try {
      // Never readFile: a file that grew on disk (or a blob asked for as something small) must not be
      // read into memory whole. The buffer is the size the caller expects, and the file must match it.
      const actual = (await handle.stat()).size;
      if (actual !== size) throw new DamagedBlobError(digest.value, 'size', `the file has ${actual} bytes, expected ${size}`);
      const buffer = Buffer.allocUnsafe(size);
      let filled = 0;
      while (filled < size) {
        signal.throwIfAborted();
        const { bytesRead } = await handle.read(buffer, filled, size - filled, filled);
        if (bytesRead === 0) throw new DamagedBlobError(digest.value, 'size', `the file ended after ${filled} of ${size} bytes`);
        filled += bytesRead;
      }
      return buffer;
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  async probe(): Promise<void> {
    // Where downloads are written, with this replica's prefix (so a crash leaves nothing another start keeps).
    // A few KiB rather than an empty file: a full disk still creates empty files, it refuses data.
    const path = join(this.tmpDir, `${this.tempPrefix}.probe-${randomBytes(6).toString('hex')}`);
    try {
      await writeFile(path, probeBytes);
    } finally {
      await rm(path, { force: true });
    }
  }

  private async openFile(digest: Digest): Promise<FileHandle | undefined> {
    try {
      return await open(this.pathOf(digest), 'r');
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async *list(): AsyncGenerator<StoredBlob> {
    for (const algorithm of await entries(this.blobsDir)) {
      for (const prefix of await entries(join(this.blobsDir, algorithm))) {
        const dir = join(this.blobsDir, algorithm, prefix);
        const names = await entries(dir);
        // Stat a directory's files together: a 100k-blob cache is indexed in seconds, not minutes.
        const stats = await Promise.all(names.map((name) => stat(join(dir, name)).catch(() => undefined)));
        for (const [i, name] of names.entries()) {
          const digest = digestOf(algorithm, name);
          const s = stats[i];
          if (digest && s?.isFile()) yield { digest, size: s.size, mtimeMs: s.mtimeMs };
        }
      }
    }
  }

  async delete(digest: Digest): Promise<void> {
    await rm(this.pathOf(digest), { force: true });
  }

  async quarantine(digest: Digest): Promise<string> {
    await mkdir(this.quarantineDir, { recursive: true });
    const target = join(this.quarantineDir, `${digest.algorithm}-${digest.hex}-${Date.now()}`);
    await rename(this.pathOf(digest), target);
    return target;
  }

  async pin(digest: Digest): Promise<void> {
    await mkdir(join(this.pinsDir, digest.algorithm), { recursive: true });
    await writeFile(join(this.pinsDir, digest.algorithm, digest.hex), '');
  }

  async *pinned(): AsyncGenerator<string> {
    for (const algorithm of await entries(this.pinsDir)) {
      for (const hex of await entries(join(this.pinsDir, algorithm))) {
        if (digestOf(algorithm, hex)) yield `${algorithm}:${hex}`;
      }
    }
  }

  async create(digest: Digest): Promise<BlobWriter> {
    const tempName = `${this.tempPrefix}.${digest.hex.slice(0, 16)}-${randomBytes(6).toString('hex')}`;
    const tempPath = join(this.tmpDir, tempName);
    const handle = await open(tempPath, 'w');
    return new FsBlobWriter(digest, handle, tempName, tempPath, this.pathOf(digest));
  }
}

class FsBlobWriter implements BlobWriter {
  written = 0;
  durableBytes = 0;
  diskFailure: unknown;
  private readonly hash: Hash;
  private closed = false;

  constructor(
    private readonly digest: Digest,
    private readonly handle: FileHandle,
    readonly tempName: string,
    private readonly tempPath: string,
    private readonly finalPath: string,
  ) {
    this.hash = createHash(digest.algorithm);
  }

  async write(chunk: Uint8Array): Promise<void> {
    // Hash first and always: after a disk error the bytes still reach clients and must still be verified.
    this.hash.update(chunk);
    this.written += chunk.length;
    if (this.diskFailure !== undefined) return;
    try {
      let offset = 0;
      while (offset < chunk.length) {
        const { bytesWritten } = await this.handle.write(chunk, offset, chunk.length - offset, this.durableBytes + offset);
        offset += bytesWritten;
      }
      this.durableBytes += chunk.length;
    } catch (err) {
      this.diskFailure = err;
    }
  }

  async openReader(): Promise<RandomAccess> {
    return randomAccess(await open(this.tempPath, 'r'));
  }

  async commit(expectedSize?: number): Promise<void> {
    const actual = `${this.digest.algorithm}:${this.hash.digest('hex')}`;
    if (actual !== this.digest.value || (expectedSize !== undefined && expectedSize !== this.written)) {
      await this.abort();
      throw new DigestMismatchError(this.digest.value, actual, expectedSize, this.written);
    }
    try {
      if (this.diskFailure !== undefined) throw this.diskFailure;
      // datasync before rename: after a power cut a final path never holds a short file.
      await this.handle.datasync();
      await this.close();
      await mkdir(join(this.finalPath, '..'), { recursive: true });
      await rename(this.tempPath, this.finalPath);
    } catch (err) {
      await this.abort().catch(() => undefined);
      throw new DiskWriteError(this.digest.value, err);
    }
  }

  async abort(): Promise<void> {
    await this.close();
    await rm(this.tempPath, { force: true });
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

/**
 * Inode, size and change time: any write, truncation, replacement or rename changes at least one, and
 * ctime cannot be set back by tools (touch sets mtime). Silent rot of the medium changes none: the scrub is for that.
 */
function stateOf(s: Stats): FileState {
  return { size: s.size, stamp: `${s.ino}:${s.size}:${s.ctimeMs}` };
}

function randomAccess(handle: FileHandle): RandomAccess {
  return {
    read: async (buffer, position) => (await handle.read(buffer, 0, buffer.length, position)).bytesRead,
    close: () => handle.close(),
  };
}

/** Yields the entries of a directory, or nothing when it does not exist. */
async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

/** A blob file name back to its digest; anything else found in the tree is ignored. */
function digestOf(algorithm: string, hex: string): Digest | undefined {
  try {
    return parseDigest(`${algorithm}:${hex}`);
  } catch {
    return undefined;
  }
}

/** Absent, or a path component that is not a directory (so nothing can be below it). */
function isNotFound(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
