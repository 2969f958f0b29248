// The BlobStore contract, run against the filesystem store and the in-memory fake the engine tests use,
// so the fake cannot drift from what the real store does.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { DamagedBlobError, DigestMismatchError, DiskWriteError, type BlobStore } from '../../../src/cache/blob-store.js';
import { parseDigest, type Digest } from '../../../src/oci/digest.js';
import { FsBlobStore } from '../../../src/storage/fs-blob-store.js';
import { enospc, MemoryBlobStore } from './memory-blob-store.js';

const digestOf = (bytes: Buffer): Digest => parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
const content = Buffer.from('0123456789abcdefghij'.repeat(50));
const signal = () => AbortSignal.timeout(5_000);

async function readStream(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const stores: Array<[string, () => Promise<BlobStore>]> = [
  [
    'FsBlobStore',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tender-store-contract-'));
      dirs.push(dir);
      return FsBlobStore.open(dir);
    },
  ],
  ['MemoryBlobStore', async () => new MemoryBlobStore()],
];

describe.each(stores)('%s', (_name, open) => {
  it('stores verified content and serves it whole, by range and by readAll', async () => {
    const store = await open();
    const digest = digestOf(content);
    expect(await store.stat(digest)).toBeUndefined();

    const writer = await store.create(digest);
    await writer.write(content.subarray(0, 300));
    await writer.write(content.subarray(300));
    expect(writer.written).toBe(content.length);
    expect(writer.durableBytes).toBe(content.length);
    expect(writer.diskFailure).toBeUndefined();
    await writer.commit(content.length);

    expect(await store.stat(digest)).toMatchObject({ size: content.length, stamp: expect.any(String) });
    expect((await readStream(store.read(digest))).equals(content)).toBe(true);
    expect((await readStream(store.read(digest, { start: 10, end: 19 }))).equals(content.subarray(10, 20))).toBe(true);
    expect((await store.readAll(digest, content.length, signal()))?.equals(content)).toBe(true);
    const access = await store.openRead(digest);
    expect(access!.size).toBe(content.length);
    const window = Buffer.alloc(50);
    expect(await access!.read(window, 100)).toBe(50);
    expect(window.equals(content.subarray(100, 150))).toBe(true);
    await access!.close();
    expect(await store.openRead(digestOf(Buffer.from('absent')))).toBeUndefined();
    const listed = [];
    for await (const blob of store.list()) listed.push({ digest: blob.digest.value, size: blob.size });
    expect(listed).toEqual([{ digest: digest.value, size: content.length }]);
  });

  it('lets a reader opened before the writes read them, and keeps it valid after commit', async () => {
    const store = await open();
    const digest = digestOf(content);
    const writer = await store.create(digest);
    const access = await writer.openReader();
    await writer.write(content.subarray(0, 100));
    const buffer = Buffer.alloc(100);
    expect(await access.read(buffer, 0)).toBe(100);
    expect(buffer.equals(content.subarray(0, 100))).toBe(true);
    await writer.write(content.subarray(100));
    await writer.commit();
    const tail = Buffer.alloc(50);
    expect(await access.read(tail, content.length - 50)).toBe(50);
    expect(tail.equals(content.subarray(-50))).toBe(true);
    await access.close();
  });

  it('refuses content that does not match its digest, and stores nothing', async () => {
    const store = await open();
    const digest = digestOf(Buffer.from('something else'));
    const writer = await store.create(digest);
    await writer.write(content);
    const err = await writer.commit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as DigestMismatchError).expected).toBe(digest.value);
    expect((err as DigestMismatchError).actual).toBe(digestOf(content).value);
    expect(await store.stat(digest)).toBeUndefined();
    await writer.abort(); // safe after a failed commit
  });

  it('refuses the right content with the wrong announced size', async () => {
    const store = await open();
    const digest = digestOf(content);
    const writer = await store.create(digest);
    await writer.write(content);
    await expect(writer.commit(content.length + 1)).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await store.stat(digest)).toBeUndefined();
  });

  it('stores nothing for an aborted write, and abort may be repeated', async () => {
    const store = await open();
    const digest = digestOf(content);
    const writer = await store.create(digest);
    await writer.write(content);
    await writer.abort();
    await writer.abort();
    expect(await store.stat(digest)).toBeUndefined();
    expect(await store.readAll(digest, content.length, signal())).toBeUndefined();
  });

  it('never reads more than the size asked for: a file of another size is damaged', async () => {
    const store = await open();
    const digest = digestOf(content);
    const writer = await store.create(digest);
    await writer.write(content);
    await writer.commit();
    for (const size of [content.length - 1, content.length + 1, 0]) {
      const err = await store.readAll(digest, size, signal()).catch((e: unknown) => e);
      expect(err, `readAll with size ${size}`).toBeInstanceOf(DamagedBlobError);
      expect((err as DamagedBlobError).reason).toBe('size');
    }
  });

  it('gives a file a new stamp when it is replaced, and the same stamp while it is unchanged', async () => {
    const store = await open();
    const digest = digestOf(content);
    const commit = async (): Promise<void> => {
      const writer = await store.create(digest);
      await writer.write(content);
      await writer.commit();
    };
    await commit();
    const first = (await store.stat(digest))!;
    const opened = (await store.openRead(digest))!;
    expect(opened.stamp).toBe(first.stamp);
    await opened.close();
    expect((await store.stat(digest))!.stamp).toBe(first.stamp);
    await commit(); // stored again: a new file at the same path
    expect((await store.stat(digest))!.stamp).not.toBe(first.stamp);
  });

  it('takes a write probe when it can store files', async () => {
    const store = await open();
    await expect(store.probe()).resolves.toBeUndefined();
  });

  it('deletes, pins and lists pins', async () => {
    const store = await open();
    const digest = digestOf(content);
    const writer = await store.create(digest);
    await writer.write(content);
    await writer.commit();
    await store.pin(digest);
    await store.delete(digest);
    expect(await store.stat(digest)).toBeUndefined();
    const pins = [];
    for await (const pin of store.pinned()) pins.push(pin);
    expect(pins).toEqual([digest.value]);
  });
});

