// The InventoryStore contract, run against the embedded log and Redis: records kept across opens, two writers
// merged (each one's counts, the union of tags), changes seen by the other writer; and what each must survive:
// two replicas saving one record at the same moment (Redis), appends during a compaction and oversized lines
// (the log), a load before Redis is connected.
import { appendFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@keyv/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InventoryRecord } from '../../src/cache/inventory-record.js';
import type { InventoryStore } from '../../src/cache/inventory-store.js';
import { FileInventoryStore } from '../../src/storage/file-inventory-store.js';
import { RedisInventoryStore } from '../../src/storage/redis-inventory-store.js';
import { describeWithBinaries } from '../helpers/binaries.js';
import { startRedis, type RedisHandle } from '../helpers/redis.js';

// ---- the InventoryStore contract: the embedded log and Redis ----------------------------------------------------

const inventoryRecord = (n: number, writer: string, pulls: number, tag?: string): InventoryRecord => ({
  digest: `sha256:${n.toString(16).padStart(64, '0')}`,
  what: { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 100 + n, blobs: [`sha256:${'e'.repeat(64)}`], manifests: [] },
  from: { upstream: 'docker.io', repository: 'library/nginx', firstFetched: 1_000 + n, lastVerified: 2_000 + n, source: 'pull-through' },
  tags: tag ? [{ upstream: 'docker.io', repository: 'library/nginx', tag, firstSeen: 1_000, lastSeen: 2_000 }] : [],
  trust: { verdicts: [] },
  pulls: { counts: { [writer]: { pulls, hits: pulls } }, clients: {}, recent: [] },
  storedAt: 1_000 + n,
});

async function collect(store: InventoryStore): Promise<InventoryRecord[]> {
  return (await store.load()).sort((a, b) => a.digest.localeCompare(b.digest));
}

/** Two writers (two opens of the same store: replicas, or a command beside a serving tender). */
function inventoryContract(open: () => Promise<{ a: InventoryStore; b: InventoryStore; dispose(): Promise<void> }>): void {
  it("keeps records across opens, merges two writers (each one's counts, the union of tags), and removes", async () => {
    const { a, b, dispose } = await open();
    try {
      expect(await collect(a)).toEqual([]);
      expect(await collect(b)).toEqual([]);
      await a.save([inventoryRecord(1, 'replica-a', 3, 'latest'), inventoryRecord(2, 'replica-a', 1)], []);
      await b.save([inventoryRecord(1, 'replica-b', 5, '1.27')], []);
      const loaded = await collect(a);
      expect(loaded.map((r) => r.digest)).toEqual([inventoryRecord(1, 'x', 0).digest, inventoryRecord(2, 'x', 0).digest]);
      expect(loaded[0]!.pulls.counts).toEqual({ 'replica-a': { pulls: 3, hits: 3 }, 'replica-b': { pulls: 5, hits: 5 } });
      expect(loaded[0]!.tags.map((t) => t.tag).sort()).toEqual(['1.27', 'latest']);
      await a.save([], [inventoryRecord(2, 'x', 0).digest]);
      expect((await collect(b)).map((r) => r.digest)).toEqual([inventoryRecord(1, 'x', 0).digest]);
    } finally {
      await dispose();
    }
  });

  it('tells each writer what the other wrote or removed since it last looked', async () => {
    const { a, b, dispose } = await open();
    try {
      await collect(a);
      await collect(b);
      await a.save([inventoryRecord(3, 'replica-a', 1)], []);
      const seen = await b.changes();
      expect(seen.records.map((r) => r.digest)).toContain(inventoryRecord(3, 'x', 0).digest);
      await a.save([], [inventoryRecord(3, 'x', 0).digest]);
      const after = await b.changes();
      expect(after.complete || after.removed.includes(inventoryRecord(3, 'x', 0).digest)).toBe(true);
      if (after.complete) expect(after.records.map((r) => r.digest)).not.toContain(inventoryRecord(3, 'x', 0).digest);
    } finally {
      await dispose();
    }
  });
}

