// Stands in for a BlobWriter when the store could not even start a temp file: hashes, stores nothing.
import { createHash, type Hash } from 'node:crypto';
import type { Digest } from '../oci/digest.js';
import { DigestMismatchError, DiskWriteError, type BlobWriter, type RandomAccess } from './blob-store.js';

export class HashOnlyWriter implements BlobWriter {
  written = 0;
  readonly durableBytes = 0;
  private readonly hash: Hash;

  constructor(
    private readonly digest: Digest,
    readonly diskFailure: unknown,
  ) {
    this.hash = createHash(digest.algorithm);
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.hash.update(chunk);
    this.written += chunk.length;
  }

  async openReader(): Promise<RandomAccess> {
    return { read: async () => 0, close: async () => undefined };
  }

  async commit(expectedSize?: number): Promise<void> {
    const actual = `${this.digest.algorithm}:${this.hash.digest('hex')}`;
    if (actual !== this.digest.value || (expectedSize !== undefined && expectedSize !== this.written)) {
      throw new DigestMismatchError(this.digest.value, actual, expectedSize, this.written);
    }
    throw new DiskWriteError(this.digest.value, this.diskFailure);
  }

  async abort(): Promise<void> {}
}