describe('FsBlobStore probe', () => {
  it('fails when downloads cannot be written, and leaves nothing behind when it works', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tender-store-probe-'));
    dirs.push(dir);
    const store = await FsBlobStore.open(dir, { clearTemp: true, replicaId: 'r1' });
    await store.probe();
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
    // tmp/ replaced by a file (root ignores permissions): no temp file can be created.
    await rm(join(dir, 'tmp'), { recursive: true });
    await writeFile(join(dir, 'tmp'), 'not a directory');
    await expect(store.probe()).rejects.toThrow(/ENOTDIR/);
  });
});

describe('MemoryBlobStore disk failure switches', () => {
  it('keeps hashing after a simulated full disk, and commit of right content throws DiskWriteError', async () => {
    const store = new MemoryBlobStore();
    store.failAfterBytes = 150;
    const digest = digestOf(content);
    const writer = await store.create(digest);
    await writer.write(content.subarray(0, 100));
    await writer.write(content.subarray(100, 200));
    await writer.write(content.subarray(200));
    expect(writer.written).toBe(content.length);
    expect(writer.durableBytes).toBe(100);
    expect((writer.diskFailure as NodeJS.ErrnoException).code).toBe('ENOSPC');
    const err = await writer.commit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiskWriteError);
    expect(await store.stat(digest)).toBeUndefined();
  });

  it('still reports a mismatch, not a disk error, for wrong content after a disk failure', async () => {
    const store = new MemoryBlobStore();
    const writer = await store.create(digestOf(Buffer.from('other')));
    writer.diskFailure = enospc();
    await writer.write(content);
    await expect(writer.commit()).rejects.toBeInstanceOf(DigestMismatchError);
  });
});
