// `npm run bench`: one upstream, three pull-through caches (tender, distribution proxy, nginx), one results table.
import { execFileSync } from 'node:child_process';
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSnapshot, foreignCores } from './cpu.js';
import { Cleanup } from './procs.js';
import {
  startNginxProxy,
  startRegistryProxy,
  startTenderProxy,
  NGINX_LOCK_TIMEOUT,
  NGINX_WORKERS,
  TENDER_FROM_DIST,
  type Proxy,
  type ProxyId,
} from './proxies.js';
import {
  F1_CLIENTS,
  F2_CONNECTIONS,
  F2_PROCESSES,
  SKIP_MEMORY,
  memoryCachedConnections,
  memoryColdHerd,
  type CachedMemoryResult,
  type ColdMemoryResult,
} from './memory.js';
import { PeakRss, rssNow } from './rss.js';
import {
  BIG_CONNECTIONS,
  BIG_SECONDS,
  HERD_CLIENTS,
  LOAD_CLIENT,
  MANIFEST_CONNECTIONS,
  MANIFEST_SECONDS,
  SMALL_CONNECTIONS,
  SMALL_SECONDS,
  blobUrl,
  coldHerd,
  warmBigBlob,
  warmManifest,
  warmSmallBlob,
  type HerdResult,
  type LoadResult,
  type ThroughputResult,
} from './scenarios.js';
import { PROXY_ORDER, fixed, renderTable, type Cell, type Row, type Target } from './table.js';
import { fillUpstream, pushHugeBlob, startUpstream } from './upstream.js';

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

function forEachProxy<T>(scenario: string, proxies: Proxy[], fn: (p: Proxy) => Promise<T>): Promise<Record<ProxyId, T>> {
  // Strictly sequential: never two loads at once.
  return (async () => {
    const out = {} as Record<ProxyId, T>;
    for (const p of proxies) {
      out[p.id] = await measured(`${scenario} → ${p.label}`, () => fn(p));
      if (p.spawned.child.exitCode !== null || p.spawned.child.signalCode !== null) {
        throw new Error(`${p.label} died during the run:\n${await p.diagnostics()}`);
      }
    }
    return out;
  })();
}

const cells = <T>(results: Record<ProxyId, T>, value: (r: T) => number | undefined, text?: (r: T) => string): Record<ProxyId, Cell> =>
  Object.fromEntries(
    PROXY_ORDER.map((id) => {
      const r = results[id];
      return [id, text ? { value: value(r), text: text(r) } : { value: value(r) }];
    }),
  ) as Record<ProxyId, Cell>;

const upstreamText = (u: Record<string, number>): string => {
  const total = Object.values(u).reduce((a, b) => a + b, 0);
  const parts = Object.entries(u).map(([m, n]) => `${m} ${n}`);
  return parts.length ? `${total} (${parts.join(', ')})` : '0';
};
const upstreamTotal = (u: Record<string, number>): number => Object.values(u).reduce((a, b) => a + b, 0);

