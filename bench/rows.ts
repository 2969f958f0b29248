// The rows of the results table, built from every scenario's results (run.ts measures, table.ts renders).
import type { CachedMemoryResult, ColdMemoryResult } from './memory.js';
import { F1_CLIENTS, F2_CONNECTIONS, F2_PROCESSES } from './memory.js';
import type { ProxyId } from './proxies.js';
import type { ReplicaHerdResult } from './replicas.js';
import {
  BIG_CONNECTIONS,
  BIG_SECONDS,
  HERD_CLIENTS,
  LOAD_CLIENT,
  MANIFEST_CONNECTIONS,
  MANIFEST_SECONDS,
  SMALL_CONNECTIONS,
  SMALL_SECONDS,
  type HerdResult,
  type LoadResult,
  type ThroughputResult,
} from './scenarios.js';
import { PROXY_ORDER, fixed, type Cell, type Row, type Target } from './table.js';

const MiB = 1024 * 1024;

const cells = <T>(results: Record<ProxyId, T>, value: (r: T) => number | undefined, text?: (r: T) => string): Record<ProxyId, Cell> =>
  Object.fromEntries(
    PROXY_ORDER.map((id) => {
      const r = results[id];
      return [id, text ? { value: value(r), text: text(r) } : { value: value(r) }];
    }),
  ) as Record<ProxyId, Cell>;

export const upstreamText = (u: Record<string, number>): string => {
  const total = Object.values(u).reduce((a, b) => a + b, 0);
  const parts = Object.entries(u).map(([m, n]) => `${m} ${n}`);
  return parts.length ? `${total} (${parts.join(', ')})` : '0';
};
const upstreamTotal = (u: Record<string, number>): number => Object.values(u).reduce((a, b) => a + b, 0);

