// `npm run bench:scheduling`: how tender's workers should share the listening socket, measured (issue 17).
//
// Two tenders with workers: auto on the same upstream, one with node:cluster's round-robin (the primary accepts
// and hands each connection to the next worker: NODE_CLUSTER_SCHED_POLICY=rr, Linux's default) and one with the
// kernel's scheduling (every worker accepts on the shared socket: =none). Rows b (64 KiB blob) and c (manifest by
// digest) run against them in alternating rounds; the median req/s and CPU per request of each are printed.
import { startTenderProxy, type Proxy } from './proxies.js';
import { warmManifest, warmSmallBlob } from './scenarios.js';
import { buildDist, cleanupOnExit, say, upstreamWithContent } from './hit-paths.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);

async function main(): Promise<void> {
  const cleanup = cleanupOnExit();
  buildDist();
  const { upstream, content } = await upstreamWithContent(cleanup);
  const policies = ['rr', 'none'] as const;
  const tenders = new Map<string, Proxy>();
  for (const policy of policies) {
    process.env.NODE_CLUSTER_SCHED_POLICY = policy;
    tenders.set(policy, await startTenderProxy(cleanup, upstream.url, { workers: 'auto', label: `tender ${policy}` }));
  }
  delete process.env.NODE_CLUSTER_SCHED_POLICY;
  const results = new Map<string, { blob: number[]; manifest: number[]; blobCpu: number[]; manifestCpu: number[] }>();
  for (const policy of policies) results.set(policy, { blob: [], manifest: [], blobCpu: [], manifestCpu: [] });
  for (let round = 0; round < ROUNDS; round++) {
    // ABBA: neither policy always runs first.
    for (const policy of round % 2 === 0 ? policies : [...policies].reverse()) {
      const t = tenders.get(policy)!;
      const r = results.get(policy)!;
      const blob = await warmSmallBlob(t.url, content, upstream, t.pid);
      const manifest = await warmManifest(t.url, 'digest', content, upstream, t.pid);
      r.blob.push(blob.reqPerSec);
      r.manifest.push(manifest.reqPerSec);
      r.blobCpu.push(blob.cpuUsPerRequest ?? Number.NaN);
      r.manifestCpu.push(manifest.cpuUsPerRequest ?? Number.NaN);
      say(`round ${round + 1} ${policy}: 64 KiB ${blob.reqPerSec.toFixed(0)} req/s, manifest ${manifest.reqPerSec.toFixed(0)} req/s`);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  const lines = ['| scheduling | 64 KiB blob req/s | CPU µs/req | manifest req/s | CPU µs/req |', '| --- | ---: | ---: | ---: | ---: |'];
  for (const policy of policies) {
    const r = results.get(policy)!;
    lines.push(
      `| ${policy === 'rr' ? 'round-robin (primary accepts)' : 'kernel (workers accept)'} | ${median(r.blob).toFixed(0)} | ${median(r.blobCpu).toFixed(1)} | ${median(r.manifest).toFixed(0)} | ${median(r.manifestCpu).toFixed(1)} |`,
    );
  }
  process.stdout.write(`\nmedians of ${ROUNDS} rounds each:\n\n${lines.join('\n')}\n`);
  await cleanup.run();
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