function rowsFrom(r: {
  direct: HerdResult;
  herd: Record<ProxyId, HerdResult>;
  small: Record<ProxyId, LoadResult>;
  byDigest: Record<ProxyId, LoadResult>;
  byTag: Record<ProxyId, LoadResult>;
  big: Record<ProxyId, ThroughputResult>;
  rss: Record<ProxyId, { bytes: number; processes: number }>;
  idle: Record<ProxyId, number>;
  memory: MemoryResults | undefined;
}): Row[] {
  const s = (ms: number): number => ms / 1000;
  const speedTarget = (x: Record<ProxyId, LoadResult>): Target => ({
    text: '≥ 20× registry and ≥ 0.8× nginx',
    met: x.tender.reqPerSec >= 20 * x.registry.reqPerSec && x.tender.reqPerSec >= 0.8 * x.nginx.reqPerSec,
  });
  const errText = (x: LoadResult): string => `${x.non2xx} / ${x.errors + x.timeouts}`;
  return [
    {
      metric: `a. cold herd (${HERD_CLIENTS} clients, 256 MiB): wall time, s`,
      cells: cells(r.herd, (h) => s(h.wallMs)),
      format: fixed(2),
      ratios: true,
      target: { text: `≤ direct (${s(r.direct.wallMs).toFixed(2)} s)`, met: r.herd.tender.wallMs <= r.direct.wallMs },
    },
    {
      metric: 'a. cold herd: upstream GETs of the blob',
      cells: cells(r.herd, (h) => h.upstreamGets),
      format: fixed(0),
      ratios: false,
      target: { text: '1', met: r.herd.tender.upstreamGets === 1 },
    },
    {
      metric: 'a. cold herd: slowest client, response headers, ms',
      cells: cells(r.herd, (h) => h.slowestHeadersMs),
      format: fixed(0),
      ratios: true,
      target: { text: '< 100 ms', met: r.herd.tender.slowestHeadersMs < 100 },
    },
    {
      metric: 'a. cold herd: slowest client, first body byte, ms',
      cells: cells(r.herd, (h) => h.slowestFirstByteMs),
      format: fixed(0),
      ratios: true,
      target: { text: '< 100 ms', met: r.herd.tender.slowestFirstByteMs < 100 },
    },
    {
      metric: 'a. cold herd: clients with correct sha256',
      cells: cells(
        r.herd,
        (h) => h.ok,
        (h) => `${h.ok}/${HERD_CLIENTS}`,
      ),
      format: fixed(0),
      ratios: false,
      target: { text: `${HERD_CLIENTS}/${HERD_CLIENTS}`, met: r.herd.tender.ok === HERD_CLIENTS },
    },
    {
      metric: `b. warm 64 KiB blob (${LOAD_CLIENT}, ${SMALL_CONNECTIONS} conns, ${SMALL_SECONDS} s): req/s`,
      cells: cells(r.small, (x) => x.reqPerSec),
      format: fixed(0),
      ratios: true,
      target: speedTarget(r.small),
    },
    {
      metric: 'b. warm 64 KiB blob: p99 latency, ms',
      cells: cells(r.small, (x) => x.p99Ms),
      format: fixed(0),
      ratios: true,
    },
    {
      metric: 'b. warm 64 KiB blob: non-2xx / errors',
      cells: cells(r.small, (x) => x.non2xx + x.errors + x.timeouts, errText),
      format: fixed(0),
      ratios: false,
      target: { text: '0 / 0', met: r.small.tender.non2xx + r.small.tender.errors + r.small.tender.timeouts === 0 },
    },
    {
      metric: 'b. warm 64 KiB blob: requests reaching upstream (warm-up + run)',
      cells: cells(
        r.small,
        (x) => upstreamTotal(x.upstream),
        (x) => upstreamText(x.upstream),
      ),
      format: fixed(0),
      ratios: false,
      target: { text: '1', met: upstreamTotal(r.small.tender.upstream) === 1 },
    },
    {
      metric: `c. warm manifest by digest (${LOAD_CLIENT}, ${MANIFEST_CONNECTIONS} conns, ${MANIFEST_SECONDS} s): req/s`,
      cells: cells(r.byDigest, (x) => x.reqPerSec),
      format: fixed(0),
      ratios: true,
      target: speedTarget(r.byDigest),
    },
    {
      metric: 'c. manifest by digest: p99 latency, ms',
      cells: cells(r.byDigest, (x) => x.p99Ms),
      format: fixed(0),
      ratios: true,
    },
    {
      metric: 'c. manifest by digest: non-2xx / errors',
      cells: cells(r.byDigest, (x) => x.non2xx + x.errors + x.timeouts, errText),
      format: fixed(0),
      ratios: false,
      target: { text: '0 / 0', met: r.byDigest.tender.non2xx + r.byDigest.tender.errors + r.byDigest.tender.timeouts === 0 },
    },
    {
      metric: 'c. manifest by digest: requests reaching upstream (warm-up + run)',
      cells: cells(
        r.byDigest,
        (x) => upstreamTotal(x.upstream),
        (x) => upstreamText(x.upstream),
      ),
      format: fixed(0),
      ratios: false,
      target: { text: '≤ 1', met: upstreamTotal(r.byDigest.tender.upstream) <= 1 },
    },
    {
      metric: `c. warm manifest by tag (${LOAD_CLIENT}, ${MANIFEST_CONNECTIONS} conns, ${MANIFEST_SECONDS} s): req/s`,
      cells: cells(r.byTag, (x) => x.reqPerSec),
      format: fixed(0),
      ratios: true,
      target: speedTarget(r.byTag),
    },
    {
      metric: 'c. manifest by tag: p99 latency, ms',
      cells: cells(r.byTag, (x) => x.p99Ms),
      format: fixed(0),
      ratios: true,
    },
    {
      metric: 'c. manifest by tag: non-2xx / errors',
      cells: cells(r.byTag, (x) => x.non2xx + x.errors + x.timeouts, errText),
      format: fixed(0),
      ratios: false,
      target: { text: '0 / 0', met: r.byTag.tender.non2xx + r.byTag.tender.errors + r.byTag.tender.timeouts === 0 },
    },
    {
      metric: 'c. manifest by tag: requests reaching upstream (warm-up + run)',
      cells: cells(
        r.byTag,
        (x) => upstreamTotal(x.upstream),
        (x) => upstreamText(x.upstream),
      ),
      format: fixed(0),
      ratios: false,
      target: { text: '≤ 1 per tag per 5 min', met: upstreamTotal(r.byTag.tender.upstream) <= 1 },
    },
    {
      metric: `d. warm 256 MiB blob (curl, ${BIG_CONNECTIONS} conns, ~${BIG_SECONDS} s): MB/s`,
      cells: cells(r.big, (x) => x.mbPerSec),
      format: fixed(0),
      ratios: true,
      target: { text: '≥ registry', met: r.big.tender.mbPerSec >= r.big.registry.mbPerSec },
    },
    {
      metric: 'd. warm 256 MiB blob: downloads ok / failed',
      cells: cells(
        r.big,
        (x) => x.failed,
        (x) => `${x.completed} / ${x.failed}`,
      ),
      format: fixed(0),
      ratios: false,
      target: { text: '0 failed', met: r.big.tender.failed === 0 },
    },
    {
      metric: 'd. warm 256 MiB blob: upstream GETs during the run',
      cells: cells(r.big, (x) => x.upstreamGets),
      format: fixed(0),
      ratios: false,
      target: { text: '0', met: r.big.tender.upstreamGets === 0 },
    },
    {
      metric: 'e. peak RSS over a–d (VmHWM), MiB',
      cells: cells(
        r.rss,
        (x) => x.bytes / MiB,
        (x) => `${(x.bytes / MiB).toFixed(0)}${x.processes > 1 ? ` (sum of ${x.processes} procs)` : ''}`,
      ),
      format: fixed(0),
      ratios: true,
      target: { text: '< 200 MiB', met: r.rss.tender.bytes < 200 * MiB },
    },
    {
      metric: 'e. RSS right after start, idle (VmRSS), MiB',
      cells: cells(r.idle, (x) => x / MiB),
      format: fixed(0),
      ratios: true,
    },
    ...(r.memory ? memoryRows(r.memory) : []),
  ];
}

