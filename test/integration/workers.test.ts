// Workers on one host (issue 17): `tender serve` with workers: 2 behaves as one tender. One upstream GET per
// blob across workers, followers that stream the holder's temp file (first byte before the commit, the last
// chunk held, a mismatch cut), a worker killed mid-download replaced and its download taken over, one tag
// revalidation per window, one eviction owner holding the host's cap, /metrics summed over the workers, and a
// SIGTERM that drains every worker. The real docker-registry is the upstream wherever a real registry can do
// what the test needs; downloads held open mid-body come from the fault upstream.
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { describeWithBinaries } from '../helpers/binaries.js';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { pseudoRandomBytes, pushBlob, pushImage, sha256 } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTenderProcess } from '../helpers/tender-process.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Tender {
  readonly url: string;
  readonly child: ChildProcess;
  readonly cacheDir: string;
  readonly logs: Array<Record<string, unknown>>;
  /** Worker id → pid, as each worker announced itself. */
  workers(): Map<number, number>;
  stop(): Promise<void>;
}

/** One fresh connection per request (so the primary hands them to the workers in turn), the body hashed as it comes. */
interface Fetched {
  status: number;
  bytes: number;
  sha256: string;
  length: number | undefined;
  /** ms from the request to the first body byte; undefined without one. */
  firstByteMs: number | undefined;
  error: string | undefined;
}

function fetchFresh(url: string, onBytes?: (total: number) => void, timeoutMs?: number): Promise<Fetched> {
  const started = performance.now();
  return new Promise((resolvePromise) => {
    const hash = createHash('sha256');
    const result: Fetched = { status: 0, bytes: 0, sha256: '', length: undefined, firstByteMs: undefined, error: undefined };
    const req = httpRequest(url, { agent: false }, (res) => {
      result.status = res.statusCode ?? 0;
      result.length = res.headers['content-length'] === undefined ? undefined : Number(res.headers['content-length']);
      res.on('data', (chunk: Buffer) => {
        result.firstByteMs ??= performance.now() - started;
        hash.update(chunk);
        result.bytes += chunk.length;
        onBytes?.(result.bytes);
      });
      res.on('end', () => resolvePromise({ ...result, sha256: `sha256:${hash.digest('hex')}` }));
      res.on('error', (err) => resolvePromise({ ...result, error: err.message }));
      res.on('aborted', () => resolvePromise({ ...result, error: 'aborted' }));
    });
    req.on('error', (err) => resolvePromise({ ...result, error: err.message }));
    if (timeoutMs !== undefined) req.setTimeout(timeoutMs, () => req.destroy(new Error('no answer in time')));
    req.end();
  });
}

/** A new connection during a drain: `refused` (ECONNREFUSED), `closed` unanswered, `served`, or `parked` (no answer in 5 s). */
function connectProbe(url: string): Promise<'refused' | 'closed' | 'served' | 'parked'> {
  const { hostname, port } = new URL(url);
  return new Promise((resolvePromise) => {
    const socket = connect(Number(port), hostname);
    const done = (outcome: 'refused' | 'closed' | 'served' | 'parked'): void => {
      socket.destroy();
      resolvePromise(outcome);
    };
    socket.setTimeout(5_000, () => done('parked'));
    socket.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? 'refused' : 'closed'));
    socket.on('connect', () => socket.write(`GET /v2/ HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`));
    socket.on('data', () => done('served'));
    socket.on('close', () => done('closed'));
  });
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms = 15_000, every = 25): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await check()) return;
    await sleep(every);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** Sum of every series of a metric in a Prometheus text exposition, optionally only series whose labels contain `having`. */
