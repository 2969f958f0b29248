// Serve-time verification over the in-memory store: what is hashed when, what a damaged copy costs (dropped,
// quarantined, counted), what is trusted (hashed and unchanged), and the background scrub that finds silent rot.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BlobIndex } from '../../../src/cache/blob-index.js';
import { CacheScrub } from '../../../src/cache/cache-scrub.js';
import { DamagedBlobError } from '../../../src/cache/blob-store.js';
import { CachedCopyGone, ServeVerification } from '../../../src/cache/serve-verification.js';
import { createLogger } from '../../../src/log.js';
import { Metrics } from '../../../src/metrics.js';
import { parseDigest, type Digest } from '../../../src/oci/digest.js';
import { MemoryBlobStore } from './memory-blob-store.js';

const digestOf = (bytes: Buffer): Digest => parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
const signal = () => AbortSignal.timeout(5_000);

async function setup(bytes: Buffer, options: { verified?: boolean } = {}) {
  const store = new MemoryBlobStore();
  const digest = digestOf(bytes);
  const writer = await store.create(digest);
  await writer.write(bytes);
  await writer.commit();
  const index = new BlobIndex();
  index.add(digest.value, bytes.length, options.verified ?? false);
  const state = await store.stat(digest);
  if (options.verified) index.setStamp(digest.value, index.entryId(digest.value)!, state!.stamp);
  const metrics = new Metrics({ processMetrics: false });
  const forgotten: string[] = [];
  const verification = new ServeVerification(store, index, metrics, createLogger('silent'), (d) => forgotten.push(d));
  const corruptions = async () => {
    const text = await metrics.registry.getSingleMetricAsString('tender_cache_corruptions_total');
    return [...text.matchAll(/reason="(\w+)"\} (\d+)/g)].map((m) => `${m[1]}=${m[2]}`).join(',');
  };
  return { store, digest, index, metrics, verification, forgotten, corruptions };
}

/** Reads [start, end] as sendFile does: in order, in chunks; stops at the first error. */
async function readAll(access: { read(buffer: Buffer, position: number): Promise<number> }, start: number, end: number, chunk = 1000) {
  const parts: Buffer[] = [];
  let error: unknown;
  for (let position = start; position <= end;) {
    const buffer = Buffer.alloc(Math.min(chunk, end - position + 1));
    try {
      const got = await access.read(buffer, position);
      if (got === 0) break;
      parts.push(buffer.subarray(0, got));
      position += got;
    } catch (err) {
      error = err;
      break;
    }
  }
  return { bytes: Buffer.concat(parts), error };
}

const flipped = (bytes: Buffer, at: number) => {
  const copy = Buffer.from(bytes);
  copy[at] = copy[at]! ^ 0x01;
  return copy;
};

