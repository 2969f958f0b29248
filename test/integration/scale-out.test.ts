// Scale-out: tender processes sharing one cache directory and one Redis. A cold blob is fetched from upstream once
// across replicas, a revalidated tag is seen by every replica, Redis going away costs nothing but coordination, and a
// replica killed mid-download hands the download over once its flight lease expires.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { containerdAccept, http } from '../helpers/http-client.js';
import { pushImage, sha256 } from '../helpers/images.js';
import { startRedis, type RedisHandle } from '../helpers/redis.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..');
const cli = join(root, 'src', 'cli', 'tender.ts');
const flightLeaseMs = 2_000;
const tagTtlMs = 1_000;

interface Replica {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** Parsed JSON log lines so far. */
  readonly logs: Array<Record<string, unknown>>;
  /** SIGKILL, nothing flushed or released. */
  kill(): Promise<void>;
  /** SIGTERM, SIGKILL after 5 s. */
  stop(): Promise<void>;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolvePromise) => {
    const timer = setTimeout(() => resolvePromise(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolvePromise(true);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms = 10_000, every = 50): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await check()) return Date.now() - started;
    await sleep(every);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** Sum of every series of a counter in a Prometheus text exposition (0 when absent). */
function counter(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describeWithBinaries(['redis-server', 'redis-cli', 'docker-registry'], 'scale-out: replicas sharing a cache directory and Redis', () => {
  let upstream: FaultUpstream;
  let registry: RegistryHandle;
  let redis: RedisHandle;
  let cacheDir: string;
  let workDir: string;
  let a: Replica;
  let b: Replica;
  const replicas: Replica[] = [];

  async function redisCli(...args: string[]): Promise<string> {
    const { stdout } = await run('redis-cli', ['-p', String(redis.port), ...args]);
    return stdout.trim();
  }

  async function startReplica(name: string, extra: Record<string, unknown> = {}): Promise<Replica> {
    const file = join(workDir, `${name}-${Date.now()}.yaml`);
    const settings = {
      includeDefaultUpstreams: false,
      defaultUpstream: 'slow.test',
      tagTtl: `${tagTtlMs}ms`,
      staleTimeout: '1s',
      shutdownGrace: '2s',
      replicaId: name,
      flightLease: `${flightLeaseMs}ms`,
      metadata: { redis: { url: redis.url } },
      upstreams: {
        'slow.test': { url: upstream.url, insecure: true, retries: 1 },
        'registry.test': { url: registry.url, insecure: true, retries: 1 },
      },
      ...extra,
    };
    await writeFile(file, JSON.stringify(settings, null, 2)); // JSON is YAML
    const child = spawn(process.execPath, ['--import', 'tsx', cli, '--config', file, '--listen', '127.0.0.1:0', '--cache-dir', cacheDir], {
      cwd: root,
      env: { ...process.env, TENDER_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logs: Array<Record<string, unknown>> = [];
    const stderr: string[] = [];
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr.push(chunk.toString('utf8'));
      if (stderr.length > 100) stderr.shift();
    });
    const listen = await new Promise<string>((resolvePromise, reject) => {
      // Each replica is a primary and its workers (workers: auto), started from source: slow on a loaded machine.
      const timer = setTimeout(() => reject(new Error(`replica ${name} did not start within 90 s\n${stderr.join('')}`)), 90_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          entry = { msg: line };
        }
        logs.push(entry);
        if (entry.msg === 'tender is serving') {
          clearTimeout(timer);
          resolvePromise(String(entry.listen));
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`replica ${name} exited (code ${code}, signal ${signal}) before serving\n${stderr.join('')}`));
      });
    });
    const replica: Replica = {
      name,
      url: `http://${listen}`,
      child,
      logs,
      kill: async () => {
        if (exited(child)) return;
        child.kill('SIGKILL');
        await waitForExit(child, 5_000);
      },
      stop: async () => {
        if (exited(child)) return;
        child.kill('SIGTERM');
        if (!(await waitForExit(child, 5_000))) {
          child.kill('SIGKILL');
          await waitForExit(child, 5_000);
        }
      },
    };
    replicas.push(replica);
    return replica;
  }

  beforeAll(async () => {
    [upstream, registry, redis] = await Promise.all([startFaultUpstream(), startRegistry(), startRedis()]);
    workDir = await mkdtemp(join(tmpdir(), 'tender-scale-out-'));
    cacheDir = join(workDir, 'shared-cache');
    // One after the other: the second start-up happens while the first replica is live on the directory.
    a = await startReplica('replica-a');
    b = await startReplica('replica-b');
  }, 200_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    for (const r of replicas) {
      const worrying = r.logs.filter((l) => ['warn', 'error', 'fatal'].includes(String(l.level)));
      const counts = new Map<string, number>();
      for (const l of worrying) counts.set(`${String(l.level)} ${String(l.msg)}`, (counts.get(`${String(l.level)} ${String(l.msg)}`) ?? 0) + 1);
      if (counts.size > 0) console.info(`[scale-out] ${r.name} warnings/errors:`, Object.fromEntries(counts));
    }
    await Promise.all([upstream?.stop(), registry?.stop(), redis?.stop()]);
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }, 60_000);

  const blobUrl = (replica: Replica, digest: string) => `${replica.url}/v2/slow.test/acme/app/blobs/${digest}`;
  const tagUrl = (replica: Replica, repository: string, tag: string) => `${replica.url}/v2/${repository}/manifests/${tag}?ns=registry.test`;
  const pullTag = (replica: Replica, repository: string, tag: string) => http(tagUrl(replica, repository, tag), { headers: { accept: containerdAccept } });

  function slowBlob(size: number): { bytes: Buffer; digest: string } {
    const bytes = randomBytes(size);
    const digest = upstream.addBlob(bytes);
    upstream.setFault(digest, 'slow');
    return { bytes, digest };
  }

  function blobPath(digest: string): string {
    const hex = digest.slice('sha256:'.length);
    return join(cacheDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
  }

  const committed = (digest: string) =>
    stat(blobPath(digest)).then(
      (s) => s.isFile(),
      () => false,
    );

  /** GET a blob; the status and the sha256 of what arrived (an error when the connection broke). */
  async function fetchBlob(url: string): Promise<{ status: number; digest: string; bytes: number }> {
    const res = await http(url);
    return { status: res.status, digest: sha256(res.body), bytes: res.body.length };
  }

  it('a) 20 concurrent cold GETs of one blob, 10 on each replica, reach upstream once', async () => {
    const { digest } = slowBlob(3 * 1024 * 1024); // ~0.5 s at 64 KiB / 10 ms
    const started = Date.now();
    const requests = Array.from({ length: 20 }, (_, i) => {
      const replica = i % 2 === 0 ? a : b;
      const t0 = Date.now();
      return fetchBlob(blobUrl(replica, digest)).then((r) => ({ ...r, replica: replica.name, ms: Date.now() - t0 }));
    });
    // While the download runs, its lease is in Redis under the documented key and names its holder.
    await sleep(200);
    const holder = await redisCli('GET', `tender:flight:${digest}`);
    const results = await Promise.all(requests);
    const elapsed = Date.now() - started;

    for (const r of results) {
      expect(r.status, `${r.replica}`).toBe(200);
      expect(r.digest, `${r.replica}`).toBe(digest);
    }
    expect(await committed(digest)).toBe(true);
    const counts = { GET: upstream.count('GET', digest), HEAD: upstream.count('HEAD', digest) };

    // A committed blob is a hit on both replicas afterwards, whoever fetched it.
    for (const replica of [a, b]) expect((await fetchBlob(blobUrl(replica, digest))).digest).toBe(digest);
    const countsAfterHits = { GET: upstream.count('GET', digest), HEAD: upstream.count('HEAD', digest) };
    const leaseAfter = await redisCli('EXISTS', `tender:flight:${digest}`);

    const byReplica = (name: string) => results.filter((r) => r.replica === name).map((r) => r.ms);
    console.info(
      '[scale-out a] upstream requests for the blob:',
      JSON.stringify({ during20: counts, afterOneMoreGetOnEach: countsAfterHits }),
      '| lease holder seen at +200 ms:',
      JSON.stringify(holder),
      '| lease key after:',
      leaseAfter === '1' ? 'still there' : 'gone',
      `| all 20 done in ${elapsed} ms; per-client ms A: ${byReplica(a.name).join(',')} B: ${byReplica(b.name).join(',')}`,
    );
    expect(counts.GET).toBe(1);
    expect(countsAfterHits.GET).toBe(1);
    expect(holder).toMatch(/^replica-[ab]\b/);
    expect(leaseAfter).toBe('0');
  });

  it('b) a tag revalidated by one replica is served by the other without asking upstream', async () => {
    const v1 = await pushImage(registry, 'team/app', 'v1', { layerSizes: [1000], seed: 'scale-out-v1' });
    const first = await pullTag(a, 'team/app', 'v1');
    expect(first.status).toBe(200);
    expect(first.headers['docker-content-digest']).toBe(v1.digest);
    // The tag record lives in Redis, where the other replica can find it.
    const keys = await redisCli('--scan', '--pattern', '*team/app:v1*');
    expect(keys, 'a Redis key for the tag').not.toBe('');

    const v2 = await pushImage(registry, 'team/app', 'v1', { layerSizes: [1000], seed: 'scale-out-v2' });
    expect(v2.digest).not.toBe(v1.digest);
    await registry.settle();
    registry.resetLog();
    await sleep(tagTtlMs + 200);

    const viaA = await pullTag(a, 'team/app', 'v1');
    expect(viaA.headers['docker-content-digest']).toBe(v2.digest);
    await registry.settle();
    const afterA = {
      heads: registry.count({ kind: 'manifests', method: 'HEAD' }),
      gets: registry
        .requests()
        .filter((r) => r.kind === 'manifests' && r.method === 'GET')
        .map((r) => r.path),
    };
    expect(afterA.heads).toBe(1);
    expect(afterA.gets).toEqual([`/v2/team/app/manifests/${v2.digest}`]);

    const viaB = await pullTag(b, 'team/app', 'v1');
    expect(viaB.status).toBe(200);
    expect(viaB.headers['docker-content-digest']).toBe(v2.digest);
    expect(viaB.body.equals(v2.manifest)).toBe(true);
    await registry.settle();
    const afterB = {
      heads: registry.count({ kind: 'manifests', method: 'HEAD' }),
      gets: registry
        .requests()
        .filter((r) => r.kind === 'manifests' && r.method === 'GET')
        .map((r) => r.path),
    };
    console.info('[scale-out b] registry manifest requests after A revalidated:', JSON.stringify(afterA), '| after B pulled:', JSON.stringify(afterB));
    expect(afterB.heads, 'no HEAD from B').toBe(1);
  });

  it('b2) a manifest one replica cached is served by the other from the shared volume, without an upstream GET', async () => {
    const image = await pushImage(registry, 'team/shared', 'v1', { layerSizes: [1000], seed: 'scale-out-shared' });
    expect((await pullTag(a, 'team/shared', 'v1')).headers['docker-content-digest']).toBe(image.digest);
    await registry.settle();
    registry.resetLog();

    const byDigest = await http(`${b.url}/v2/team/shared/manifests/${image.digest}?ns=registry.test`, { headers: { accept: containerdAccept } });
    expect(byDigest.status).toBe(200);
    expect(byDigest.body.equals(image.manifest)).toBe(true);
    const byTag = await pullTag(b, 'team/shared', 'v1');
    expect(byTag.headers['docker-content-digest']).toBe(image.digest);
    await registry.settle();
    const sent = registry
      .requests()
      .filter((r) => r.kind === 'manifests')
      .map((r) => `${r.method} ${r.path}`);
    console.info('[scale-out b2] registry manifest requests caused by B:', JSON.stringify(sent));
    expect(sent).toEqual([]);
  });

  /** GETs a blob on a fresh connection, counting bytes as they come; resolves once it ended or broke. */
  function streamBlob(url: string, progress: { bytes: number }): Promise<{ complete: boolean; digest: string; broke: boolean }> {
    return request(url, { reset: true }).then(
      async (res) => {
        const chunks: Buffer[] = [];
        try {
          for await (const chunk of res.body) {
            chunks.push(chunk as Buffer);
            progress.bytes += (chunk as Buffer).length;
          }
        } catch {
          return { complete: false, digest: sha256(Buffer.concat(chunks)), broke: true };
        }
        const body = Buffer.concat(chunks);
        return { complete: body.length === Number(res.headers['content-length']), digest: sha256(body), broke: false };
      },
      () => ({ complete: false, digest: '', broke: true }),
    );
  }

  /**
   * A client of replica A starts the (held) download; once it streams, a client of replica B joins; resolves once
   * B's client has its first byte (`waiting` names that wait). The two transfers run on to their ends.
   */
  async function holderThenFollower(digest: string, waiting = "the waiting replica's first byte") {
    const onA = { bytes: 0 };
    const onB = { bytes: 0 };
    const holder = streamBlob(blobUrl(a, digest), onA);
    await waitFor('the holder to stream', () => onA.bytes > 0);
    const follower = streamBlob(blobUrl(b, digest), onB);
    await waitFor(waiting, () => onB.bytes > 0);
    return { holder, follower, onB };
  }

  it("f) the waiting replica's clients stream the holder's download: first byte before the commit, the last chunk after it; a mismatch cuts them", async () => {
    const bytes = randomBytes(4 * 1024 * 1024);
    const digest = upstream.addBlob(bytes);
    upstream.setFault(digest, 'held');
    // Upstream sent half and holds the rest: the other replica's client already has bytes, and not more than that half.
    const { holder: first, follower: second, onB } = await holderThenFollower(digest);
    expect(await committed(digest)).toBe(false);
    expect(onB.bytes).toBeLessThanOrEqual(bytes.length / 2);
    upstream.release(digest);
    expect(await Promise.all([first, second])).toEqual([
      { complete: true, digest: sha256(bytes), broke: false },
      { complete: true, digest: sha256(bytes), broke: false },
    ]);
    expect(upstream.count('GET', digest)).toBe(1);

    const wrong = randomBytes(2 * 1024 * 1024);
    const wrongDigest = upstream.addBlob(wrong);
    upstream.setFault(wrongDigest, 'held-wrong-bytes');
    const { holder, follower } = await holderThenFollower(wrongDigest);
    upstream.release(wrongDigest);
    for (const got of await Promise.all([holder, follower])) {
      expect(got.complete).toBe(false);
      expect(got.broke).toBe(true);
    }
    expect(await committed(wrongDigest)).toBe(false);
  });

  it('g) lease news between replicas: both listen on Redis pub/sub, and with every message lost a follower still streams (the fallback poll)', async () => {
    // Both replicas hear lease changes pushed over pub/sub (issue 17): a follower starts as the holder announces.
    expect(await redisCli('PUBSUB', 'NUMSUB', 'tender:flight:changes')).toMatch(/tender:flight:changes\s+([2-9]|\d{2,})/);
    // Now nothing published arrives: the default user may no longer PUBLISH (the holder's publishes fail, as
    // messages sent while a subscriber reconnects are lost). The waiting replica must find the file by itself.
    await redisCli('ACL', 'SETUSER', 'default', '-publish');
    try {
      const bytes = randomBytes(4 * 1024 * 1024);
      const digest = upstream.addBlob(bytes);
      upstream.setFault(digest, 'held');
      const { holder: first, follower: second } = await holderThenFollower(digest, "the waiting replica's first byte, without a message");
      expect(await committed(digest)).toBe(false);
      upstream.release(digest);
      expect(await Promise.all([first, second])).toEqual([
        { complete: true, digest: sha256(bytes), broke: false },
        { complete: true, digest: sha256(bytes), broke: false },
      ]);
      expect(upstream.count('GET', digest)).toBe(1);
    } finally {
      await redisCli('ACL', 'SETUSER', 'default', '+publish');
    }
  });

  it("e) a replica starting on the shared directory leaves the others' downloads alone", async () => {
    // Held upstream: A's download stays in flight however long C takes to start (seconds under load).
    const bytes = randomBytes(4 * 1024 * 1024);
    const digest = upstream.addBlob(bytes);
    upstream.setFault(digest, 'held');
    let downloading = true;
    const download = fetchBlob(blobUrl(a, digest)).finally(() => (downloading = false));
    await waitFor('a temp file of replica-a', async () => (await readdir(join(cacheDir, 'tmp'))).some((n) => n.startsWith('replica-a.')), 5_000, 20);
    const tempsBefore = await readdir(join(cacheDir, 'tmp'));
    const c = await startReplica('replica-c');
    const tempsAfter = await readdir(join(cacheDir, 'tmp'));
    const stillDownloading = downloading;
    upstream.release(digest);
    const result = await download;
    console.info(`[scale-out e] tmp/ before C: ${JSON.stringify(tempsBefore)} after: ${JSON.stringify(tempsAfter)}`);
    expect(stillDownloading, 'replica-c must start while the download runs, or this proves nothing').toBe(true);
    expect(tempsAfter.filter((n) => n.startsWith('replica-a.'))).toEqual(tempsBefore.filter((n) => n.startsWith('replica-a.')));
    expect(result.status).toBe(200);
    expect(result.digest).toBe(digest);
    expect(await committed(digest)).toBe(true);
    expect(upstream.count('GET', digest)).toBe(1);
    // And the newcomer serves it as a hit.
    expect((await fetchBlob(blobUrl(c, digest))).digest).toBe(digest);
    expect(upstream.count('GET', digest)).toBe(1);
    await c.stop();
  }, 60_000);

  it('c) with Redis killed, both replicas keep serving (cached blob, cached tag, cold blob) and stay ready; after a restart it all still works', async () => {
    // Something cached on both replicas first.
    const cached = slowBlob(512 * 1024);
    for (const replica of [a, b]) expect((await fetchBlob(blobUrl(replica, cached.digest))).digest).toBe(cached.digest);
    const tag = await pushImage(registry, 'team/outage', 'stable', { layerSizes: [1000], seed: 'scale-out-outage' });
    for (const replica of [a, b]) expect((await pullTag(replica, 'team/outage', 'stable')).headers['docker-content-digest']).toBe(tag.digest);
    const cachedGets = upstream.count('GET', cached.digest);

    await redis.kill();
    const timings: Record<string, number[]> = { cachedBlob: [], cachedTag: [], coldBlob: [], readyz: [] };
    const timed = async <T>(bucket: string, work: () => Promise<T>): Promise<T> => {
      const t0 = Date.now();
      try {
        return await work();
      } finally {
        timings[bucket]!.push(Date.now() - t0);
      }
    };
    try {
      // Two rounds: the first meets the broken connection, the second the replicas' fallback state.
      for (let round = 0; round < 2; round++) {
        for (const replica of [a, b]) {
          const blob = await timed('cachedBlob', () => fetchBlob(blobUrl(replica, cached.digest)));
          expect(blob.status, `${replica.name} cached blob`).toBe(200);
          expect(blob.digest).toBe(cached.digest);
          const manifest = await timed('cachedTag', () => pullTag(replica, 'team/outage', 'stable'));
          expect(manifest.status, `${replica.name} cached tag`).toBe(200);
          expect(manifest.headers['docker-content-digest']).toBe(tag.digest);
          const ready = await timed('readyz', () => http(`${replica.url}/readyz`));
          expect(ready.status, `${replica.name} /readyz: ${ready.body.toString()}`).toBe(200);
        }
      }
      expect(upstream.count('GET', cached.digest), 'a cached blob is not fetched again').toBe(cachedGets);

      // A cold blob on both replicas at once: local single flight on each, so at most one upstream GET per replica.
      const cold = slowBlob(2 * 1024 * 1024);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => {
          const replica = i % 2 === 0 ? a : b;
          return timed('coldBlob', () => fetchBlob(blobUrl(replica, cold.digest))).then((r) => ({ ...r, replica: replica.name }));
        }),
      );
      for (const r of results) {
        expect(r.status, r.replica).toBe(200);
        expect(r.digest, r.replica).toBe(cold.digest);
      }
      expect(await committed(cold.digest)).toBe(true);
      const coldGets = upstream.count('GET', cold.digest);

      const errors: Record<string, number> = {};
      for (const replica of [a, b]) {
        const metrics = await http(`${replica.url}/metrics`);
        errors[replica.name] = counter(metrics.body.toString(), 'tender_redis_errors_total');
        expect((await http(`${replica.url}/readyz`)).status).toBe(200);
      }
      console.info(
        '[scale-out c] Redis down: upstream GETs for the cold blob (10 clients, 5 per replica):',
        coldGets,
        '| tender_redis_errors_total:',
        JSON.stringify(errors),
        '| ms per request:',
        JSON.stringify(timings),
      );
      expect(coldGets).toBeGreaterThanOrEqual(1);
      expect(coldGets).toBeLessThanOrEqual(2);
      for (const [name, count] of Object.entries(errors)) expect(count, `${name} tender_redis_errors_total`).toBeGreaterThan(0);
    } finally {
      await redis.restart();
    }

    // Redis is back (empty: it keeps nothing). Everything keeps working, and coordination returns.
    const restartedAt = Date.now();
    for (const replica of [a, b]) {
      expect((await fetchBlob(blobUrl(replica, cached.digest))).digest).toBe(cached.digest);
      expect((await pullTag(replica, 'team/outage', 'stable')).headers['docker-content-digest']).toBe(tag.digest);
      expect((await http(`${replica.url}/readyz`)).status).toBe(200);
    }
    const rounds: number[] = [];
    let coordinated = false;
    while (!coordinated && Date.now() - restartedAt < 20_000) {
      const cold = slowBlob(1024 * 1024);
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => fetchBlob(blobUrl(i % 2 === 0 ? a : b, cold.digest))));
      for (const r of results) expect(r.digest).toBe(cold.digest);
      rounds.push(upstream.count('GET', cold.digest));
      coordinated = rounds.at(-1) === 1;
      if (!coordinated) await sleep(500);
    }
    console.info(
      `[scale-out c] after the Redis restart: upstream GETs per cold-blob round until one replica fetched for both: ${JSON.stringify(rounds)} (${Date.now() - restartedAt} ms after restart)`,
    );
    expect(coordinated, 'cluster-wide single flight is back within 20 s of the Redis restart').toBe(true);
  }, 90_000);

  it('d) the replica holding the lease is killed mid-fill: the other takes over once the lease expires and its client gets the whole blob', async () => {
    const { digest } = slowBlob(6 * 1024 * 1024); // ~1 s
    const t0 = Date.now();
    const at = () => Date.now() - t0;
    const marks: Record<string, number | string> = {};

    // Upstream GETs and the lease, watched as they change.
    let watching = true;
    const watcher = (async () => {
      let seen = 0;
      let leaseSeen = false;
      while (watching) {
        const gets = upstream.count('GET', digest);
        if (gets > seen) {
          for (let n = seen + 1; n <= gets; n++) marks[`upstreamGet${n}`] = at();
          seen = gets;
        }
        const holder = await redisCli('GET', `tender:flight:${digest}`).catch(() => '');
        if (holder && !leaseSeen) {
          leaseSeen = true;
          marks.leaseTakenBy = holder.split(':')[0] ?? holder;
        }
        if (holder && marks.leaseTakenBy && !holder.startsWith(String(marks.leaseTakenBy)) && marks.leaseTakenOverAt === undefined) {
          marks.leaseTakenOverAt = at();
          marks.leaseTakenOverBy = holder.split(':')[0] ?? holder;
        }
        await sleep(20);
      }
    })();

    // A: read the body as it comes, so A is provably mid-fill when it dies.
    const onA = request(blobUrl(a, digest));
    let aReceived = 0;
    const aDrained = onA
      .then(async (res) => {
        for await (const chunk of res.body) aReceived += (chunk as Buffer).length;
      })
      .catch(() => undefined);

    await sleep(100);
    const bStarted = at();
    const onB = request(blobUrl(b, digest)).then(async (res) => {
      marks.bHeaders = at();
      marks.bStatus = res.statusCode;
      const chunks: Buffer[] = [];
      for await (const chunk of res.body) {
        if (chunks.length === 0) marks.bFirstByte = at();
        chunks.push(chunk as Buffer);
      }
      marks.bDone = at();
      return Buffer.concat(chunks);
    });

    await sleep(200);
    const pttlAtKill = await redisCli('PTTL', `tender:flight:${digest}`);
    const holderAtKill = await redisCli('GET', `tender:flight:${digest}`);
    marks.killedAt = at();
    await a.kill();
    marks.aBytesBeforeKill = aReceived;
    await aDrained;

    const body = await onB;
    watching = false;
    await watcher;
    const tmpLeft = await readdir(join(cacheDir, 'tmp'));

    console.info(
      '[scale-out d] timings (ms from the GET on A):',
      JSON.stringify({ ...marks, bStarted, pttlAtKill: Number(pttlAtKill), holderAtKill: holderAtKill.split(':')[0], flightLeaseMs }),
      '| upstream GETs:',
      upstream.count('GET', digest),
      '| tmp/ after:',
      JSON.stringify(tmpLeft),
    );

    expect(holderAtKill.startsWith('replica-a'), `lease holder at kill: ${holderAtKill}`).toBe(true);
    expect(aReceived, 'A was mid-fill when killed').toBeGreaterThan(0);
    expect(aReceived).toBeLessThan(6 * 1024 * 1024);
    expect(marks.bStatus).toBe(200);
    expect(body.length).toBe(6 * 1024 * 1024);
    expect(sha256(body)).toBe(digest);
    expect(await committed(digest)).toBe(true);
    // B waited for the lease instead of fetching beside A, and took over once it had expired.
    expect(upstream.count('GET', digest)).toBe(2);
    expect(Number(marks.upstreamGet2) - Number(marks.killedAt), 'B fetched only after the lease ran out').toBeGreaterThanOrEqual(flightLeaseMs / 3);
    expect(Number(marks.upstreamGet2) - Number(marks.killedAt), 'B took over soon after the lease ran out').toBeLessThan(flightLeaseMs + 3_000);
    expect(tmpLeft.filter((n) => n.startsWith('replica-b.'))).toEqual([]);
  }, 60_000);
});
