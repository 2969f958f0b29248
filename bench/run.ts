// `npm run bench`: one upstream, three pull-through caches (tender, distribution proxy, nginx), one results table.
import { execFileSync } from 'node:child_process';
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CALIBRATION_LABELS, calibrate, calibrationProblems, renderCalibrationTable, type Calibration } from './calibration.js';
import { cpuSnapshot, foreignCores } from './cpu.js';
import { Cleanup } from './procs.js';
import {
  startNginxProxy,
  startRegistryProxy,
  startTenderProxy,
  tenderWorkersFromEnv,
  NGINX_LOCK_TIMEOUT,
  NGINX_WORKERS,
  TENDER_FROM_DIST,
  type Proxy,
  type ProxyId,
  type TenderOptions,
} from './proxies.js';
import { F1_CLIENTS, F2_CONNECTIONS, F2_PROCESSES, SKIP_MEMORY, memoryCachedConnections, memoryColdHerd } from './memory.js';
import { replicaColdHerd, type ReplicaHerdResult } from './replicas.js';
import { PeakRss, rssNow } from './rss.js';
import { rowsFrom, upstreamText, type MemoryResults } from './rows.js';
import {
  HERD_CLIENTS,
  LOAD_CLIENT,
  MANIFEST_ACCEPT,
  MANIFEST_CONNECTIONS,
  MANIFEST_SECONDS,
  SMALL_CONNECTIONS,
  SMALL_SECONDS,
  blobUrl,
  coldHerd,
  manifestUrl,
  warmBigBlob,
  warmManifest,
  warmSmallBlob,
} from './scenarios.js';
import { renderTable } from './table.js';
import { TAG, fillUpstream, pushHugeBlob, startUpstream } from './upstream.js';

/**
 * The tenders every scenario runs against, side by side (issue 17): `workers: auto` (or BENCH_TENDER_WORKERS),
 * whose ratios and targets the table shows, and `workers: 1`, one process as before, which the calibration
 * table compares with the bare servers. Scenario f (one process's memory under load) runs `workers: 1`.
 */
const TENDER: TenderOptions = { workers: tenderWorkersFromEnv() ?? 'auto', label: `tender (workers: ${tenderWorkersFromEnv() ?? 'auto'})` };
const TENDER1: TenderOptions = { workers: 1, id: 'tender1', label: 'tender (workers: 1)' };
/** BENCH_SKIP_REPLICAS=1 skips scenario a2 (two replicas with Redis). */
const SKIP_REPLICAS = process.env.BENCH_SKIP_REPLICAS === '1';

const WATCHDOG_MS = 15 * 60_000;
const benchDir = dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;

const cleanup = new Cleanup();
let exiting = false;

function onSignal(signal: NodeJS.Signals, code: number): void {
  process.on(signal, () => {
    if (exiting) return;
    exiting = true;
    process.stderr.write(`\n${signal}: stopping children and removing temp dirs\n`);
    void cleanup.run().finally(() => process.exit(code));
  });
}
onSignal('SIGINT', 130);
onSignal('SIGTERM', 143);
process.on('exit', () => cleanup.killAllNow());

const say = (msg: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};

async function machineLine(): Promise<string> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown CPU';
  const mem = /^MemTotal:\s+(\d+) kB/m.exec(await readFile('/proc/meminfo', 'utf8').catch(() => ''))?.[1];
  return `nproc ${cpus().length}, CPU "${model}", ${mem ? `${(Number(mem) / 1024 / 1024).toFixed(1)} GiB RAM, ` : ''}node ${process.version}, ${process.platform} ${process.arch}`;
}

/** CPU used outside the bench's process tree, per scenario run, in cores: a shared machine skews everything. */
const foreign: Array<{ what: string; cores: number }> = [];

async function measured<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const a = await cpuSnapshot();
  const result = await fn();
  const cores = foreignCores(a, await cpuSnapshot());
  foreign.push({ what, cores });
  if (cores > 0.15) say(`  note: other processes used ${cores.toFixed(2)} cores during this run`);
  return result;
}

