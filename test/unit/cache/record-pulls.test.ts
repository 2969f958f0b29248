// A pull applied to a record: counts always move; the client map changes only when it would say something new
// (a new client, or one seen again after the resolution), and stays within its bound without sorting.
import { describe, expect, it } from 'vitest';
import { recordBounds, type InventoryRecord } from '../../../src/cache/inventory-record.js';
import type { PullEvent } from '../../../src/cache/pull-events.js';
import { withPull } from '../../../src/cache/record-pulls.js';

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
