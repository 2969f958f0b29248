// Size-capped LRU eviction against a real upstream: under the cap, reads in progress intact, pins kept; and `verify`.
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { verifyCache } from '../../src/cli/verify.js';
import { describeWithBinaries } from '../helpers/binaries.js';
import { http } from '../helpers/http-client.js';
import { pushImage, sha256, type PushedImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const MiB = 1024 * 1024;
const cap = 4 * MiB;

describeWithBinaries(['docker-registry'], 'size-capped eviction', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  const images: PushedImage[] = [];
  let pinned: PushedImage;

  beforeAll(async () => {
    registry = await startRegistry();
    for (let i = 0; i < 6; i++) images.push(await pushImage(registry, `evict/app${i}`, 'v1', { layerSizes: [MiB], seed: `evict-${i}` }));
    pinned = await pushImage(registry, 'pinned/base', 'v1', { layerSizes: [MiB], seed: 'pinned' });
    tender = await startTender({
      upstreams: { 'registry.test': registry.url },
      settings: { maxCacheSize: cap, pin: { repositories: ['registry.test/pinned/**'] } },
    });
  });

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
  });

  const layerUrl = (image: PushedImage) => `${tender.url}/v2/registry.test/${image.repository}/blobs/${image.layers[0]!.digest}`;

  async function diskBytes(): Promise<number> {
    const root = join(tender.cacheDir, 'blobs', 'sha256');
    let total = 0;
    // A file unlinked between readdir and stat (eviction at work) counts for nothing.
    for (const prefix of await readdir(root)) {
      for (const hex of await readdir(join(root, prefix)))
        total += await stat(join(root, prefix, hex)).then(
          (s) => s.size,
          () => 0,
        );
    }
    return total;
  }

  const cached = (digest: string) =>
    stat(join(tender.cacheDir, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7))).then(
      () => true,
      () => false,
    );

  it('stays under the cap, never evicts a pinned blob or one being read, and keeps serving correct bytes', async () => {
    // The pinned image first, so it is the least recently used of all.
    expect(sha256((await http(layerUrl(pinned))).body)).toBe(pinned.layers[0]!.digest);
    const first = images[0]!;
    expect(sha256((await http(layerUrl(first))).body)).toBe(first.layers[0]!.digest);

    // A slow reader of the oldest unpinned blob: it must survive every eviction below.
    const reading = await request(layerUrl(first), { highWaterMark: 16 * 1024 } as never);
    const chunks: Buffer[] = [];
    const iterator = reading.body[Symbol.asyncIterator]();
    chunks.push((await iterator.next()).value as Buffer);

    for (const image of images.slice(1)) expect(sha256((await http(layerUrl(image))).body)).toBe(image.layers[0]!.digest);

    for (let next = await iterator.next(); !next.done; next = await iterator.next()) chunks.push(next.value as Buffer);
    expect(sha256(Buffer.concat(chunks))).toBe(first.layers[0]!.digest);

    const metrics = await tender.metrics.registry.metrics();
    expect(metrics).toMatch(/tender_evictions_total [1-9]/);
    const indexed = Number(/tender_cache_bytes (\d+)/.exec(metrics)![1]);
    expect(indexed).toBeLessThanOrEqual(cap);
    // Evicted files are unlinked after a short grace (2 s).
    for (const deadline = Date.now() + 10_000; (await diskBytes()) > cap && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
    expect(await diskBytes()).toBeLessThanOrEqual(cap);
    expect(await cached(pinned.layers[0]!.digest)).toBe(true);
    // The most recent blob is kept; the oldest unpinned ones went.
    expect(await cached(images[5]!.layers[0]!.digest)).toBe(true);
    expect(await cached(images[1]!.layers[0]!.digest)).toBe(false);

    // An evicted blob is simply fetched again.
    await registry.settle();
    registry.resetLog();
    expect(sha256((await http(layerUrl(images[1]!))).body)).toBe(images[1]!.layers[0]!.digest);
    await registry.settle();
    expect(registry.count({ kind: 'blobs', method: 'GET' })).toBe(1);
  });

  it('verify re-hashes the cache and quarantines a corrupted file', async () => {
    const victim = images[5]!.layers[0]!.digest;
    const path = join(tender.cacheDir, 'blobs', 'sha256', victim.slice(7, 9), victim.slice(7));
    const bytes = await readFile(path);
    bytes[1000] = bytes[1000]! ^ 0xff;
    await writeFile(path, bytes);
    const lines: string[] = [];
    const report = await verifyCache(tender.cacheDir, (line) => lines.push(line));
    expect(report.checked).toBeGreaterThan(3);
    expect(report.quarantined.map((q) => q.digest)).toEqual([victim]);
    expect(lines[0]).toContain(`MISMATCH ${victim}`);
    expect(await cached(victim)).toBe(false);
    expect((await readdir(join(tender.cacheDir, 'quarantine'))).length).toBe(1);
  });
});