function foreignSummary(): string {
  if (foreign.length === 0) return '';
  const worst = foreign.reduce((a, b) => (b.cores > a.cores ? b : a));
  const mean = foreign.reduce((a, b) => a + b.cores, 0) / foreign.length;
  return (
    `Other processes on the machine (outside the bench's process tree) used ${mean.toFixed(2)} cores on average per ` +
    `scenario run, at most ${worst.cores.toFixed(2)} (${worst.what})` +
    (worst.cores > 0.15 ? ': numbers from noisy runs are less trustworthy; rerun on a quiet machine.' : '.')
  );
}

const cpuText = (x: { cpuUsPerRequest?: number }): string =>
  x.cpuUsPerRequest === undefined ? 'CPU n/a' : `${x.cpuUsPerRequest.toFixed(1)} µs CPU per request`;

/**
 * Runs one scenario on each proxy, strictly one at a time (never two loads at once). `afterTender` runs right
 * after tender's turn, before the peers': the calibration servers then share the machine's state with tender.
 */
async function forEachProxy<T, C = undefined>(
  scenario: string,
  proxies: Proxy[],
  fn: (p: Proxy) => Promise<T>,
  afterTender?: (tender: Proxy) => Promise<C>,
): Promise<{ results: Record<ProxyId, T>; calibration: C | undefined }> {
  const results = {} as Record<ProxyId, T>;
  let calibration: C | undefined;
  for (const p of proxies) {
    results[p.id] = await measured(`${scenario} → ${p.label}`, () => fn(p));
    if (p.spawned.child.exitCode !== null || p.spawned.child.signalCode !== null) {
      throw new Error(`${p.label} died during the run:\n${await p.diagnostics()}`);
    }
    if (p.id === 'tender1' && afterTender) calibration = await measured(`${scenario} → calibration`, () => afterTender(p));
  }
  return { results, calibration };
}