function metric(text: string, name: string, having = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{') || !line.includes(having)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describeWithBinaries(['docker-registry'], 'workers: one tender, several processes', () => {
  let registry: RegistryHandle;
  let faults: FaultUpstream;
  let workDir: string;
  const started: Tender[] = [];

  async function startTender(name: string, extra: Record<string, unknown> = {}): Promise<Tender> {
    const cacheDir = join(workDir, `${name}-cache`);
    const settings = {
      workers: 2,
      includeDefaultUpstreams: false,
      defaultUpstream: 'registry.test',
      staleTimeout: '2s',
      shutdownGrace: '10s',
      logLevel: 'info',
      upstreams: {
        'registry.test': { url: registry.url, insecure: true, retries: 1 },
        'faults.test': { url: faults.url, insecure: true, retries: 1 },
      },
      ...extra,
    };
    // Its own folder for the config file: the helper writes tender.yaml there.
    const dir = join(workDir, name);
    await mkdir(dir, { recursive: true });
    const tender: Tender = { ...(await startTenderProcess(dir, { ...settings, cacheDir })), cacheDir };
    started.push(tender);
    return tender;
  }

  const blobPath = (tender: Tender, digest: string) => join(tender.cacheDir, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));
  const committed = (tender: Tender, digest: string) =>
    stat(blobPath(tender, digest)).then(
      () => true,
      () => false,
    );
  const requestLogs = (tender: Tender, fragment: string) => tender.logs.filter((l) => typeof l.path === 'string' && l.path.includes(fragment));

  let tender: Tender;

  beforeAll(async () => {
    [registry, faults] = await Promise.all([startRegistry(), startFaultUpstream()]);
    workDir = await mkdtemp(join(tmpdir(), 'tender-workers-'));
    tender = await startTender('shared', { tagTtl: '1s' });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(started.map((t) => t.stop()));
    await Promise.all([registry?.stop(), faults?.stop()]);
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }, 60_000);

  it('a cold herd split across the workers reaches upstream once, and every client gets the blob', async () => {
    const bytes = pseudoRandomBytes('workers-herd', 8 * 1024 * 1024);
    const digest = sha256(bytes);
    await pushBlob(registry, 'team/herd', { bytes, digest, size: bytes.length, mediaType: 'application/octet-stream' });
    await registry.settle();
    registry.resetLog();
    const answers = await Promise.all(Array.from({ length: 12 }, () => fetchFresh(`${tender.url}/v2/team/herd/blobs/${digest}`)));
    expect(answers.map((a) => [a.status, a.bytes, a.sha256])).toEqual(answers.map(() => [200, bytes.length, digest]));
    await registry.settle();
    expect(registry.count({ method: 'GET', kind: 'blobs', repository: 'team/herd' })).toBe(1);
    // Both workers answered part of the herd: one downloaded, the other followed.
    await waitFor('the request log lines', () => requestLogs(tender, digest).length === 12);
    const byWorker = new Map<number, string[]>();
    for (const line of requestLogs(tender, digest)) byWorker.set(Number(line.worker), [...(byWorker.get(Number(line.worker)) ?? []), String(line.result)]);
    // One worker downloaded (its first clients share that one miss), the other's clients all followed it.
    expect(byWorker.size).toBe(2);
    expect([...byWorker.values()].map((results) => results.includes('miss')).sort()).toEqual([false, true]);
  }, 60_000);

  it("followers on the other worker stream the holder's download: first byte before the commit, the last chunk only after it", async () => {
    // The primary hands connections to whichever worker is free: under load one worker may get them all. Then
    // the round proved nothing across workers, and is run again with a new blob.
    for (let round = 1; ; round++) {
      const bytes = randomBytes(4 * 1024 * 1024);
      const digest = faults.addBlob(bytes);
      faults.setFault(digest, 'held');
      const url = `${tender.url}/v2/faults.test/acme/app/blobs/${digest}`;
      const progress: number[] = [];
      const clients: Array<Promise<Fetched>> = [];
      for (let i = 0; i < 6; i++) {
        progress[i] = 0;
        clients.push(fetchFresh(url, (total) => (progress[i] = total)));
        await sleep(30);
      }
      // Upstream sent half and holds the rest: every client, on either worker, has bytes, none has them all.
      await waitFor('every client to get its first bytes', () => progress.every((p) => p > 0));
      expect(await committed(tender, digest)).toBe(false);
      await sleep(200);
      expect(Math.max(...progress)).toBeLessThanOrEqual(bytes.length / 2);
      faults.release(digest);
      const answers = await Promise.all(clients);
      expect(answers.map((a) => [a.status, a.bytes, a.sha256])).toEqual(answers.map(() => [200, bytes.length, digest]));
      expect(faults.count('GET', digest)).toBe(1);
      await waitFor('the request log lines', () => requestLogs(tender, digest).length === clients.length);
      const workers = new Set(requestLogs(tender, digest).map((l) => l.worker));
      if (workers.size === 2) break;
      expect(round, 'every round went to one worker').toBeLessThan(4);
    }
  }, 90_000);

  it('cuts every client on every worker before its last byte when the download does not match its digest', async () => {
    const bytes = randomBytes(2 * 1024 * 1024);
    const digest = faults.addBlob(bytes);
    faults.setFault(digest, 'held-wrong-bytes');
    const url = `${tender.url}/v2/faults.test/acme/app/blobs/${digest}`;
    const progress = [0, 0, 0, 0];
    const clients = progress.map((_, i) => fetchFresh(url, (total) => (progress[i] = total)));
    await waitFor('every client to get its first bytes', () => progress.every((p) => p > 0));
    faults.release(digest);
    const answers = await Promise.all(clients);
    for (const answer of answers) {
      expect(answer.bytes).toBeLessThan(bytes.length);
      expect(answer.error).toBeDefined();
    }
    expect(await committed(tender, digest)).toBe(false);
  }, 60_000);

  it('a tag expired on every worker is revalidated upstream once', async () => {
    const image = await pushImage(registry, 'team/tagged', 'v1', { seed: 'workers-tag', layerSizes: [1024] });
    const url = `${tender.url}/v2/team/tagged/manifests/v1`;
    expect((await fetchFresh(url)).sha256).toBe(image.digest);
    await sleep(1_200); // tagTtl 1s
    await registry.settle();
    registry.resetLog();
    const answers = await Promise.all(Array.from({ length: 10 }, () => fetchFresh(url)));
    expect(answers.map((a) => a.sha256)).toEqual(answers.map(() => image.digest));
    await registry.settle();
    expect(registry.count({ method: 'HEAD', kind: 'manifests', repository: 'team/tagged' })).toBe(1);
    expect(registry.count({ method: 'GET', kind: 'manifests', repository: 'team/tagged' })).toBe(0);
  }, 60_000);

  it('/metrics sums the workers, with each worker’s memory on its own', async () => {
    const before = await (await fetch(`${tender.url}/metrics`)).text();
    const requestsBefore = metric(before, 'tender_http_requests_total', 'kind="blob"');
    const bytes = pseudoRandomBytes('workers-metrics', 64 * 1024);
    const digest = sha256(bytes);
    await pushBlob(registry, 'team/metrics', { bytes, digest, size: bytes.length, mediaType: 'application/octet-stream' });
    await Promise.all(Array.from({ length: 6 }, () => fetchFresh(`${tender.url}/v2/team/metrics/blobs/${digest}`)));
    await waitFor('the request log lines', () => requestLogs(tender, digest).length === 6);
    expect(new Set(requestLogs(tender, digest).map((l) => l.worker)).size).toBe(2);
    // Whichever worker the scrape lands on, it answers for all of them.
    for (let i = 0; i < 2; i++) {
      const text = await new Promise<string>((resolvePromise, reject) => {
        httpRequest(`${tender.url}/metrics`, { agent: false }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString('utf8')));
          res.on('end', () => resolvePromise(body));
        })
          .on('error', reject)
          .end();
      });
      expect(metric(text, 'tender_http_requests_total', 'kind="blob"') - requestsBefore).toBe(6);
      expect(metric(text, 'tender_cache_results_total', 'result="miss"')).toBeGreaterThan(0);
      const memory = text.split('\n').filter((l) => l.startsWith('tender_worker_resident_memory_bytes{'));
      expect(memory).toHaveLength(2);
      for (const line of memory) expect(Number(line.slice(line.lastIndexOf(' ') + 1))).toBeGreaterThan(10 * 1024 * 1024);
    }
  }, 60_000);

  it('each worker starts with the workerV8Flags (default: a bounded heap growth), then the primary’s own node flags', async () => {
    const argv = async (pid: number) => (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
    const defaults = parseConfig({}).workerV8Flags;
    expect(defaults.length).toBeGreaterThan(0);
    const pids = [...tender.workers().values()];
    expect(pids).toHaveLength(2);
    for (const pid of pids) {
      const args = await argv(pid);
      // node <workerV8Flags> --import tsx <cli>: V8 takes a flag's last occurrence, so one given to the primary wins.
      expect(args.slice(1, 1 + defaults.length)).toEqual(defaults);
      expect(args.slice(1 + defaults.length, 3 + defaults.length)).toEqual(['--import', 'tsx']);
    }
    // The primary serves nothing: the flags are for the workers only.
    expect(await argv(tender.child.pid!)).not.toContain(defaults[0]);
  });

  it('a worker killed mid-download is replaced, and the clients following it get the whole blob from the take-over', async () => {
    const bytes = randomBytes(4 * 1024 * 1024);
    const digest = faults.addBlob(bytes);
    faults.setFault(digest, 'held');
    const url = `${tender.url}/v2/faults.test/acme/app/blobs/${digest}`;
    const progress = [0, 0, 0, 0];
    const clients = progress.map((_, i) => fetchFresh(url, (total) => (progress[i] = total)));
    await waitFor('every client to get its first bytes', () => progress.every((p) => p > 0));
    await waitFor('the holder’s request to be known', () => faults.count('GET', digest) === 1);
    // The holder is the worker whose log says it is fetching: the one that counted a miss shows only at the end,
    // so find it as the worker with the download's temp file.
    const tmp = await readdir(join(tender.cacheDir, 'tmp'));
    const holderId = Number(/\.w(\d+)\./.exec(tmp.find((name) => name.includes(digest.slice(7, 23)))!)![1]);
    const pid = tender.workers().get(holderId)!;
    process.kill(pid, 'SIGKILL');
    await waitFor('the primary to start a replacement', () => tender.logs.some((l) => l.msg === 'worker exited; starting a new one' && l.worker === holderId));
    // The other worker takes the download over: upstream is asked again, and everything it holds is sent.
    await waitFor('the take-over download', () => faults.count('GET', digest) === 2);
    faults.release(digest);
    const answers = await Promise.all(clients);
    const complete = answers.filter((a) => a.bytes === bytes.length);
    // The dead worker's own clients lost their connection; every client that got the full length got the right bytes.
    expect(complete.length).toBeGreaterThan(0);
    for (const answer of complete) expect(answer.sha256).toBe(digest);
    for (const answer of answers.filter((a) => a.bytes < bytes.length)) expect(answer.error).toBeDefined();
    await waitFor('the blob to be committed', () => committed(tender, digest));
    // The dead worker's temp file is gone; the replacement serves.
    await waitFor('the dead worker’s temp files to go', async () => !(await readdir(join(tender.cacheDir, 'tmp'))).some((n) => n.includes(`.w${holderId}.`)));
    await waitFor('the replacement to serve', () => tender.workers().size === 3);
    const again = await Promise.all([fetchFresh(url), fetchFresh(url)]);
    expect(again.map((a) => a.sha256)).toEqual([digest, digest]);
  }, 90_000);

  it("one eviction owner keeps the host's cache under maxCacheSize, whichever worker committed", async () => {
    const capped = await startTender('capped', { maxCacheSize: '3MiB' });
    const blobs = Array.from({ length: 8 }, (_, i) => pseudoRandomBytes(`workers-evict-${i}`, 700 * 1024));
    for (const bytes of blobs)
      await pushBlob(registry, 'team/evict', { bytes, digest: sha256(bytes), size: bytes.length, mediaType: 'application/octet-stream' });
    for (const bytes of blobs) expect((await fetchFresh(`${capped.url}/v2/team/evict/blobs/${sha256(bytes)}`)).sha256).toBe(sha256(bytes));
    await waitFor('the request log lines', () => requestLogs(capped, '/team/evict/').length === blobs.length);
    expect(new Set(requestLogs(capped, '/team/evict/').map((l) => l.worker)).size).toBe(2);
    const onDisk = async (): Promise<number> => {
      let total = 0;
      for (const bytes of blobs)
        total += await stat(blobPath(capped, sha256(bytes))).then(
          (s) => s.size,
          () => 0,
        );
      return total;
    };
    // Files leave a short grace after the index (2 s).
    await waitFor('the cap to hold on disk', async () => (await onDisk()) <= 3 * 1024 * 1024);
    const text = await (await fetch(`${capped.url}/metrics`)).text();
    expect(metric(text, 'tender_cache_bytes')).toBeLessThanOrEqual(3 * 1024 * 1024);
    expect(metric(text, 'tender_evictions_total')).toBeGreaterThan(0);
    expect(capped.logs.filter((l) => l.msg === 'worker owns eviction for the cache directory')).toHaveLength(1);
    // Only the owner evicts: every eviction line comes from one worker.
    expect(new Set(capped.logs.filter((l) => l.msg === 'evicted least recently used blobs').map((l) => l.worker)).size).toBe(1);
  }, 90_000);

  it('SIGTERM drains every worker: a transfer in progress finishes, new connections are not served, exit 0', async () => {
    // A grace far longer than the test needs: on a loaded machine the steps below can take many seconds, and a
    // grace that ran out would cut the transfer this test expects to finish.
    const draining = await startTender('draining', { shutdownGrace: '60s' });
    const bytes = randomBytes(2 * 1024 * 1024);
    const digest = faults.addBlob(bytes);
    faults.setFault(digest, 'held');
    let received = 0;
    const transfer = fetchFresh(`${draining.url}/v2/faults.test/acme/app/blobs/${digest}`, (total) => (received = total));
    await waitFor('the transfer to start', () => received > 0);
    const exited = new Promise<number | null>((resolvePromise) => draining.child.once('exit', (code) => resolvePromise(code)));
    draining.child.kill('SIGTERM');
    await waitFor('the workers to be told', () => draining.logs.some((l) => l.msg === 'shutting down: no new connections, draining transfers'));
    // Once the workers drain, a new connection is closed unanswered at once (or refused), not accepted by the
    // primary and parked in node:cluster's queue until the drain ends (workers/listening-drain.ts). The probe is
    // bounded only so that a failure shows as one instead of hanging until the grace runs out.
    let probe: string | undefined;
    await waitFor('new connections to be refused', async () => {
      probe = await connectProbe(draining.url);
      return probe !== 'served';
    });
    expect(probe).toMatch(/^(refused|closed)$/);
    // And it stays so while the transfer drains.
    expect(await connectProbe(draining.url)).toMatch(/^(refused|closed)$/);
    faults.release(digest);
    const answer = await transfer;
    expect([answer.status, answer.bytes, answer.sha256]).toEqual([200, bytes.length, digest]);
    expect(await exited).toBe(0);
    expect(draining.logs.filter((l) => l.msg === 'shutting down: no new connections, draining transfers')).toHaveLength(2);
  }, 90_000);
});