describe('ServeVerification', () => {
  it('hashes small content on every read, and drops a copy whose bytes or size are wrong', async () => {
    const bytes = randomBytes(3000);
    const s = await setup(bytes);
    expect((await s.verification.readSmall(s.digest, bytes.length, 'manifest', signal()))?.equals(bytes)).toBe(true);
    s.store.rot(s.digest.value, flipped(bytes, 10));
    expect(await s.verification.readSmall(s.digest, bytes.length, 'manifest', signal())).toBeUndefined();
    expect(s.index.has(s.digest.value)).toBe(false);
    expect(s.store.quarantined.has(s.digest.value)).toBe(true);
    expect(s.forgotten).toEqual([s.digest.value]);
    expect(await s.corruptions()).toContain('digest=1');

    const other = await setup(bytes);
    other.store.damage(other.digest.value, bytes.subarray(0, 100));
    expect(await other.verification.readSmall(other.digest, bytes.length, 'blob', signal())).toBeUndefined();
    expect(await other.corruptions()).toContain('size=1');
  });

  it('hashes a whole blob on its first serve and trusts it afterwards, while its file is unchanged', async () => {
    const bytes = randomBytes(10_000);
    const s = await setup(bytes);
    const first = await s.verification.open(s.digest, bytes.length, 0, bytes.length - 1);
    const read = await readAll(first.access, 0, bytes.length - 1);
    first.done();
    expect(read.error).toBeUndefined();
    expect(read.bytes.equals(bytes)).toBe(true);
    const { stamp } = (await s.store.stat(s.digest))!;
    expect(s.index.trusts(s.digest.value, s.index.entryId(s.digest.value), stamp)).toBe(true);

    // Rewritten since (a flipped byte, as an edit makes it): hashed again, and cut before its last bytes.
    s.store.damage(s.digest.value, flipped(bytes, 5_000));
    const second = await s.verification.open(s.digest, bytes.length, 0, bytes.length - 1);
    const cut = await readAll(second.access, 0, bytes.length - 1);
    second.done();
    expect(cut.error).toBeInstanceOf(DamagedBlobError);
    expect(cut.bytes.length).toBeLessThan(bytes.length);
    expect(s.index.has(s.digest.value)).toBe(false);
    expect(s.store.quarantined.has(s.digest.value)).toBe(true);
  });

  it('never hands out the last chunk of a damaged blob on a whole read', async () => {
    const bytes = randomBytes(10_000);
    const s = await setup(bytes);
    s.store.damage(s.digest.value, flipped(bytes, 9_999));
    const opened = await s.verification.open(s.digest, bytes.length, 0, bytes.length - 1);
    const read = await readAll(opened.access, 0, bytes.length - 1);
    expect(read.error).toBeInstanceOf(DamagedBlobError);
    expect(read.bytes.length).toBe(9_000); // nine chunks of 1000, the tenth withheld
  });

  it('refuses a file whose size is not the indexed one at open, before any byte', async () => {
    const bytes = randomBytes(5000);
    for (const wrong of [bytes.subarray(0, 2500), Buffer.alloc(0), Buffer.concat([bytes, Buffer.alloc(10)])]) {
      const s = await setup(bytes, { verified: true });
      s.store.damage(s.digest.value, wrong);
      const err = await s.verification.open(s.digest, bytes.length, 0, bytes.length - 1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DamagedBlobError);
      expect((err as DamagedBlobError).reason).toBe('size');
      expect(s.index.has(s.digest.value)).toBe(false);
    }
  });

  it('checks the whole file before serving a range of a blob not yet hashed, once for concurrent ranges', async () => {
    const bytes = randomBytes(50_000);
    const s = await setup(bytes);
    const [a, b] = await Promise.all([s.verification.open(s.digest, bytes.length, 100, 199), s.verification.open(s.digest, bytes.length, 40_000, 49_999)]);
    // Two opens for sending, one whole-file check between them.
    expect(s.store.reads.get(s.digest.value)).toBe(3);
    expect((await readAll(a.access, 100, 199)).bytes.equals(bytes.subarray(100, 200))).toBe(true);
    expect((await readAll(b.access, 40_000, 49_999)).bytes.equals(bytes.subarray(40_000))).toBe(true);

    const damaged = await setup(bytes);
    damaged.store.damage(damaged.digest.value, flipped(bytes, 20_000));
    await expect(damaged.verification.open(damaged.digest, bytes.length, 100, 199)).rejects.toBeInstanceOf(DamagedBlobError);
    expect(damaged.index.has(damaged.digest.value)).toBe(false);
  });

  it('checks an empty file before sending it: an empty body is no proof', async () => {
    const bytes = randomBytes(2000);
    const s = await setup(bytes);
    s.store.damage(s.digest.value, Buffer.alloc(0));
    // Indexed as found on disk (after a restart): 0 bytes, so the size alone cannot tell.
    s.index.remove(s.digest.value);
    s.index.add(s.digest.value, 0);
    await expect(s.verification.open(s.digest, 0, 0, -1)).rejects.toBeInstanceOf(DamagedBlobError);
    expect(s.index.has(s.digest.value)).toBe(false);
  });

  it('reports a vanished file as gone (fetched again), not as damaged', async () => {
    const bytes = randomBytes(1000);
    const s = await setup(bytes);
    await s.store.delete(s.digest);
    await expect(s.verification.open(s.digest, bytes.length, 0, 999)).rejects.toBeInstanceOf(CachedCopyGone);
    expect(s.index.has(s.digest.value)).toBe(false);
    expect(await s.corruptions()).not.toMatch(/=[1-9]/);
  });

  it('leaves a newer copy alone when an old reader finds the old one damaged', async () => {
    const bytes = randomBytes(4000);
    const s = await setup(bytes);
    s.store.damage(s.digest.value, flipped(bytes, 3999));
    const old = await s.verification.open(s.digest, bytes.length, 0, bytes.length - 1);
    // Meanwhile the entry was dropped and the blob fetched and stored again (a new entry).
    s.index.remove(s.digest.value);
    s.index.add(s.digest.value, bytes.length, true);
    expect((await readAll(old.access, 0, bytes.length - 1)).error).toBeInstanceOf(DamagedBlobError);
    expect(s.index.has(s.digest.value)).toBe(true);
    expect(s.store.quarantined.size).toBe(0);
  });
});

describe('CacheScrub', () => {
  it('re-hashes every cached file, trusted ones included, and quarantines silent rot that serving would not see', async () => {
    const bytes = randomBytes(20_000);
    const s = await setup(bytes, { verified: true });
    // Rot without a trace: same stamp, so serving trusts it...
    s.store.rot(s.digest.value, flipped(bytes, 7));
    const { stamp } = (await s.store.stat(s.digest))!;
    expect(s.index.trusts(s.digest.value, s.index.entryId(s.digest.value), stamp)).toBe(true);
    // ...but the scrub reads it anyway.
    const good = randomBytes(30_000);
    const gooddigest = digestOf(good);
    const writer = await s.store.create(gooddigest);
    await writer.write(good);
    await writer.commit();
    s.index.add(gooddigest.value, good.length);
    const scrub = new CacheScrub(s.index, s.verification, 1e12, async () => 'blob', s.metrics, createLogger('silent'));
    const report = await scrub.pass(new AbortController().signal);
    expect(report).toEqual({ checked: 1, bytes: good.length, damaged: 1 });
    expect(s.index.has(s.digest.value)).toBe(false);
    expect(s.store.quarantined.has(s.digest.value)).toBe(true);
    const scrubbed = await s.metrics.registry.getSingleMetricAsString('tender_cache_scrubbed_bytes_total');
    // Counted as read: all of the good file (the damaged one's only chunk was its last, never handed out).
    expect(Number(/tender_cache_scrubbed_bytes_total (\d+)/.exec(scrubbed)?.[1])).toBe(good.length);
    const goodState = (await s.store.stat(gooddigest))!;
    expect(s.index.trusts(gooddigest.value, s.index.entryId(gooddigest.value), goodState.stamp)).toBe(true);
  });

  it('does nothing at rate 0, and stops when aborted', async () => {
    const s = await setup(randomBytes(1000));
    const off = new CacheScrub(s.index, s.verification, 0, async () => 'blob', s.metrics, createLogger('silent'));
    await off.run(new AbortController().signal);
    expect(s.store.reads.get(s.digest.value)).toBeUndefined();
    const stop = new AbortController();
    const slow = new CacheScrub(s.index, s.verification, 1, async () => 'blob', s.metrics, createLogger('silent'));
    const running = slow.run(stop.signal);
    stop.abort();
    await expect(running).resolves.toBeUndefined();
  });
});
