// The measured scenarios: cold herd, warm small blob, warm manifests (digest, tag), warm big blob throughput.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { Agent, request } from 'undici';
import type { RegistryHandle } from '../test/helpers/registry.js';
import { serverCpuSeconds } from './cpu.js';
import { REPOSITORY, TAG, type BenchContent } from './upstream.js';

const execFileP = promisify(execFile);

export const HERD_CLIENTS = 20;
export const SMALL_CONNECTIONS = 64;
export const SMALL_SECONDS = 10;
export const MANIFEST_CONNECTIONS = 64;
export const MANIFEST_SECONDS = 8;
export const BIG_CONNECTIONS = 4;
export const BIG_SECONDS = 10;
/** Upper bound on curl runs per big-blob connection, on top of the time bound. */
const BIG_MAX_PER_CONNECTION = 100;
const HERD_CLIENT_TIMEOUT_MS = 180_000;

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export const blobUrl = (base: string, digest: string): string => `${base}/v2/${REPOSITORY}/blobs/${digest}`;
export const manifestUrl = (base: string, reference: string): string => `${base}/v2/${REPOSITORY}/manifests/${reference}`;

export interface HerdResult {
  wallMs: number;
  /** Upstream GETs of the blob while the herd ran (undefined for the direct baseline: they are the herd). */
  upstreamGets: number;
  /** Slowest client's time from the common start to response headers. */
  slowestHeadersMs: number;
  /** Slowest client's time from the common start to its first body byte. */
  slowestFirstByteMs: number;
  ok: number;
  failures: string[];
  /** The same figures per URL, when the herd was split across several (client i asks urls[i % urls.length]). */
  perUrl: Array<{ slowestHeadersMs: number; slowestFirstByteMs: number; ok: number; clients: number }>;
  /** Wall-clock time (epoch ms) of the common start, to set tender's flight timeline against (herd-trace.ts). */
  startedAt: number;
  /** Each client's figures, in the order the clients were started. */
  clients: ClientOutcome[];
}

export interface ClientOutcome {
  headersMs: number;
  firstByteMs: number;
  error?: string;
}

/**
 * N clients start in the same tick; each streams the body through sha256 and checks it against the digest.
 * Given several URLs (replicas of one cache), client i asks urls[i % urls.length].
 */
export async function coldHerd(urls: readonly string[], expected: { digest: string; size: number }, upstream: RegistryHandle): Promise<HerdResult> {
  await upstream.settle();
  upstream.resetLog();
  const agent = new Agent({ connections: null, pipelining: 1, headersTimeout: HERD_CLIENT_TIMEOUT_MS, bodyTimeout: 60_000 });
  const t0 = performance.now();
  const startedAt = performance.timeOrigin + t0;
  const one = async (_: unknown, i: number): Promise<ClientOutcome> => {
    const outcome: ClientOutcome = { headersMs: Number.NaN, firstByteMs: Number.NaN };
    try {
      const res = await request(urls[i % urls.length]!, { dispatcher: agent, signal: AbortSignal.timeout(HERD_CLIENT_TIMEOUT_MS) });
      outcome.headersMs = performance.now() - t0;
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (bytes === 0) outcome.firstByteMs = performance.now() - t0;
        hash.update(chunk);
        bytes += chunk.length;
      }
      const got = `sha256:${hash.digest('hex')}`;
      if (res.statusCode !== 200) outcome.error = `HTTP ${res.statusCode}`;
      else if (bytes !== expected.size) outcome.error = `got ${bytes} bytes, expected ${expected.size}`;
      else if (got !== expected.digest) outcome.error = `digest mismatch (${got.slice(0, 19)}…)`;
    } catch (err) {
      outcome.error = `${(err as Error).name}: ${(err as Error).message}`;
    }
    return outcome;
  };
  const outcomes = await Promise.all(Array.from({ length: HERD_CLIENTS }, one));
  const wallMs = performance.now() - t0;
  await agent.close();
  await upstream.settle();
  const finite = (xs: number[]): number[] => xs.filter((x) => Number.isFinite(x));
  const failures = outcomes.flatMap((o, i) => (o.error ? [`client ${i}${urls.length > 1 ? ` (URL ${i % urls.length})` : ''}: ${o.error}`] : []));
  const slowest = (os: ClientOutcome[]) => ({
    slowestHeadersMs: Math.max(...finite(os.map((o) => o.headersMs)), 0),
    slowestFirstByteMs: Math.max(...finite(os.map((o) => o.firstByteMs)), 0),
    ok: os.filter((o) => !o.error).length,
    clients: os.length,
  });
  return {
    wallMs,
    upstreamGets: upstream.count({ kind: 'blobs', method: 'GET' }),
    ...slowest(outcomes),
    ok: HERD_CLIENTS - failures.length,
    failures,
    perUrl: urls.map((_, u) => slowest(outcomes.filter((_o, i) => i % urls.length === u))),
    startedAt,
    clients: outcomes,
  };
}

