// Scenario f: tender's memory under the two loads of the requirement, on a fresh tender process (tender only).
//   f1. 20 clients pull one uncached 1 GiB blob at once;
//   f2. then 200 connections pull cached bytes (50 MiB ranges of that blob, now cached).
// Clients are curl processes (C, light on the 2 shared cores); the driver only parses their -w lines.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { RegistryHandle } from '../test/helpers/registry.js';
import { hwmNow, resetHwm, rssNow } from './rss.js';
import { blobUrl } from './scenarios.js';
import type { BlobRef } from './upstream.js';

/** BENCH_SKIP_MEMORY=1 skips scenario f (and the 1 GiB push it needs). */
export const SKIP_MEMORY = process.env.BENCH_SKIP_MEMORY === '1';
export const F1_CLIENTS = 20;
export const F2_CONNECTIONS = 200;
/** f2's connections are spread over this many `curl -Z` processes (50 parallel transfers each). */
export const F2_PROCESSES = 4;
export const F2_RANGE_BYTES = 50 * 1024 * 1024;
const F1_MAX_SECONDS = 300;
const F2_MAX_SECONDS = 180;
const CONN_SAMPLE_MS = 50;

// One line per transfer: status, body bytes, seconds to the first body byte, seconds in total, new connections.
const WRITE_OUT = '%{http_code} %{size_download} %{time_starttransfer} %{time_total} %{num_connects}\n';
const WRITE_OUT_LINE = /^(\d{3}) (\d+) ([\d.]+) ([\d.]+) (\d+)$/gm;

interface Transfer {
  code: number;
  size: number;
  ttfbMs: number;
  totalMs: number;
  connects: number;
}

function parseTransfers(text: string): Transfer[] {
  return [...text.matchAll(WRITE_OUT_LINE)].map((m) => ({
    code: Number(m[1]),
    size: Number(m[2]),
    ttfbMs: Number(m[3]) * 1000,
    totalMs: Number(m[4]) * 1000,
    connects: Number(m[5]),
  }));
}

interface Ran {
  exit: string | undefined;
  stdout: string;
  stderr: string;
}

/** Runs a command to the end; a non-zero exit is data here (curl's code says which transfer failed how). */
function run(command: string, args: string[], timeoutMs: number): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: string }) | null;
      resolve({ exit: e ? `exit ${e.code ?? '?'}${e.signal ? ` (${e.signal})` : ''}` : undefined, stdout, stderr });
    });
  });
}

/** ESTABLISHED TCP sockets whose local port is `port` (tender's side of each client connection). */
async function establishedTo(port: number): Promise<number> {
  const text = await readFile('/proc/net/tcp', 'utf8').catch(() => '');
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(`:${hex}`) && f[3] === '01') n++;
  }
  return n;
}

/** Peak of establishedTo(port), sampled every CONN_SAMPLE_MS until stopped. */
function connectionSampler(port: number): { stop(): Promise<number> } {
  let peak = 0;
  let busy: Promise<void> | undefined;
  const tick = (): void => {
    busy ??= establishedTo(port).then((n) => {
      peak = Math.max(peak, n);
      busy = undefined;
    });
  };
  const timer = setInterval(tick, CONN_SAMPLE_MS);
  tick();
  return {
    async stop() {
      clearInterval(timer);
      await busy;
      peak = Math.max(peak, await establishedTo(port));
      return peak;
    },
  };
}

async function upstreamBlobGets(upstream: RegistryHandle, digest: string): Promise<number> {
  await upstream.settle();
  return upstream.requests().filter((r) => r.kind === 'blobs' && r.method === 'GET' && r.path.includes(digest)).length;
}

export interface MemoryTender {
  url: string;
  pid: number;
}

export interface ColdMemoryResult {
  /** tender's VmHWM after f1: the peak since it started, so it covers start-up and f1 only. */
  hwmBytes: number | undefined;
  wallMs: number;
  /** Slowest client's time to its first body byte (curl's time_starttransfer, from that curl's start). */
  slowestTtfbMs: number;
  upstreamGets: number;
  /** Clients that got 200 and exactly the blob's size. */
  sizeOk: number;
  /** The one client whose body was piped through `openssl dgst -sha256`: did it match the digest? */
  hashOk: boolean;
  peakConnections: number;
  failures: string[];
}

/**
 * f1: F1_CLIENTS curl processes start together on the uncached blob. F1_CLIENTS − 1 write to /dev/null; one pipes
 * the body into `openssl dgst -sha256` (SHA-NI, ~1 s of CPU for 1 GiB), so the driver never hashes 20 GiB itself.
 */
