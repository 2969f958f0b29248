// Scenario a2: the cold herd on two tender replicas sharing one cache directory and one real redis-server (the
// README's scale-out setup), the clients split across both. One replica takes the Redis lease and downloads; the
// other waits for the commit on the shared volume, and its clients' first byte shows that wait (issue 17, item 2).
import { request } from 'undici';
import type { RegistryHandle } from '../test/helpers/registry.js';
import { startRedis } from '../test/helpers/redis.js';
import { join } from 'node:path';
import type { Cleanup } from './procs.js';
import { startTenderProxy, type Proxy, type TenderOptions } from './proxies.js';
import { collectTimeline, formatTimeline, TRACE, type TimelineLine } from './herd-trace.js';
import { hwmNow } from './rss.js';
import { blobUrl, coldHerd, type HerdResult } from './scenarios.js';
import type { BlobRef } from './upstream.js';

export const REPLICA_IDS = ['a', 'b'] as const;

export interface ReplicaFigures {
  replicaId: string;
  /** It counted a miss for the blob: it held the download (with Redis, exactly one replica should). */
  holder: boolean;
  slowestHeadersMs: number;
  slowestFirstByteMs: number;
  ok: number;
  clients: number;
  /** VmHWM after the herd: the peak since this replica started. */
  hwmBytes: number | undefined;
}

export interface ReplicaHerdResult {
  herd: HerdResult;
  replicas: ReplicaFigures[];
  /** Log tails of replicas that misbehaved (for the report's problem list). */
  diagnostics: string[];
  /** With BENCH_TRACE=1: both replicas' flight timelines against the clients' times (herd-trace.ts). */
  timeline?: string;
}

/** Sum of the samples of one Prometheus series family whose label set contains every `labels` pair. */
function metricSum(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function blobMisses(replica: Proxy): Promise<number> {
  const res = await request(`${replica.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.body.text();
  return metricSum(text, 'tender_cache_results_total', { kind: 'blob', result: 'miss' });
}

/**
 * Starts redis-server and two replicas (own processes, one new cache directory, `metadata.redis`, `replicaId`),
 * waits until both are connected to Redis, runs the herd on `blob` split across them, and stops all three.
 */
export async function replicaColdHerd(
  cleanup: Cleanup,
  upstream: RegistryHandle,
  blob: BlobRef,
  tender: TenderOptions,
  say: (msg: string) => void,
): Promise<ReplicaHerdResult> {
  const scope = cleanup.scope();
  try {
    const redis = await startRedis();
    scope.add(() => redis.stop());
    const cacheDir = join(await scope.tempDir('replicas'), 'cache');
    const replicas: Proxy[] = [];
    for (const replicaId of REPLICA_IDS) {
      // logLevel info: the "connected to Redis" line says the replica's single flight is the cluster's.
      const replica = await startTenderProxy(scope, upstream.url, {
        ...tender,
        cacheDir,
        redis: { url: redis.url, replicaId },
        logLevel: TRACE ? 'debug' : 'info',
        label: `tender replica ${replicaId}`,
      });
      replicas.push(replica);
    }
    for (const r of replicas) await r.spawned.waitForLine(/"msg":"connected to Redis"/, `${r.label}, connection to Redis`, 15_000);
    const timelines: Array<TimelineLine & { label: string }>[] = TRACE
      ? replicas.map((r, i) => collectTimeline(r.spawned.child, `replica ${REPLICA_IDS[i]}`).lines)
      : [];
    say(`  redis ${redis.url}; ${replicas.map((r) => `${r.label} ${r.url} pid ${r.pid}`).join(', ')}; one cache dir`);

    const herd = await coldHerd(
      replicas.map((r) => blobUrl(r.url, blob.digest)),
      blob,
      upstream,
    );
    const figures: ReplicaFigures[] = [];
    for (const [i, r] of replicas.entries()) {
      const per = herd.perUrl[i]!;
      figures.push({
        replicaId: REPLICA_IDS[i]!,
        holder: (await blobMisses(r).catch(() => 0)) > 0,
        slowestHeadersMs: per.slowestHeadersMs,
        slowestFirstByteMs: per.slowestFirstByteMs,
        ok: per.ok,
        clients: per.clients,
        hwmBytes: await hwmNow(r.pid, r.includeChildren),
      });
    }
    const diagnostics: string[] = [];
    if (herd.failures.length || herd.upstreamGets !== 1)
      for (const r of replicas) diagnostics.push(`${r.label} log tail:\n\n\`\`\`\n${r.spawned.tail().trim()}\n\`\`\``);
    const timeline = TRACE ? formatTimeline(herd, timelines.flat(), (i) => `replica ${REPLICA_IDS[i % replicas.length]}`) : undefined;
    return { herd, replicas: figures, diagnostics, ...(timeline ? { timeline } : {}) };
  } finally {
    await scope.run();
  }
}