export async function getOnce(url: string, headers: Record<string, string> = {}): Promise<{ status: number; digest: string }> {
  const res = await request(url, { headers, signal: AbortSignal.timeout(120_000) });
  const hash = createHash('sha256');
  for await (const chunk of res.body as AsyncIterable<Buffer>) hash.update(chunk);
  return { status: res.statusCode, digest: `sha256:${hash.digest('hex')}` };
}

export interface LoadResult {
  reqPerSec: number;
  p99Ms: number;
  total: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** CPU the server used during the load (its process and live children), per answered request, µs. */
  cpuUsPerRequest?: number;
  /** Requests the upstream saw during the warm-up and the load, by method (e.g. {HEAD: 3}). */
  upstream: Record<string, number>;
  warmupProblem?: string;
}

/**
 * The load generator for b and c. Default `ab` (ApacheBench, C, keep-alive): autocannon parses in JS and appends
 * every body chunk to a string, which caps it near 1,000 req/s for a 64 KiB body on this machine — it measured
 * itself, not the proxy. BENCH_CLIENT=autocannon switches back, for comparison.
 */
export const LOAD_CLIENT: 'ab' | 'autocannon' = process.env.BENCH_CLIENT === 'autocannon' ? 'autocannon' : 'ab';

/** What one load run measured, before any upstream accounting. */
export interface RawLoad {
  reqPerSec: number;
  p99Ms: number;
  total: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Set when the server's pid was given: CPU (user + system) per completed request, µs. */
  cpuUsPerRequest?: number;
}

async function runAutocannon(url: string, connections: number, seconds: number, headers: Record<string, string>): Promise<RawLoad> {
  const r = await autocannon({ url, connections, duration: seconds, headers, timeout: 30 });
  return { reqPerSec: r.requests.average, p99Ms: r.latency.p99, total: r.requests.total, non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts };
}