export async function memoryColdHerd(tender: MemoryTender, blob: BlobRef, upstream: RegistryHandle): Promise<ColdMemoryResult> {
  const url = blobUrl(tender.url, blob.digest);
  await upstream.settle();
  upstream.resetLog();
  const timeoutMs = (F1_MAX_SECONDS + 30) * 1000;
  const curlArgs = ['-sS', '--no-progress-meter', '--max-time', String(F1_MAX_SECONDS)];
  const conns = connectionSampler(Number(new URL(tender.url).port));
  const t0 = performance.now();
  const plain = Array.from({ length: F1_CLIENTS - 1 }, () => run('curl', [...curlArgs, '-o', '/dev/null', '-w', WRITE_OUT, url], timeoutMs));
  // pipefail: a failed curl fails the pipeline even though openssl hashed whatever arrived.
  const hashed = run(
    'bash',
    ['-c', 'set -o pipefail; curl "${@:3}" -w "%{stderr}$2" "$1" | openssl dgst -sha256 -r', 'f1', url, WRITE_OUT, ...curlArgs],
    timeoutMs,
  );
  const ran = await Promise.all([...plain, hashed]);
  const wallMs = performance.now() - t0;
  const peakConnections = await conns.stop();
  const hwmBytes = await hwmNow(tender.pid);

  const failures: string[] = [];
  let sizeOk = 0;
  let slowestTtfbMs = 0;
  ran.forEach((r, i) => {
    const isHashed = i === ran.length - 1;
    const t = parseTransfers(isHashed ? r.stderr : r.stdout)[0];
    if (t) slowestTtfbMs = Math.max(slowestTtfbMs, t.ttfbMs);
    if (t && t.code === 200 && t.size === blob.size && !r.exit) sizeOk++;
    else
      failures.push(
        `client ${i}: ${t ? `HTTP ${t.code}, ${t.size} bytes` : 'no result'}${r.exit ? `, ${r.exit}` : ''}${r.stderr.trim() && !isHashed ? `: ${r.stderr.trim().slice(0, 200)}` : ''}`,
      );
  });
  const got = /^([0-9a-f]{64})\b/.exec(ran[ran.length - 1]!.stdout.trim())?.[1];
  const hashOk = got !== undefined && `sha256:${got}` === blob.digest;
  if (!hashOk) failures.push(`sha256 client: body digest ${got ? `sha256:${got.slice(0, 12)}…` : 'none'}, expected ${blob.digest.slice(0, 19)}…`);
  return { hwmBytes, wallMs, slowestTtfbMs, upstreamGets: await upstreamBlobGets(upstream, blob.digest), sizeOk, hashOk, peakConnections, failures };
}

export interface CachedMemoryResult {
  /** tender's VmHWM after f2. Reset before f2 when the kernel allows it (hwmReset), so it covers f2 alone. */
  hwmBytes: number | undefined;
  hwmReset: boolean;
  /** tender's VmRSS just before f2 (what a reset VmHWM starts from: f1 leaves its heap grown). */
  rssBeforeBytes: number;
  wallMs: number;
  ok: number;
  failed: number;
  /** Most ESTABLISHED connections to tender's port seen at once (/proc/net/tcp every 50 ms). */
  peakConnections: number;
  /** Connections the clients opened (curl's num_connects, summed). */
  connects: number;
  slowestTtfbMs: number;
  /** Earliest completion: if it is later than slowestTtfbMs, every transfer was in flight at the same moment. */
  firstDoneMs: number;
  upstreamGets: number;
  failures: string[];
}

/**
 * f2: F2_CONNECTIONS transfers of `Range: bytes=0-(50 MiB − 1)` of the now-cached blob, as F2_PROCESSES `curl -Z`
 * processes with all their transfers started at once (--parallel-immediate: one connection each).
 */
export async function memoryCachedConnections(tender: MemoryTender, blob: BlobRef, upstream: RegistryHandle): Promise<CachedMemoryResult> {
  const url = blobUrl(tender.url, blob.digest);
  await upstream.settle();
  upstream.resetLog();
  const rssBeforeBytes = await rssNow(tender.pid, false);
  const hwmReset = await resetHwm(tender.pid);
  const perProcess = F2_CONNECTIONS / F2_PROCESSES;
  const args = [
    '-sS',
    '--no-progress-meter',
    '-Z',
    '--parallel-immediate',
    '--parallel-max',
    String(perProcess),
    '--max-time',
    String(F2_MAX_SECONDS),
    '-H',
    `Range: bytes=0-${F2_RANGE_BYTES - 1}`,
    '-w',
    WRITE_OUT,
    ...Array.from({ length: perProcess }, () => ['-o', '/dev/null', url]).flat(),
  ];
  const conns = connectionSampler(Number(new URL(tender.url).port));
  const t0 = performance.now();
  const ran = await Promise.all(Array.from({ length: F2_PROCESSES }, () => run('curl', args, (F2_MAX_SECONDS + 30) * 1000)));
  const wallMs = performance.now() - t0;
  const peakConnections = await conns.stop();
  const hwmBytes = await hwmNow(tender.pid);

  const transfers = ran.flatMap((r) => parseTransfers(r.stdout));
  const good = transfers.filter((t) => t.code === 206 && t.size === F2_RANGE_BYTES);
  const failures: string[] = [];
  const bad = transfers.filter((t) => !(t.code === 206 && t.size === F2_RANGE_BYTES));
  if (bad.length) failures.push(`${bad.length} transfers: ${[...new Set(bad.map((t) => `HTTP ${t.code} ${t.size} bytes`))].slice(0, 5).join(', ')}`);
  if (transfers.length < F2_CONNECTIONS) failures.push(`${F2_CONNECTIONS - transfers.length} transfers reported nothing`);
  for (const r of ran)
    if (r.exit) failures.push(`curl -Z ${r.exit}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n').slice(0, 3).join(' | ').slice(0, 300)}` : ''}`);
  return {
    hwmBytes,
    hwmReset,
    rssBeforeBytes,
    wallMs,
    ok: good.length,
    failed: F2_CONNECTIONS - good.length,
    peakConnections,
    connects: transfers.reduce((a, t) => a + t.connects, 0),
    slowestTtfbMs: Math.max(0, ...transfers.map((t) => t.ttfbMs)),
    firstDoneMs: transfers.length ? Math.min(...transfers.map((t) => t.totalMs)) : Number.NaN,
    upstreamGets: await upstreamBlobGets(upstream, blob.digest),
    failures,
  };
}