describe('InventoryStore contract: the embedded log', () => {
  inventoryContract(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tender-inventory-'));
    const path = join(dir, 'inventory', 'records.jsonl');
    return { a: new FileInventoryStore(path), b: new FileInventoryStore(path), dispose: () => rm(dir, { recursive: true, force: true }) };
  });

  it('compacts a log that grew past twice its size, keeping every record, and skips a line cut short by a crash', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tender-inventory-'));
    const path = join(dir, 'records.jsonl');
    try {
      const store = new FileInventoryStore(path);
      const records = Array.from({ length: 50 }, (_, i) => inventoryRecord(i + 1, 'w', 1));
      // Each save appends every record again (pull counts rising): the log grows past 1 MiB and is compacted.
      for (let round = 1; round <= 60; round++)
        await store.save(
          records.map((r) => ({ ...r, pulls: { ...r.pulls, counts: { w: { pulls: round, hits: 0 } } } })),
          [],
        );
      const size = (await stat(path)).size;
      expect(size).toBeLessThan(1024 * 1024 * 2);
      await appendFile(path, '{"put":{"digest":"sha256:cut-short"');
      const loaded = await collect(new FileInventoryStore(path));
      expect(loaded).toHaveLength(50);
      expect(loaded.every((r) => r.pulls.counts.w!.pulls === 60)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the embedded log under other writers', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tender-inventory-log-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loses no append made by another writer while the log is compacted', async () => {
    const path = join(dir, 'compacting.jsonl');
    const compactor = new FileInventoryStore(path);
    const other = new FileInventoryStore(path);
    // Large records rewritten every round: the log passes twice its compacted size again and again.
    const big = (n: number, round: number): InventoryRecord => ({
      ...inventoryRecord(n, 'compactor', round),
      what: { ...inventoryRecord(n, 'x', 0).what, annotations: { padding: 'x'.repeat(900) } },
    });
    let compactions = 0;
    let lastSize = 0;
    const rounds = 40;
    const compacting = (async () => {
      for (let round = 1; round <= rounds; round++) {
        await compactor.save(
          Array.from({ length: 120 }, (_, i) => big(i + 1, round)),
          [],
        );
        const size = (await stat(path)).size;
        if (size < lastSize) compactions++;
        lastSize = size;
      }
    })();
    // Meanwhile another writer appends a record of its own at every turn.
    const appended: string[] = [];
    const appending = (async () => {
      for (let i = 0; i < 400; i++) {
        const record = inventoryRecord(10_000 + i, 'other', 1);
        await other.save([record], []);
        appended.push(record.digest);
      }
    })();
    await Promise.all([compacting, appending]);
    expect(compactions, 'the log was compacted while the other writer appended').toBeGreaterThan(2);
    const loaded = new Set((await new FileInventoryStore(path).load()).map((r) => r.digest));
    expect(appended.filter((d) => !loaded.has(d))).toEqual([]);
    expect(loaded.size).toBe(120 + 400);
  });

  it('skips a line longer than 8 MiB without holding it, and reads the lines around it', async () => {
    const path = join(dir, 'long-line.jsonl');
    const store = new FileInventoryStore(path);
    await store.save([inventoryRecord(1, 'w', 1)], []);
    await appendFile(path, `{"put":{"digest":"${'z'.repeat(9 * 1024 * 1024)}"}}\n`);
    await store.save([inventoryRecord(2, 'w', 1)], []);
    expect((await collect(new FileInventoryStore(path))).map((r) => r.digest)).toEqual([inventoryRecord(1, 'x', 0).digest, inventoryRecord(2, 'x', 0).digest]);
  });
});

describeWithBinaries(['redis-server'], 'InventoryStore contract: Redis', () => {
  let redis: RedisHandle;
  let n = 0;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  it('two replicas saving one record at the same moment keep both their counts', async () => {
    const clients = [createClient({ url: redis.url }), createClient({ url: redis.url })];
    await Promise.all(clients.map((c) => c.connect()));
    try {
      const namespace = `race${n++}`;
      const [a, b] = clients.map((c) => new RedisInventoryStore(c, namespace));
      const digests = Array.from({ length: 20 }, (_, i) => inventoryRecord(i + 1, 'x', 0).digest);
      // Each replica raises its own count of every record, round after round, both at once: without a compare
      // and set, a save that read before the other's write puts back the other's older count.
      for (let round = 1; round <= 15; round++) {
        await Promise.all([
          a!.save(
            digests.map((_, i) => inventoryRecord(i + 1, 'replica-a', round)),
            [],
          ),
          b!.save(
            digests.map((_, i) => inventoryRecord(i + 1, 'replica-b', round * 2)),
            [],
          ),
        ]);
        const stored = await collect(new RedisInventoryStore(clients[0]!, namespace));
        for (const record of stored)
          expect(record.pulls.counts, `round ${round}`).toEqual({
            'replica-a': { pulls: round, hits: round },
            'replica-b': { pulls: round * 2, hits: round * 2 },
          });
      }
    } finally {
      for (const c of clients) c.destroy();
    }
  });

  it('a load before the connection is up fails, and the next changes() reads everything', async () => {
    const writer = createClient({ url: redis.url });
    await writer.connect();
    const namespace = `late${n++}`;
    await new RedisInventoryStore(writer, namespace).save([inventoryRecord(1, 'w', 1), inventoryRecord(2, 'w', 1)], []);
    writer.destroy();
    // As tender's shared connection is: no offline queue, so a command before the connection is up fails at once.
    const late = createClient({ url: redis.url, disableOfflineQueue: true });
    late.on('error', () => undefined);
    // Its clock a minute on (replicas' clocks differ): the records were written before anything it would call recent.
    const store = new RedisInventoryStore(late, namespace, () => Date.now() + 60_000);
    await expect(store.load()).rejects.toThrow();
    await late.connect();
    try {
      const changes = await store.changes();
      expect(changes.complete).toBe(true);
      expect(changes.records.map((r) => r.digest).sort()).toEqual([inventoryRecord(1, 'x', 0).digest, inventoryRecord(2, 'x', 0).digest]);
    } finally {
      late.destroy();
    }
  });

  inventoryContract(async () => {
    const client = createClient({ url: redis.url });
    await client.connect();
    const namespace = `inventory${n++}`;
    return {
      a: new RedisInventoryStore(client, namespace),
      b: new RedisInventoryStore(client, namespace),
      dispose: async () => void client.destroy(),
    };
  });
});
