// BlobIndex: size accounting and least-recently-used eviction candidates that skip blobs being read or pinned.
import { describe, expect, it } from 'vitest';
import { BlobIndex } from '../../../src/cache/blob-index.js';

const d = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const digests = (victims: Array<{ digest: string }>) => victims.map((v) => v.digest);

/** An index holding d(1)..d(count), added in that order, each `size` bytes. */
function filled(count: number, size = 100): BlobIndex {
  const index = new BlobIndex();
  for (let i = 1; i <= count; i++) index.add(d(i), size);
  return index;
}

describe('BlobIndex', () => {
  describe('accounting', () => {
    it('starts empty', () => {
      const index = new BlobIndex();
      expect(index.totalBytes).toBe(0);
      expect(index.count).toBe(0);
      expect(index.has(d(1))).toBe(false);
      expect(index.touch(d(1))).toBeUndefined();
      expect(index.victims(1_000)).toEqual([]);
    });

    it('counts bytes and blobs through add and remove', () => {
      const index = new BlobIndex();
      index.add(d(1), 100);
      index.add(d(2), 250);
      index.add(d(3), 0);
      expect(index.totalBytes).toBe(350);
      expect(index.count).toBe(3);

      index.remove(d(2));
      expect(index.totalBytes).toBe(100);
      expect(index.count).toBe(2);
      expect(index.has(d(2))).toBe(false);
      expect(index.touch(d(2))).toBeUndefined();

      index.remove(d(1));
      index.remove(d(3));
      expect(index.totalBytes).toBe(0);
      expect(index.count).toBe(0);
    });

    it('counts a blob added twice once', () => {
      const index = new BlobIndex();
      index.add(d(1), 100);
      index.add(d(1), 100);
      expect(index.totalBytes).toBe(100);
      expect(index.count).toBe(1);
      index.remove(d(1));
      expect(index.totalBytes).toBe(0);
    });

    it('ignores removing a blob it does not hold, or removing one twice', () => {
      const index = filled(2);
      index.remove(d(9));
      index.remove(d(1));
      index.remove(d(1));
      expect(index.totalBytes).toBe(100);
      expect(index.count).toBe(1);
    });

    it('answers touch with the size', () => {
      const index = new BlobIndex();
      index.add(d(1), 4242);
      expect(index.touch(d(1))).toBe(4242);
      expect(index.has(d(1))).toBe(true);
    });
  });

  describe('recency', () => {
    it('offers the oldest blobs first', () => {
      const index = filled(4);
      expect(digests(index.victims(400))).toEqual([d(1), d(2), d(3), d(4)]);
    });

    it('moves a touched blob to the back', () => {
      const index = filled(4);
      index.touch(d(1));
      index.touch(d(3));
      expect(digests(index.victims(400))).toEqual([d(2), d(4), d(1), d(3)]);
    });

    it('moves a blob added again to the back', () => {
      const index = filled(3);
      index.add(d(1), 100);
      expect(digests(index.victims(300))).toEqual([d(2), d(3), d(1)]);
    });

    it('does not change order when touching an absent blob', () => {
      const index = filled(3);
      expect(index.touch(d(9))).toBeUndefined();
      expect(digests(index.victims(300))).toEqual([d(1), d(2), d(3)]);
      expect(index.count).toBe(3);
    });

    it('stops once the bytes asked for are covered', () => {
      const index = new BlobIndex();
      index.add(d(1), 100);
      index.add(d(2), 300);
      index.add(d(3), 50);
      expect(index.victims(0)).toEqual([]);
      expect(index.victims(1)).toEqual([{ digest: d(1), size: 100 }]);
      expect(index.victims(100)).toEqual([{ digest: d(1), size: 100 }]);
      expect(index.victims(101)).toEqual([
        { digest: d(1), size: 100 },
        { digest: d(2), size: 300 },
      ]);
      expect(digests(index.victims(10_000))).toEqual([d(1), d(2), d(3)]);
    });

    it('leaves the index as it was: victims() only proposes', () => {
      const index = filled(3);
      index.victims(300);
      expect(index.count).toBe(3);
      expect(index.totalBytes).toBe(300);
      expect(digests(index.victims(300))).toEqual([d(1), d(2), d(3)]);
    });
  });

  describe('protection', () => {
    it('never offers a blob being read, until it is released', () => {
      const index = filled(3);
      index.acquire(d(1));
      expect(digests(index.victims(200))).toEqual([d(2), d(3)]);
      index.release(d(1));
      expect(digests(index.victims(200))).toEqual([d(1), d(2)]);
    });

    it('counts readers: one release of two acquires still protects', () => {
      const index = filled(2);
      index.acquire(d(1));
      index.acquire(d(1));
      index.release(d(1));
      expect(digests(index.victims(200))).toEqual([d(2)]);
      index.release(d(1));
      expect(digests(index.victims(200))).toEqual([d(1), d(2)]);
    });

    it('does not let extra releases make a later reader unprotected', () => {
      const index = filled(2);
      index.release(d(1));
      index.release(d(1));
      index.acquire(d(1));
      expect(digests(index.victims(200))).toEqual([d(2)]);
    });

    it('protects a blob pinned after it was added', () => {
      const index = filled(3);
      index.pin(d(2));
      expect(index.isPinned(d(2))).toBe(true);
      expect(digests(index.victims(300))).toEqual([d(1), d(3)]);
    });

    it('protects a blob pinned before it was added', () => {
      const index = new BlobIndex();
      index.pin(d(1));
      expect(index.isPinned(d(1))).toBe(true);
      expect(index.has(d(1))).toBe(false);
      index.add(d(1), 100);
      index.add(d(2), 100);
      expect(digests(index.victims(200))).toEqual([d(2)]);
    });

    it('keeps a pin across remove and re-add', () => {
      const index = filled(2);
      index.pin(d(1));
      index.remove(d(1));
      index.add(d(1), 100);
      expect(digests(index.victims(200))).toEqual([d(2)]);
    });

    it('skips protected blobs without counting their bytes', () => {
      const index = new BlobIndex();
      index.add(d(1), 1_000);
      index.add(d(2), 10);
      index.add(d(3), 10);
      index.add(d(4), 10);
      index.pin(d(1));
      expect(digests(index.victims(15))).toEqual([d(2), d(3)]);
    });

    it('offers nothing when everything is pinned or read', () => {
      const index = filled(2);
      index.pin(d(1));
      index.acquire(d(2));
      expect(index.victims(1_000)).toEqual([]);
      expect(index.totalBytes).toBe(200);
    });
  });
});
