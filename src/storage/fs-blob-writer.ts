// One blob being written: to a temp file under tmp/, hashed as it is written, committed by rename only when
// its digest (and its expected size) match; a disk failure is remembered, not thrown, so readers still get the bytes.
import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DigestMismatchError, DiskWriteError, type BlobWriter, type RandomAccess } from '../cache/blob-store.js';
import type { Digest } from '../oci/digest.js';

export class FsBlobWriter implements BlobWriter {
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

export function randomAccess(handle: FileHandle): RandomAccess {
  return {
    read: async (buffer, position) => (await handle.read(buffer, 0, buffer.length, position)).bytesRead,
    close: () => handle.close(),
  };
}