interface MemoryResults {
  idleBytes: number;
  f1: ColdMemoryResult;
  f2: CachedMemoryResult;
}

/** Scenario f measures tender alone: the peers' cells are "—". */
function memoryRows(m: MemoryResults): Row[] {
  const only = (value: number | undefined, text?: string): Record<ProxyId, Cell> => ({
    tender: text === undefined ? { value } : { value, text },
    registry: { value: undefined, text: '—' },
    nginx: { value: undefined, text: '—' },
  });
  const mib = (b: number | undefined): number | undefined => (b === undefined ? undefined : b / MiB);
  const under200 = (b: number | undefined): boolean | undefined => (b === undefined ? undefined : b < 200 * MiB);
  return [
    {
      metric: 'f. memory under load, fresh tender: RSS right after start, idle (VmRSS), MiB',
      cells: only(mib(m.idleBytes)),
      format: fixed(0),
      ratios: false,
    },
    {
      metric: `f1. ${F1_CLIENTS} clients (curl) on one uncached 1 GiB blob: peak RSS (VmHWM), MiB`,
      cells: only(mib(m.f1.hwmBytes)),
      format: fixed(0),
      ratios: false,
      target: { text: '< 200 MiB', met: under200(m.f1.hwmBytes) },
    },
    { metric: 'f1: wall time, s', cells: only(m.f1.wallMs / 1000), format: fixed(2), ratios: false },
    { metric: 'f1: slowest client, first body byte, ms', cells: only(m.f1.slowestTtfbMs), format: fixed(0), ratios: false },
    {
      metric: 'f1: upstream GETs of the blob',
      cells: only(m.f1.upstreamGets),
      format: fixed(0),
      ratios: false,
      target: { text: '1', met: m.f1.upstreamGets === 1 },
    },
    {
      metric: 'f1: clients with the full size / the sha256-checking client',
      cells: only(m.f1.sizeOk, `${m.f1.sizeOk}/${F1_CLIENTS} / ${m.f1.hashOk ? 'match' : 'MISMATCH'}`),
      format: fixed(0),
      ratios: false,
      target: { text: `${F1_CLIENTS}/${F1_CLIENTS} / match`, met: m.f1.sizeOk === F1_CLIENTS && m.f1.hashOk },
    },
    {
      metric:
        `f2. ${F2_CONNECTIONS} connections (${F2_PROCESSES} × curl -Z), 50 MiB ranges of the cached blob: ` +
        `peak RSS (VmHWM${m.f2.hwmReset ? ', reset before f2' : ', since start'}), MiB`,
      cells: only(mib(m.f2.hwmBytes)),
      format: fixed(0),
      ratios: false,
      target: { text: '< 200 MiB', met: under200(m.f2.hwmBytes) },
    },
    { metric: 'f2: wall time, s', cells: only(m.f2.wallMs / 1000), format: fixed(2), ratios: false },
    {
      metric: 'f2: downloads ok / failed',
      cells: only(m.f2.failed, `${m.f2.ok} / ${m.f2.failed}`),
      format: fixed(0),
      ratios: false,
      target: { text: '0 failed', met: m.f2.failed === 0 },
    },
    { metric: 'f2: most connections open to tender at once', cells: only(m.f2.peakConnections), format: fixed(0), ratios: false },
    {
      metric: 'f2: upstream GETs of the blob',
      cells: only(m.f2.upstreamGets),
      format: fixed(0),
      ratios: false,
      target: { text: '0', met: m.f2.upstreamGets === 0 },
    },
  ];
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
    await startTenderProxy(cleanup, upstream.url),
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
  const direct = await measured('baseline: direct', () => coldHerd(blobUrl(upstream.url, content.big.digest), content.big, upstream));
  say(`  direct: ${(direct.wallMs / 1000).toFixed(2)} s, ${direct.ok}/${HERD_CLIENTS} ok`);

  const herd = await forEachProxy('a. cold herd', proxies, async (p) => {
    say(`a. cold herd → ${p.label}`);
    const h = await coldHerd(blobUrl(p.url, content.big.digest), content.big, upstream);
    say(
      `  ${(h.wallMs / 1000).toFixed(2)} s, upstream GETs ${h.upstreamGets}, slowest headers ${h.slowestHeadersMs.toFixed(0)} ms, ${h.ok}/${HERD_CLIENTS} ok`,
    );
    return h;
  });
  await logPeaks();
  const small = await forEachProxy('b. warm 64 KiB', proxies, async (p) => {
    say(`b. warm 64 KiB blob → ${p.label}`);
    const x = await warmSmallBlob(p.url, content, upstream);
    say(`  ${x.reqPerSec.toFixed(0)} req/s, p99 ${x.p99Ms} ms, non2xx ${x.non2xx}, errors ${x.errors}`);
    return x;
  });
  await logPeaks();
  const byDigest = await forEachProxy('c. manifest by digest', proxies, async (p) => {
    say(`c. warm manifest by digest → ${p.label}`);
    const x = await warmManifest(p.url, 'digest', content, upstream);
    say(`  ${x.reqPerSec.toFixed(0)} req/s, p99 ${x.p99Ms} ms, upstream ${upstreamText(x.upstream)}`);
    return x;
  });
  await logPeaks();
  const byTag = await forEachProxy('c. manifest by tag', proxies, async (p) => {
    say(`c. warm manifest by tag → ${p.label}`);
    const x = await warmManifest(p.url, 'tag', content, upstream);
    say(`  ${x.reqPerSec.toFixed(0)} req/s, p99 ${x.p99Ms} ms, upstream ${upstreamText(x.upstream)}`);
    return x;
  });
  await logPeaks();
  const big = await forEachProxy('d. warm 256 MiB', proxies, async (p) => {
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
    const tender = await startTenderProxy(cleanup, upstream.url);
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

  const table = renderTable(labels, rowsFrom({ direct, herd, small, byDigest, byTag, big, rss: peaks, idle, memory }));
  const problems: string[] = [];
  if (direct.failures.length) problems.push(`direct baseline: ${direct.failures.join('; ')}`);
  for (const p of proxies) {
    const label = p.label;
    if (herd[p.id].failures.length) problems.push(`${label}, cold herd: ${herd[p.id].failures.join('; ')}`);
    for (const [name, x] of [
      ['warm 64 KiB', small[p.id]],
      ['manifest by digest', byDigest[p.id]],
      ['manifest by tag', byTag[p.id]],
    ] as const) {
      if (x.warmupProblem) problems.push(`${label}, ${name}: ${x.warmupProblem}`);
      if (x.non2xx || x.errors || x.timeouts) problems.push(`${label}, ${name}: ${x.non2xx} non-2xx, ${x.errors} errors, ${x.timeouts} timeouts`);
    }
    if (big[p.id].warmupProblem) problems.push(`${label}, warm 256 MiB: ${big[p.id].warmupProblem}`);
    if (big[p.id].failed) problems.push(`${label}, warm 256 MiB: ${big[p.id].failed} failed downloads`);
    const diag = (await p.diagnostics()).trim();
    if (diag) problems.push(`${label} log tail:\n\n\`\`\`\n${diag}\n\`\`\``);
  }
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
    `Baseline: ${HERD_CLIENTS} concurrent downloads of the 256 MiB blob straight from the upstream: ` +
      `${(direct.wallMs / 1000).toFixed(2)} s wall, slowest first body byte ${direct.slowestFirstByteMs.toFixed(0)} ms, ` +
      `${direct.ok}/${HERD_CLIENTS} correct, ${direct.upstreamGets} upstream GETs.`,
    '',
    `Peers: ${proxies.map((p) => `**${p.label}**: ${p.describe}`).join('; ')}. ` +
      `Load generators: ${LOAD_CLIENT === 'ab' ? 'ApacheBench (`ab -k`)' : 'autocannon'} for b and c, curl loops for d, undici in the driver for a, curl for f. ` +
      `nginx has ${NGINX_WORKERS} worker processes, tender and the registry one process each; all share the same 2 cores with the ` +
      `upstream and the load generator. Ratios are tender ÷ peer (for latency and RSS lower is better). MB = 10⁶ bytes. ` +
      `nginx RSS sums master, workers and cache manager/loader (shared pages counted once per process). ` +
      `nginx proxy_cache_lock_timeout is ${NGINX_LOCK_TIMEOUT}.`,
    '',
    memory
      ? `Scenario f ran on a fresh tender process (its own empty cache) after a–e, tender only. f1: ${F1_CLIENTS} curl ` +
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