async function main(): Promise<void> {
  const started = Date.now();
  const machine = await machineLine();
  say(machine);
  if (TENDER_FROM_DIST) {
    say('building dist/ (npm run build)');
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: join(dirname(fileURLToPath(import.meta.url)), '..'), stdio: 'inherit' });
  }

  const q0 = await cpuSnapshot();
  await new Promise((r) => setTimeout(r, 2_000));
  const idleLoad = foreignCores(q0, await cpuSnapshot());
  say(`other processes use ${idleLoad.toFixed(2)} cores before the start${idleLoad > 0.15 ? ' — the machine is not quiet; results will be noisy' : ''}`);
  say('starting upstream (docker-registry) and pushing content (256 MiB blob streamed, 64 KiB blob, manifest)');
  const upstream = await startUpstream(cleanup);
  const content = await fillUpstream(upstream);
  say(`upstream ${upstream.url}: big ${content.big.digest}, small ${content.small.digest}, manifest ${content.manifestDigest}`);

  say('starting proxies');
  const upstreamHost = upstream.host;
  const proxies: Proxy[] = [
    await startTenderProxy(cleanup, upstream.url, TENDER),
    await startTenderProxy(cleanup, upstream.url, TENDER1),
    await startRegistryProxy(cleanup, upstream.url),
    await startNginxProxy(cleanup, upstreamHost),
  ];
  for (const p of proxies) say(`  ${p.label}: ${p.url} pid ${p.pid}`);
  const labels = Object.fromEntries(proxies.map((p) => [p.id, p.label])) as Record<ProxyId, string>;
  const rss = new PeakRss(proxies.map((p) => ({ id: p.id, pid: p.pid, includeChildren: p.includeChildren })));
  const idle = {} as Record<ProxyId, number>;
  for (const p of proxies) idle[p.id] = await rssNow(p.pid, p.includeChildren);
  await rss.sample();
  rss.start();
  const logPeaks = async (): Promise<void> => {
    await rss.sample();
    say(`  peak RSS so far: ${proxies.map((p) => `${p.label} ${(rss.peak(p.id).bytes / MiB).toFixed(0)} MiB`).join(', ')}`);
  };

  say(`baseline: ${HERD_CLIENTS} concurrent downloads straight from upstream`);
  const direct = await measured('baseline: direct', () => coldHerd([blobUrl(upstream.url, content.big.digest)], content.big, upstream));
  say(`  direct: ${(direct.wallMs / 1000).toFixed(2)} s, ${direct.ok}/${HERD_CLIENTS} ok`);

  const { results: herd } = await forEachProxy('a. cold herd', proxies, async (p) => {
    say(`a. cold herd → ${p.label}`);
    const h = await coldHerd([blobUrl(p.url, content.big.digest)], content.big, upstream);
    say(
      `  ${(h.wallMs / 1000).toFixed(2)} s, upstream GETs ${h.upstreamGets}, slowest headers ${h.slowestHeadersMs.toFixed(0)} ms, ${h.ok}/${HERD_CLIENTS} ok`,
    );
    return h;
  });
  await logPeaks();

  // a2 runs on processes of its own (a new shared cache directory): the peers have nothing comparable to run.
  let replicas: ReplicaHerdResult | undefined;
  if (SKIP_REPLICAS) say('a2. cold herd on two replicas: skipped (BENCH_SKIP_REPLICAS=1)');
  else {
    say(`a2. cold herd split across two tender replicas (one cache dir, redis-server)`);
    replicas = await measured('a2. cold herd → two tender replicas', () => replicaColdHerd(cleanup, upstream, content.big, TENDER, say));
    const r = replicas;
    say(
      `  ${(r.herd.wallMs / 1000).toFixed(2)} s, upstream GETs ${r.herd.upstreamGets}, ${r.herd.ok}/${HERD_CLIENTS} ok; ` +
        r.replicas.map((f) => `replica ${f.replicaId}${f.holder ? ' (holder)' : ''}: slowest first byte ${f.slowestFirstByteMs.toFixed(0)} ms`).join(', '),
    );
  }

  const calibrateAt =
    (url: (base: string) => string, headers: Record<string, string>, connections: number, seconds: number) =>
    (tender: Proxy): Promise<Calibration> => {
      say(`  calibration: ${CALIBRATION_LABELS.node} and ${CALIBRATION_LABELS.hono} answering tender's response`);
      return calibrate(cleanup, url(tender.url), headers, connections, seconds, say);
    };
  const manifestHeaders = { accept: MANIFEST_ACCEPT };
  const small = await forEachProxy(
    'b. warm 64 KiB',
    proxies,
    async (p) => {
      say(`b. warm 64 KiB blob → ${p.label}`);
      const x = await warmSmallBlob(p.url, content, upstream, p.pid);
      say(`  ${x.reqPerSec.toFixed(0)} req/s, p99 ${x.p99Ms} ms, ${cpuText(x)}, non2xx ${x.non2xx}, errors ${x.errors}`);
      return x;
    },
    calibrateAt((base) => blobUrl(base, content.small.digest), {}, SMALL_CONNECTIONS, SMALL_SECONDS),
  );
  await logPeaks();
  const byDigest = await forEachProxy(
    'c. manifest by digest',
    proxies,
    async (p) => {
      say(`c. warm manifest by digest → ${p.label}`);
      const x = await warmManifest(p.url, 'digest', content, upstream, p.pid);
      say(`  ${x.reqPerSec.toFixed(0)} req/s, p99 ${x.p99Ms} ms, ${cpuText(x)}, upstream ${upstreamText(x.upstream)}`);
      return x;
    },
    calibrateAt((base) => manifestUrl(base, content.manifestDigest), manifestHeaders, MANIFEST_CONNECTIONS, MANIFEST_SECONDS),
  );
  await logPeaks();
  const byTag = await forEachProxy(
    'c. manifest by tag',
    proxies,
    async (p) => {
      say(`c. warm manifest by tag → ${p.label}`);
      const x = await warmManifest(p.url, 'tag', content, upstream, p.pid);
      say(`  ${x.reqPerSec.toFixed(0)} req/s, p99 ${x.p99Ms} ms, ${cpuText(x)}, upstream ${upstreamText(x.upstream)}`);
      return x;
    },
    calibrateAt((base) => manifestUrl(base, TAG), manifestHeaders, MANIFEST_CONNECTIONS, MANIFEST_SECONDS),
  );
  await logPeaks();
  const { results: big } = await forEachProxy('d. warm 256 MiB', proxies, async (p) => {
    say(`d. warm 256 MiB blob → ${p.label}`);
    const x = await warmBigBlob(p.url, content, upstream);
    say(`  ${x.mbPerSec.toFixed(0)} MB/s, ${x.completed} ok / ${x.failed} failed, upstream GETs ${x.upstreamGets}`);
    return x;
  });
  await logPeaks();

  await rss.sample();
  rss.stop();
  const peaks = Object.fromEntries(proxies.map((p) => [p.id, rss.peak(p.id)])) as Record<ProxyId, { bytes: number; processes: number }>;

  let memory: (MemoryResults & { tender: Proxy }) | undefined;
  if (SKIP_MEMORY) {
    say('f. memory under load: skipped (BENCH_SKIP_MEMORY=1)');
  } else {
    say('f. memory under load: pushing a 1 GiB blob to the upstream (streamed in 1 MiB chunks)');
    const huge = await pushHugeBlob(upstream);
    // A fresh process with an empty cache: its VmHWM covers start-up and this scenario only.
    const tender = await startTenderProxy(cleanup, upstream.url, TENDER1);
    const idleBytes = await rssNow(tender.pid, false);
    say(`  huge ${huge.digest}; fresh tender ${tender.url} pid ${tender.pid}, idle RSS ${(idleBytes / MiB).toFixed(0)} MiB`);
    const alive = async (): Promise<void> => {
      if (tender.spawned.child.exitCode !== null || tender.spawned.child.signalCode !== null) {
        throw new Error(`tender (scenario f) died during the run:\n${await tender.diagnostics()}`);
      }
    };
    say(`f1. ${F1_CLIENTS} clients on the uncached 1 GiB blob → tender`);
    const f1 = await measured('f1. 20 clients, uncached 1 GiB → tender', () => memoryColdHerd(tender, huge, upstream));
    await alive();
    say(
      `  VmHWM ${((f1.hwmBytes ?? Number.NaN) / MiB).toFixed(0)} MiB, ${(f1.wallMs / 1000).toFixed(2)} s, slowest first byte ` +
        `${f1.slowestTtfbMs.toFixed(0)} ms, upstream GETs ${f1.upstreamGets}, ${f1.sizeOk}/${F1_CLIENTS} full size, sha256 ` +
        `${f1.hashOk ? 'ok' : 'MISMATCH'}, most connections ${f1.peakConnections}`,
    );
    say(`f2. ${F2_CONNECTIONS} connections, 50 MiB ranges of the cached blob → tender`);
    const f2 = await measured('f2. 200 connections, cached → tender', () => memoryCachedConnections(tender, huge, upstream));
    await alive();
    say(
      `  VmHWM ${((f2.hwmBytes ?? Number.NaN) / MiB).toFixed(0)} MiB (${f2.hwmReset ? 'reset before f2' : 'not reset: since start'}), ` +
        `${(f2.wallMs / 1000).toFixed(2)} s, ${f2.ok} ok / ${f2.failed} failed, RSS before ${(f2.rssBeforeBytes / MiB).toFixed(0)} MiB, ` +
        `connects ${f2.connects}, most connections ${f2.peakConnections}, ` +
        `slowest first byte ${f2.slowestTtfbMs.toFixed(0)} ms, first completion ${f2.firstDoneMs.toFixed(0)} ms, upstream GETs ${f2.upstreamGets}`,
    );
    memory = { idleBytes, f1, f2, tender };
  }

  const table = renderTable(
    labels,
    rowsFrom({
      direct,
      herd,
      replicas,
      small: small.results,
      byDigest: byDigest.results,
      byTag: byTag.results,
      big,
      rss: peaks,
      idle,
      memory,
    }),
  );
  const calibrationTable = renderCalibrationTable(
    [
      { scenario: 'b. warm 64 KiB blob', tender: small.results.tender1, calibration: small.calibration },
      { scenario: 'c. warm manifest by digest', tender: byDigest.results.tender1, calibration: byDigest.calibration },
      { scenario: 'c. warm manifest by tag', tender: byTag.results.tender1, calibration: byTag.calibration },
    ].flatMap((row) => (row.calibration ? [{ ...row, calibration: row.calibration }] : [])),
  );
  const problems: string[] = [];
  if (direct.failures.length) problems.push(`direct baseline: ${direct.failures.join('; ')}`);
  for (const p of proxies) {
    const label = p.label;
    if (herd[p.id].failures.length) problems.push(`${label}, cold herd: ${herd[p.id].failures.join('; ')}`);
    for (const [name, x] of [
      ['warm 64 KiB', small.results[p.id]],
      ['manifest by digest', byDigest.results[p.id]],
      ['manifest by tag', byTag.results[p.id]],
    ] as const) {
      if (x.warmupProblem) problems.push(`${label}, ${name}: ${x.warmupProblem}`);
      if (x.non2xx || x.errors || x.timeouts) problems.push(`${label}, ${name}: ${x.non2xx} non-2xx, ${x.errors} errors, ${x.timeouts} timeouts`);
    }
    if (big[p.id].warmupProblem) problems.push(`${label}, warm 256 MiB: ${big[p.id].warmupProblem}`);
    if (big[p.id].failed) problems.push(`${label}, warm 256 MiB: ${big[p.id].failed} failed downloads`);
    const diag = (await p.diagnostics()).trim();
    if (diag) problems.push(`${label} log tail:\n\n\`\`\`\n${diag}\n\`\`\``);
  }
  if (replicas) {
    for (const f of replicas.herd.failures) problems.push(`two replicas, cold herd: ${f}`);
    problems.push(...replicas.diagnostics);
  }
  for (const [scenario, x] of [
    ['warm 64 KiB', small.calibration],
    ['manifest by digest', byDigest.calibration],
    ['manifest by tag', byTag.calibration],
  ] as const)
    if (x) problems.push(...calibrationProblems(scenario, x));
  if (memory) {
    for (const f of memory.f1.failures) problems.push(`tender, f1: ${f}`);
    for (const f of memory.f2.failures) problems.push(`tender, f2: ${f}`);
    const diag = (await memory.tender.diagnostics()).trim();
    if (diag) problems.push(`tender (scenario f) log tail:\n\n\`\`\`\n${diag}\n\`\`\``);
  }

  const report = [
    `### tender vs. the reference registry proxy vs. nginx proxy_cache`,
    '',
    `Machine: ${machine}. Run: ${new Date().toISOString()}, ${((Date.now() - started) / 1000).toFixed(0)} s.`,
    '',
    table,
    '',
    `Calibration (issue 17): right after the run of b and c on tender with \`workers: 1\` (one process), the response it gave (status, headers, body) is ` +
      `answered by a bare \`node:http\` server (\`writeHead\` + \`end\`) and by hono on @hono/node-server with one empty ` +
      `handler (\`c.body\`), each its own node process, with the same load generator, connections and duration.`,
    '',
    calibrationTable,
    '',
    `Baseline: ${HERD_CLIENTS} concurrent downloads of the 256 MiB blob straight from the upstream: ` +
      `${(direct.wallMs / 1000).toFixed(2)} s wall, slowest first body byte ${direct.slowestFirstByteMs.toFixed(0)} ms, ` +
      `${direct.ok}/${HERD_CLIENTS} correct, ${direct.upstreamGets} upstream GETs.`,
    '',
    `Peers: ${proxies.map((p) => `**${p.label}**: ${p.describe}`).join('; ')}. ` +
      `Load generators: ${LOAD_CLIENT === 'ab' ? 'ApacheBench (`ab -k`)' : 'autocannon'} for b and c, curl loops for d, undici in the driver for a, curl for f. ` +
      `nginx has ${NGINX_WORKERS} worker processes; ${labels.tender} has a primary and one worker per core (the primary accepts ` +
      `connections and hands them to the workers in turn, node:cluster's round-robin), ${labels.tender1} and the registry are one process each; ` +
      `all share the same 2 cores with the upstream and the load generator. Ratios are ${labels.tender} ÷ peer (for latency and RSS lower is better). MB = 10⁶ bytes. ` +
      `nginx RSS sums master, workers and cache manager/loader (shared pages counted once per process). ` +
      `nginx proxy_cache_lock_timeout is ${NGINX_LOCK_TIMEOUT}.`,
    '',
    replicas
      ? `Scenario a2 ran after a, on processes of its own: a real \`redis-server\` and two tender replicas ` +
        `(\`metadata.redis.url\`, \`replicaId\` a and b, logLevel info) on one new, empty cache directory, the 256 MiB blob uncached; ` +
        `the ${HERD_CLIENTS} clients start in the same tick, client i on replica i mod 2. The holder is the replica that counted ` +
        `the blob's miss (\`tender_cache_results_total\`): it downloads under the Redis lease; the other replica's clients follow ` +
        `its temp file on the shared volume as it grows (issue 17, item 2). Each replica runs as ${labels.tender} does ` +
        `(workers: ${String(TENDER.workers)}), so the leases are the host's and then Redis's. The replicas and Redis are stopped before b.`
      : 'Scenario a2 (two replicas with Redis) skipped: BENCH_SKIP_REPLICAS=1.',
    '',
    memory
      ? `Scenario f ran on a fresh tender with \`workers: 1\` (one process) (its own empty cache) after a–e, tender only. f1: ${F1_CLIENTS} curl ` +
        `processes started together on a 1 GiB blob not yet cached (one pipes the body into \`openssl dgst -sha256\`); ` +
        `most connections open to tender at once ${memory.f1.peakConnections}. f2: ${F2_CONNECTIONS} transfers of ` +
        `\`Range: bytes=0-52428799\` of that blob, now cached, as ${F2_PROCESSES} \`curl -Z --parallel-immediate\` processes; ` +
        `slowest first byte ${memory.f2.slowestTtfbMs.toFixed(0)} ms, first completion ` +
        `${memory.f2.firstDoneMs.toFixed(0)} ms${memory.f2.firstDoneMs > memory.f2.slowestTtfbMs ? ' (every transfer had started before any finished)' : ''}. ` +
        `Clients opened ${memory.f2.connects} connections; most open to tender at once ${memory.f2.peakConnections} (/proc/net/tcp every 50 ms). ` +
        `f2's VmHWM was ${memory.f2.hwmReset ? `reset (clear_refs 5) before f2, so it covers f2 alone, starting from the ${(memory.f2.rssBeforeBytes / MiB).toFixed(0)} MiB RSS that f1 left` : 'not resettable here, so it is the peak since start'}.`
      : 'Scenario f (memory under load) skipped: BENCH_SKIP_MEMORY=1.',
    '',
    foreignSummary(),
    '',
    problems.length ? `Problems seen:\n\n${problems.map((p) => `- ${p}`).join('\n')}` : 'Problems seen: none.',
    '',
  ].join('\n');

  const out = join(benchDir, 'results', 'latest.md');
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, report);
  process.stdout.write(`\n${report}\nwritten to ${out}\n`);
}

const watchdog = setTimeout(() => {
  process.stderr.write(`bench: watchdog fired after ${WATCHDOG_MS / 60_000} min, giving up\n`);
  exiting = true;
  void cleanup.run().finally(() => process.exit(1));
}, WATCHDOG_MS);
watchdog.unref();

main().then(
  async () => {
    clearTimeout(watchdog);
    await cleanup.run();
    process.exit(0);
  },
  async (err: unknown) => {
    clearTimeout(watchdog);
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await cleanup.run();
    process.exit(1);
  },
);