async function runAb(url: string, connections: number, seconds: number, headers: Record<string, string>): Promise<RawLoad> {
  // -k keep-alive, -r keep going on socket errors, -t time bound, -n count bound, -s per-request timeout.
  const args = ['-q', '-k', '-r', '-c', String(connections), '-t', String(seconds), '-n', '2000000', '-s', '30'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push(url);
  const { stdout } = await execFileP('ab', args, { timeout: (seconds + 60) * 1000, maxBuffer: 1024 * 1024 });
  const num = (re: RegExp): number => Number(re.exec(stdout)?.[1] ?? Number.NaN);
  const failed = /Failed requests:\s+(\d+)(?:\s*\n\s*\(Connect: (\d+), Receive: (\d+), Length: (\d+), Exceptions: (\d+)\))?/.exec(stdout);
  return {
    reqPerSec: num(/Requests per second:\s+([\d.]+)/),
    p99Ms: num(/^\s+99%\s+(\d+)/m),
    total: num(/Complete requests:\s+(\d+)/),
    non2xx: Number(/Non-2xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0),
    errors: Number(failed?.[1] ?? 0),
    timeouts: 0,
  };
}

/**
 * One run of the load generator the rows b and c use (LOAD_CLIENT), against any server; given the server's pid,
 * also the CPU it spent per request.
 */
export async function measureLoad(url: string, connections: number, seconds: number, headers: Record<string, string>, pid?: number): Promise<RawLoad> {
  const cpu0 = pid === undefined ? 0 : await serverCpuSeconds(pid);
  const r = LOAD_CLIENT === 'ab' ? await runAb(url, connections, seconds, headers) : await runAutocannon(url, connections, seconds, headers);
  if (pid === undefined || !(r.total > 0)) return r;
  return { ...r, cpuUsPerRequest: (((await serverCpuSeconds(pid)) - cpu0) * 1e6) / r.total };
}

async function load(
  url: string,
  connections: number,
  seconds: number,
  headers: Record<string, string>,
  upstream: RegistryHandle,
  kind: 'blobs' | 'manifests',
  pid: number | undefined,
): Promise<LoadResult> {
  // The upstream log was reset before the warm-up: the count covers warm-up + load, one freshness window.
  const r = await measureLoad(url, connections, seconds, headers, pid);
  await upstream.settle();
  const byMethod: Record<string, number> = {};
  for (const req of upstream.requests()) if (req.kind === kind) byMethod[req.method] = (byMethod[req.method] ?? 0) + 1;
  return { ...r, upstream: byMethod };
}

async function warmUp(url: string, headers: Record<string, string>, expectedDigest: string, upstream: RegistryHandle): Promise<string | undefined> {
  await upstream.settle();
  upstream.resetLog();
  const first = await getOnce(url, headers).catch((err: Error) => ({ status: 0, digest: err.message }));
  if (first.status !== 200) return `warm-up GET answered ${first.status || first.digest}`;
  if (first.digest !== expectedDigest) return `warm-up GET body has digest ${first.digest}, expected ${expectedDigest}`;
  return undefined;
}

/** Row b; `pid` (the server's) adds its CPU per request. */
export async function warmSmallBlob(base: string, content: BenchContent, upstream: RegistryHandle, pid?: number): Promise<LoadResult> {
  const url = blobUrl(base, content.small.digest);
  const warmupProblem = await warmUp(url, {}, content.small.digest, upstream);
  const r = await load(url, SMALL_CONNECTIONS, SMALL_SECONDS, {}, upstream, 'blobs', pid);
  return warmupProblem ? { ...r, warmupProblem } : r;
}

/** Row c; `pid` (the server's) adds its CPU per request. */
export async function warmManifest(
  base: string,
  reference: 'digest' | 'tag',
  content: BenchContent,
  upstream: RegistryHandle,
  pid?: number,
): Promise<LoadResult> {
  const url = manifestUrl(base, reference === 'digest' ? content.manifestDigest : TAG);
  const headers = { accept: MANIFEST_ACCEPT };
  const warmupProblem = await warmUp(url, headers, content.manifestDigest, upstream);
  const r = await load(url, MANIFEST_CONNECTIONS, MANIFEST_SECONDS, headers, upstream, 'manifests', pid);
  return warmupProblem ? { ...r, warmupProblem } : r;
}

export interface ThroughputResult {
  mbPerSec: number;
  completed: number;
  failed: number;
  bytes: number;
  seconds: number;
  upstreamGets: number;
  warmupProblem?: string;
}

/**
 * BIG_CONNECTIONS parallel curl loops (a C client, so the driver's JS is not the bottleneck), each bounded by time
 * and count; a download in progress at the deadline finishes and counts, and so does its time.
 */
export async function warmBigBlob(base: string, content: BenchContent, upstream: RegistryHandle): Promise<ThroughputResult> {
  const url = blobUrl(base, content.big.digest);
  const warmupProblem = await warmUp(url, {}, content.big.digest, upstream);
  await upstream.settle();
  upstream.resetLog();
  let bytes = 0;
  let completed = 0;
  let failed = 0;
  const t0 = performance.now();
  const deadline = t0 + BIG_SECONDS * 1000;
  const worker = async (): Promise<void> => {
    for (let i = 0; i < BIG_MAX_PER_CONNECTION && performance.now() < deadline; i++) {
      try {
        const { stdout } = await execFileP('curl', ['-sS', '-o', '/dev/null', '--max-time', '60', '-w', '%{http_code} %{size_download}', url]);
        const [code, size] = stdout.trim().split(' ');
        if (code === '200' && Number(size) === content.big.size) {
          completed++;
          bytes += Number(size);
        } else {
          failed++;
        }
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: BIG_CONNECTIONS }, worker));
  const seconds = (performance.now() - t0) / 1000;
  await upstream.settle();
  const result: ThroughputResult = {
    mbPerSec: bytes / 1e6 / seconds,
    completed,
    failed,
    bytes,
    seconds,
    upstreamGets: upstream.count({ kind: 'blobs', method: 'GET' }),
  };
  return warmupProblem ? { ...result, warmupProblem } : result;
}
