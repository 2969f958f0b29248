// Start-up and answers with 100,000 inventory records (issue 15): `tender serve` as a process, its records in the
// cache directory's log and then in Redis; how long until it serves, how long loading the records took (its own
// log line), and how long the first /api/v1/ and /ui/ answers take. Prints a markdown table; asserts nothing.
//
//   npx tsx bench/inventory-startup.ts [count]        (default 100000; needs redis-server on PATH)
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@keyv/redis';
import { request } from 'undici';
import { RedisInventoryStore } from '../src/storage/redis-inventory-store.js';
import { startRedis } from '../test/helpers/redis.js';
import { baseLayer, syntheticDigest, syntheticLog, syntheticRecord } from '../test/helpers/synthetic-inventory.js';
import { startTenderProcess } from '../test/helpers/tender-process.js';

const count = Number(process.argv[2] ?? 100_000);
const now = Date.now();

/** A tender whose one upstream is never dialled (nothing is pulled): only its inventory matters. */
const settingsFor = (dir: string) => ({
  cacheDir: join(dir, 'cache'),
  includeDefaultUpstreams: false,
  defaultUpstream: 'registry.test',
  upstreams: { 'registry.test': { url: 'http://127.0.0.1:9', insecure: true } },
});

async function timedGet(url: string): Promise<{ ms: number; status: number; bytes: number }> {
  const started = performance.now();
  const answer = await request(url);
  const body = Buffer.from(await answer.body.arrayBuffer());
  return { ms: performance.now() - started, status: answer.statusCode, bytes: body.length };
}

async function measure(name: string, dir: string, extra: Record<string, unknown>): Promise<string[]> {
  const started = performance.now();
  const tender = await startTenderProcess(dir, { ...settingsFor(dir), ...extra }, 600_000);
  const serving = performance.now() - started;
  try {
    // Redis: the records may arrive after "serving" when the store could not be read at once; wait for them.
    const deadline = Date.now() + 60_000;
    let loadedAt = performance.now();
    for (;;) {
      const probe = await request(`${tender.url}/api/v1/images/${syntheticDigest(count - 1, 'a')}`);
      await probe.body.dump();
      if (probe.statusCode === 200 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 20));
      loadedAt = performance.now();
    }
    const answersFrom = loadedAt - started;
    const loaded = tender.logs.find((l) => l.msg === 'inventory loaded');
    const rows: Array<[string, string]> = [];
    const get = async (what: string, path: string) => {
      const r = await timedGet(`${tender.url}${path}`);
      rows.push([what, `${r.ms.toFixed(1)} ms (${r.status}, ${r.bytes} B)`]);
    };
    await get('GET /api/v1/images (first page of 100)', '/api/v1/images');
    await get('GET /api/v1/images?upstream=ghcr.io&repository=team7/* (filter, limit 1000)', '/api/v1/images?upstream=ghcr.io&repository=team7/*&limit=1000');
    await get('GET /api/v1/images?signed=true', '/api/v1/images?signed=true');
    await get('GET /api/v1/images?repository=nothing/* (scans all)', '/api/v1/images?repository=nothing/*');
    await get('GET /api/v1/images/<digest>', `/api/v1/images/${syntheticDigest(4242, 'a')}`);
    await get('GET /api/v1/blobs/<shared layer>/images (1% of all)', `/api/v1/blobs/${baseLayer(42)}/images`);
    await get('GET /api/v1/history (one repository)', '/api/v1/history?upstream=docker.io&repository=team1/svc1');
    await get('GET /ui/ (100 images)', '/ui/');
    await get('GET /ui/images/<digest>', `/ui/images/${syntheticDigest(4242, 'a')}`);
    await get('GET /api/v1/images (again)', '/api/v1/images');
    return [
      `### ${name}: ${count} records`,
      '',
      '| step | time |',
      '| --- | --- |',
      `| spawn → "tender is serving" (includes node + tsx start) | ${serving.toFixed(0)} ms |`,
      `| records loaded (tender's log: \`inventory loaded\`) | ${loaded ? `${String(loaded.ms)} ms (${String(loaded.records)} records)` : 'no log line'} |`,
      `| spawn → the newest record answers | ${answersFrom.toFixed(0)} ms |`,
      ...rows.map(([what, time]) => `| ${what} | ${time} |`),
      '',
    ];
  } finally {
    await tender.stop();
  }
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'tender-inventory-startup-'));
  const out: string[] = [`inventory start-up (load average ${loadavg()[0]!.toFixed(1)}, node ${process.version})`, ''];
  try {
    const empty = join(work, 'empty');
    await mkdir(join(empty, 'cache'), { recursive: true });
    const baseline = performance.now();
    const bare = await startTenderProcess(empty, settingsFor(empty), 600_000);
    out.push(`empty inventory: spawn → "tender is serving" ${(performance.now() - baseline).toFixed(0)} ms`, '');
    await bare.stop();

    const file = join(work, 'file');
    await mkdir(join(file, 'cache', 'inventory'), { recursive: true });
    await writeFile(join(file, 'cache', 'inventory', 'records.jsonl'), syntheticLog(count, now));
    out.push(...(await measure('embedded store (cache directory log)', file, {})));

    const redis = await startRedis();
    try {
      const client = createClient({ url: redis.url });
      await client.connect();
      const store = new RedisInventoryStore(client, 'tender');
      const batch = [];
      for (let i = 0; i < count; i++) {
        batch.push(syntheticRecord(i, now, count));
        if (batch.length === 5000) await store.save(batch.splice(0), []);
      }
      await store.save(batch, []);
      client.destroy();
      const inRedis = join(work, 'redis');
      await mkdir(join(inRedis, 'cache'), { recursive: true });
      out.push(...(await measure('Redis (metadata.redis)', inRedis, { metadata: { redis: { url: redis.url } } })));
    } finally {
      await redis.stop();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  console.log(out.join('\n'));
}

await main();
