// Filesystem blob store: blobs/<alg>/<2 hex>/<hex>, written to tmp/, verified while written, committed by rename.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { DigestMismatchError, type BlobStore, type BlobWriter, type RandomAccess } from '../cache/ports.js';
import type { Digest } from '../oci/digest.js';
import type { ByteRange } from '../oci/range.js';

/** Large reads: cache hits are limited by syscalls per MiB, not by the disk. */
const readChunk = 1024 * 1024;

export class FsBlobStore implements BlobStore {
  private readonly blobsDir: string;
  private readonly tmpDir: string;

  private constructor(readonly root: string) {
    this.blobsDir = join(root, 'blobs');
    this.tmpDir = join(root, 'tmp');
  }

  /** Opens the store, creating its folders and removing temp files a crash left behind. */
  static async open(root: string): Promise<FsBlobStore> {
    const store = new FsBlobStore(root);
    await mkdir(store.blobsDir, { recursive: true });
    await rm(store.tmpDir, { recursive: true, force: true });
    await mkdir(store.tmpDir, { recursive: true });
    return store;
  }

  /** Digest strings are validated before they get here, so the path cannot leave the root. */
  pathOf(digest: Digest): string {
    return join(this.blobsDir, digest.algorithm, digest.hex.slice(0, 2), digest.hex);
  }

  async stat(digest: Digest): Promise<{ size: number } | undefined> {
    try {
      const s = await stat(this.pathOf(digest));
      return { size: s.size };
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

  async readAll(digest: Digest, signal: AbortSignal): Promise<Buffer | undefined> {
    try {
      return await readFile(this.pathOf(digest), { signal });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async create(digest: Digest): Promise<BlobWriter> {
    const tempPath = join(this.tmpDir, `${digest.hex.slice(0, 16)}-${randomBytes(6).toString('hex')}`);
    const handle = await open(tempPath, 'w');
    return new FsBlobWriter(digest, handle, tempPath, this.pathOf(digest));
  }
}

class FsBlobWriter implements BlobWriter {
  written = 0;
  private readonly hash: Hash;
  private closed = false;

  constructor(
    private readonly digest: Digest,
    private readonly handle: FileHandle,
    private readonly tempPath: string,
    private readonly finalPath: string,
  ) {
    this.hash = createHash(digest.algorithm);
  }

  async write(chunk: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, offset, chunk.length - offset, this.written + offset);
      offset += bytesWritten;
    }
    this.hash.update(chunk);
    this.written += chunk.length;
  }

  async openReader(): Promise<RandomAccess> {
    const handle = await open(this.tempPath, 'r');
    return {
      read: async (buffer, position) => (await handle.read(buffer, 0, buffer.length, position)).bytesRead,
      close: () => handle.close(),
    };
  }

  async commit(expectedSize?: number): Promise<void> {
    const actual = `${this.digest.algorithm}:${this.hash.digest('hex')}`;
    if (actual !== this.digest.value || (expectedSize !== undefined && expectedSize !== this.written)) {
      await this.abort();
      throw new DigestMismatchError(this.digest.value, actual, expectedSize, this.written);
    }
    // datasync before rename: after a power cut a final path never holds a short file.
    await this.handle.datasync();
    await this.close();
    await mkdir(join(this.finalPath, '..'), { recursive: true });
    await rename(this.tempPath, this.finalPath);
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

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === 'ENOENT';
}