export function rowsFrom(r: {
  direct: HerdResult;
  herd: Record<ProxyId, HerdResult>;
  replicas: ReplicaHerdResult | undefined;
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
    ...(r.replicas ? replicaRows(r.replicas, r.direct) : []),
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
      metric: 'b. warm 64 KiB blob: server CPU per request (user + system, all its processes), µs',
      cells: cells(r.small, (x) => x.cpuUsPerRequest),
      format: fixed(1),
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
      metric: 'c. manifest by digest: server CPU per request (user + system, all its processes), µs',
      cells: cells(r.byDigest, (x) => x.cpuUsPerRequest),
      format: fixed(1),
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
      metric: 'c. manifest by tag: server CPU per request (user + system, all its processes), µs',
      cells: cells(r.byTag, (x) => x.cpuUsPerRequest),
      format: fixed(1),
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
      target: {
        text: '≥ registry and ≥ 0.9× nginx',
        met: r.big.tender.mbPerSec >= r.big.registry.mbPerSec && r.big.tender.mbPerSec >= 0.9 * r.big.nginx.mbPerSec,
      },
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
      target: { text: '< 300 MiB (all workers); workers: 1 < 200 MiB', met: r.rss.tender.bytes < 300 * MiB && r.rss.tender1.bytes < 200 * MiB },
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

export interface MemoryResults {
  idleBytes: number;
  f1: ColdMemoryResult;
  f2: CachedMemoryResult;
}

/** A row measured on one tender alone (`workers: auto`, or `tender1` for workers: 1): the other cells are "—". */
const only = (value: number | undefined, text?: string, id: 'tender' | 'tender1' = 'tender'): Record<ProxyId, Cell> => ({
  tender: { value: undefined, text: '—' },
  tender1: { value: undefined, text: '—' },
  registry: { value: undefined, text: '—' },
  nginx: { value: undefined, text: '—' },
  [id]: text === undefined ? { value } : { value, text },
});

/**
 * Scenario a2 (tender only): two replicas, one cache directory, Redis. Per-replica figures are printed holder
 * first ("holder / waiting"), so the cost of waiting for another replica's commit is in plain sight.
 */
function replicaRows(x: ReplicaHerdResult, direct: HerdResult): Row[] {
  const { herd } = x;
  const holders = x.replicas.filter((f) => f.holder).length;
  // With exactly one holder the other replica waited for its commit; otherwise (no Redis lease held) just names.
  const name = (f: ReplicaHerdResult['replicas'][number]): string =>
    holders === 1 ? `${f.replicaId} (${f.holder ? 'holder' : 'waiting'})` : `${f.replicaId}${f.holder ? ' (downloaded)' : ''}`;
  const order = [...x.replicas].sort((a, b) => Number(b.holder) - Number(a.holder));
  const per = (pick: (f: ReplicaHerdResult['replicas'][number]) => string): string => order.map((f) => `${name(f)}: ${pick(f)}`).join(' / ');
  const n = x.replicas.length;
  const clients = `${order.map((f) => f.clients).join(' + ')}`;
  return [
    {
      metric: `a2. cold herd on ${n} tender replicas + Redis, one cache dir (${clients} clients, 256 MiB): wall time, s`,
      cells: only(herd.wallMs / 1000),
      format: fixed(2),
      ratios: false,
      target: { text: `≤ direct (${(direct.wallMs / 1000).toFixed(2)} s)`, met: herd.wallMs <= direct.wallMs },
    },
    {
      metric: `a2: upstream GETs of the blob (replicas that held a download: ${holders})`,
      cells: only(herd.upstreamGets),
      format: fixed(0),
      ratios: false,
      target: { text: '1', met: herd.upstreamGets === 1 },
    },
    {
      metric: 'a2: slowest client per replica, response headers, ms',
      cells: only(
        herd.slowestHeadersMs,
        per((f) => fixed(0)(f.slowestHeadersMs)),
      ),
      format: fixed(0),
      ratios: false,
    },
    {
      metric: 'a2: slowest client per replica, first body byte, ms',
      cells: only(
        herd.slowestFirstByteMs,
        per((f) => fixed(0)(f.slowestFirstByteMs)),
      ),
      format: fixed(0),
      ratios: false,
      target: { text: '< 100 ms (issue 17)', met: herd.slowestFirstByteMs < 100 },
    },
    {
      metric: 'a2: clients with correct sha256, per replica',
      cells: only(
        herd.ok,
        per((f) => `${f.ok}/${f.clients}`),
      ),
      format: fixed(0),
      ratios: false,
      target: { text: `${HERD_CLIENTS}/${HERD_CLIENTS}`, met: herd.ok === HERD_CLIENTS },
    },
    {
      metric: 'a2: peak RSS per replica (VmHWM since its start), MiB',
      cells: only(
        Math.max(...x.replicas.map((f) => (f.hwmBytes ?? 0) / MiB)),
        per((f) => (f.hwmBytes === undefined ? 'n/a' : fixed(0)(f.hwmBytes / MiB))),
      ),
      format: fixed(0),
      ratios: false,
    },
  ];
}

/** Scenario f measures tender alone: the peers' cells are "—". */
/** Scenario f runs on a tender with workers: 1. */
const one = (value: number | undefined, text?: string): Record<ProxyId, Cell> => only(value, text, 'tender1');

function memoryRows(m: MemoryResults): Row[] {
  const mib = (b: number | undefined): number | undefined => (b === undefined ? undefined : b / MiB);
  const under200 = (b: number | undefined): boolean | undefined => (b === undefined ? undefined : b < 200 * MiB);
  return [
    {
      metric: 'f. memory under load, fresh tender: RSS right after start, idle (VmRSS), MiB',
      cells: one(mib(m.idleBytes)),
      format: fixed(0),
      ratios: false,
    },
    {
      metric: `f1. ${F1_CLIENTS} clients (curl) on one uncached 1 GiB blob: peak RSS (VmHWM), MiB`,
      cells: one(mib(m.f1.hwmBytes)),
      format: fixed(0),
      ratios: false,
      target: { text: '< 200 MiB', met: under200(m.f1.hwmBytes) },
    },
    { metric: 'f1: wall time, s', cells: one(m.f1.wallMs / 1000), format: fixed(2), ratios: false },
    { metric: 'f1: slowest client, first body byte, ms', cells: one(m.f1.slowestTtfbMs), format: fixed(0), ratios: false },
    {
      metric: 'f1: upstream GETs of the blob',
      cells: one(m.f1.upstreamGets),
      format: fixed(0),
      ratios: false,
      target: { text: '1', met: m.f1.upstreamGets === 1 },
    },
    {
      metric: 'f1: clients with the full size / the sha256-checking client',
      cells: one(m.f1.sizeOk, `${m.f1.sizeOk}/${F1_CLIENTS} / ${m.f1.hashOk ? 'match' : 'MISMATCH'}`),
      format: fixed(0),
      ratios: false,
      target: { text: `${F1_CLIENTS}/${F1_CLIENTS} / match`, met: m.f1.sizeOk === F1_CLIENTS && m.f1.hashOk },
    },
    {
      metric:
        `f2. ${F2_CONNECTIONS} connections (${F2_PROCESSES} × curl -Z), 50 MiB ranges of the cached blob: ` +
        `peak RSS (VmHWM${m.f2.hwmReset ? ', reset before f2' : ', since start'}), MiB`,
      cells: one(mib(m.f2.hwmBytes)),
      format: fixed(0),
      ratios: false,
      target: { text: '< 200 MiB', met: under200(m.f2.hwmBytes) },
    },
    { metric: 'f2: wall time, s', cells: one(m.f2.wallMs / 1000), format: fixed(2), ratios: false },
    {
      metric: 'f2: downloads ok / failed',
      cells: one(m.f2.failed, `${m.f2.ok} / ${m.f2.failed}`),
      format: fixed(0),
      ratios: false,
      target: { text: '0 failed', met: m.f2.failed === 0 },
    },
    { metric: 'f2: most connections open to tender at once', cells: one(m.f2.peakConnections), format: fixed(0), ratios: false },
    {
      metric: 'f2: upstream GETs of the blob',
      cells: one(m.f2.upstreamGets),
      format: fixed(0),
      ratios: false,
      target: { text: '0', met: m.f2.upstreamGets === 0 },
    },
  ];
}
