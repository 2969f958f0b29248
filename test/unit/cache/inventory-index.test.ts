// The inventory's indexes built at start in one pass (InventoryIndex.load) answer as those built record by record,
// and cosign's attachment tags attach a signature's record to the image it signs.
import { describe, expect, it } from 'vitest';
import { InventoryIndex } from '../../../src/cache/inventory-index.js';
import type { InventoryRecord } from '../../../src/cache/inventory-record.js';
import { baseLayer, syntheticDigest, syntheticRecord } from '../../helpers/synthetic-inventory.js';

const count = 2_000;
const now = 1_750_000_000_000;
const records = Array.from({ length: count }, (_, i) => syntheticRecord(i, now, count));

function answers(index: InventoryIndex) {
  const pages: string[][] = [];
  let cursor: string | undefined;
  do {
    const page = index.list({}, () => false, cursor, 300);
    pages.push(page.items.map((r) => r.digest));
    cursor = page.next;
  } while (cursor);
  return {
    pages,
    contains: index
      .containing(baseLayer(7))
      .map((r) => r.digest)
      .sort(),
    history: index.history('docker.io', 'team1/svc1'),
    signed: index.list({ signed: true }, () => false, undefined, 1000).items.map((r) => r.digest),
  };
}

describe('InventoryIndex', () => {
  it('loaded in one pass (in any order) answers as built record by record', () => {
    const oneByOne = new InventoryIndex();
    for (const record of records) oneByOne.put(record);
    const shuffled = [...records].sort((a, b) => a.digest.localeCompare(b.digest)).reverse();
    const loaded = new InventoryIndex();
    loaded.load(shuffled);
    expect(loaded.size).toBe(count);
    const expected = answers(oneByOne);
    expect(expected.pages.flat()).toHaveLength(count);
    expect(expected.pages.flat()[0]).toBe(syntheticDigest(count - 1, 'a'));
    expect(expected.contains).toHaveLength(count / 100);
    expect(answers(loaded)).toEqual(expected);
    // And it goes on as any index: a record replaced, one removed.
    loaded.remove(syntheticDigest(count - 1, 'a'));
    expect(loaded.list({}, () => false, undefined, 1).items[0]!.digest).toBe(syntheticDigest(count - 2, 'a'));
    expect(() => loaded.load(records)).toThrow(/not empty/);
  });

  it("attaches a cosign .sig/.att/.sbom tag's record to the digest the tag names, and lets go when the record goes", () => {
    const index = new InventoryIndex();
    const image = records[5]!;
    const tagged = (digest: string, tag: string): InventoryRecord => ({
      ...records[6]!,
      digest,
      tags: [{ upstream: 'docker.io', repository: image.from.repository, tag, firstSeen: now, lastSeen: now }],
    });
    const sig = tagged(syntheticDigest(1, '5160'), `${image.digest.replace(':', '-')}.sig`);
    const sbom = tagged(syntheticDigest(2, '5160'), `${image.digest.replace(':', '-')}.sbom`);
    const unrelated = tagged(syntheticDigest(3, '5160'), 'sha256-not-a-digest.sig');
    for (const record of [image, sig, sbom, unrelated]) index.put(record);
    expect(
      index
        .referrers(image.digest)
        .map((r) => r.digest)
        .sort(),
    ).toEqual([sig.digest, sbom.digest].sort());
    index.remove(sig.digest);
    expect(index.referrers(image.digest).map((r) => r.digest)).toEqual([sbom.digest]);
  });
});
