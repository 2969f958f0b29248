// A pull applied to a record: counts always move; the client map changes only when it would say something new
// (a new client, or one seen again after the resolution), and stays within its bound without sorting.
import { describe, expect, it } from 'vitest';
import { recordBounds, type InventoryRecord } from '../../../src/cache/inventory-record.js';
import type { PullEvent } from '../../../src/cache/pull-events.js';
import { PendingPulls, withPull, withPulls } from '../../../src/cache/record-pulls.js';

const empty = { digest: 'sha256:' + 'a'.repeat(64), pulls: { counts: {}, clients: {}, recent: [] } } as unknown as InventoryRecord;

function pull(client: string, time: number): PullEvent {
  return {
    id: `${client}-${time}`,
    time,
    digest: empty.digest,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 1,
    upstream: 'registry.test',
    repository: 'team/app',
    cacheResult: 'hit',
    method: 'GET',
    clientAddress: client,
    requestId: 'r',
  } as PullEvent;
}

describe('withPull', () => {
  it('counts every pull, and leaves the client map as it is when the client pulled again within a minute', () => {
    const first = withPull(empty, pull('10.0.0.1', 1_000), 'w');
    const second = withPull(first, pull('10.0.0.1', 30_000), 'w');
    expect(second.pulls.counts.w).toEqual({ pulls: 2, hits: 2 });
    expect(second.pulls.lastPulled).toBe(30_000);
    expect(second.pulls.clients).toBe(first.pulls.clients);
    const later = withPull(second, pull('10.0.0.1', 62_000), 'w');
    expect(later.pulls.clients).toEqual({ '10.0.0.1': 62_000 });
    expect(later.pulls.recent).toHaveLength(3);
  });

  it('keeps the clients seen most recently, at most the bound', () => {
    let record = empty;
    const clients = recordBounds.clients + 44;
    for (let i = 0; i < clients; i++) record = withPull(record, pull(`10.0.${i >> 8}.${i & 255}`, 1_000 + i), 'w');
    const kept = Object.keys(record.pulls.clients);
    expect(kept).toHaveLength(recordBounds.clients);
    // The oldest 44 left; the newest is there.
    expect(kept).not.toContain('10.0.0.0');
    expect(kept).not.toContain('10.0.0.43');
    expect(kept).toContain('10.0.0.44');
    expect(kept).toContain(`10.0.${(clients - 1) >> 8}.${(clients - 1) & 255}`);
    expect(record.pulls.counts.w!.pulls).toBe(clients);
  });
});

describe('withPulls', () => {
  it('folds a batch as the same pulls one by one would (counts, last hit, clients, recent newest first)', () => {
    const events = [pull('10.0.0.1', 1_000), { ...pull('10.0.0.2', 2_000), cacheResult: 'miss' as const }, pull('10.0.0.1', 70_000), pull('10.0.0.3', 71_000)];
    let oneByOne = empty;
    for (const event of events) oneByOne = withPull(oneByOne, event, 'w');
    expect(withPulls(empty, events, 'w')).toEqual(oneByOne);
    expect(oneByOne.pulls.counts.w).toEqual({ pulls: 4, hits: 3 });
    expect(oneByOne.pulls.recent.map((r) => r.at)).toEqual([71_000, 70_000, 2_000, 1_000]);
  });

  it('keeps the recent list and the client map within their bounds for a batch longer than both', () => {
    const events = Array.from({ length: recordBounds.clients + 10 }, (_, i) => pull(`10.1.${i >> 8}.${i & 255}`, 1_000 + i));
    const record = withPulls(empty, events, 'w');
    expect(record.pulls.recent).toHaveLength(recordBounds.recent);
    expect(record.pulls.recent[0]!.at).toBe(1_000 + events.length - 1);
    expect(Object.keys(record.pulls.clients)).toHaveLength(recordBounds.clients);
    expect(record.pulls.clients['10.1.0.0']).toBeUndefined();
    expect(record.pulls.counts.w!.pulls).toBe(events.length);
  });
});

describe('PendingPulls', () => {
  it('folds a turn’s pulls of a digest once, at the end of the turn or when settled, and a long batch at once', async () => {
    const folded: Array<[string, number]> = [];
    const pending = new PendingPulls((digest, batch) => folded.push([digest, batch.length]));
    for (let i = 0; i < 5; i++) pending.add(pull('10.0.0.1', i));
    expect(folded).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(folded).toEqual([[empty.digest, 5]]);
    pending.add(pull('10.0.0.1', 9));
    pending.settle();
    expect(folded).toEqual([
      [empty.digest, 5],
      [empty.digest, 1],
    ]);
    for (let i = 0; i < 300; i++) pending.add(pull('10.0.0.1', i));
    expect(folded[2]).toEqual([empty.digest, 256]);
    pending.settle();
    expect(folded[3]).toEqual([empty.digest, 44]);
  });
});
