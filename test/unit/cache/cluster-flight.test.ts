// The protocol between processes sharing a cache volume (cluster-flight.ts) on a fake clock, and two cores
// over one store with one lock service: one download, the other serves its commit.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ClusterFlight } from '../../../src/cache/cluster-flight.js';
import { parseDigest } from '../../../src/oci/digest.js';
import type { FlightFile, FlightHolder, FlightLease, FlightLocks } from '../../../src/cache/flight-locks.js';
import { bodyOf, coreUnderTest, routeTo } from './core-under-test.js';
import { defaultManifestAccept } from '../../../src/oci/media-types.js';
import { ScriptedUpstream } from './scripted-upstream.js';

/** Leases in memory, as Redis holds them (with the announced temp file); expire() is a holder whose lease ran out. */
class MemoryLocks implements FlightLocks {
  readonly holders = new Map<string, FlightFile | undefined>();
  failure: unknown;

  async acquire(digest: string): Promise<FlightLease | undefined> {
    if (this.failure !== undefined) throw this.failure;
    if (this.holders.has(digest)) return undefined;
    this.holders.set(digest, undefined);
    return {
      announce: async (file) => void this.holders.set(digest, file),
      release: async () => void this.holders.delete(digest),
    };
  }

  async holder(digest: string): Promise<FlightHolder | undefined> {
    if (this.failure !== undefined) throw this.failure;
    return this.holders.has(digest) ? { file: this.holders.get(digest) } : undefined;
  }

  expire(digest: string): void {
    this.holders.delete(digest);
  }
}

function protocol(locks: MemoryLocks | undefined) {
  const clock = { now: 0, polls: 0 };
  const failures: unknown[] = [];
  const cluster = new ClusterFlight(
    locks,
    { flightTimeoutMs: 60_000, onLockFailure: (err) => failures.push(err), pollMs: 100 },
    async (ms) => {
      clock.now += ms;
      clock.polls += 1;
    },
    () => clock.now,
  );
  return { cluster, clock, failures };
}

const nothing = { local: () => undefined, committed: async () => undefined };

describe('ClusterFlight', () => {
  it('starts at once without a lock service, and with the lease when it is free', async () => {
    expect(await protocol(undefined).cluster.claim('d', nothing)).toEqual({ kind: 'start', lease: undefined });
    const locks = new MemoryLocks();
    const won = await protocol(locks).cluster.claim('d', nothing);
    expect(won.kind).toBe('start');
    expect(locks.holders.has('d')).toBe(true);
  });

  it("waits for the holder's commit, and serves what it committed", async () => {
    const locks = new MemoryLocks();
    locks.holders.set('d', undefined);
    const p = protocol(locks);
    const claim = await p.cluster.claim('d', { local: () => undefined, committed: async () => (p.clock.polls >= 3 ? 'the file' : undefined) });
    expect(claim).toEqual({ kind: 'committed', found: 'the file' });
  });

  it('joins a download that started in this process meanwhile', async () => {
    const locks = new MemoryLocks();
    locks.holders.set('d', undefined);
    const p = protocol(locks);
    expect(await p.cluster.claim('d', { local: () => (p.clock.polls >= 2 ? 'flight' : undefined), committed: async () => undefined })).toEqual({
      kind: 'local',
      flight: 'flight',
    });
  });

  it("takes over once the holder's lease ran out with nothing committed", async () => {
    const locks = new MemoryLocks();
    locks.holders.set('d', undefined);
    const p = protocol(locks);
    let expired = false;
    const claim = p.cluster.claim('d', {
      local: () => undefined,
      committed: async () => {
        if (p.clock.polls === 15 && !expired) {
          expired = true;
          locks.expire('d');
        }
        return undefined;
      },
    });
    expect((await claim).kind).toBe('start');
    expect(p.clock.polls).toBe(15);
    expect(locks.holders.has('d')).toBe(true);
  });

  it('gives the lease back and serves the commit when the holder finished between two looks', async () => {
    const locks = new MemoryLocks();
    locks.holders.set('d', undefined);
    const p = protocol(locks);
    let looks = 0;
    const claim = await p.cluster.claim('d', {
      local: () => undefined,
      committed: async () => {
        looks += 1;
        if (looks === 3) locks.expire('d'); // released right after this look found nothing
        return looks >= 4 ? 'the file' : undefined;
      },
    });
    expect(claim).toEqual({ kind: 'committed', found: 'the file' });
    expect(locks.holders.has('d')).toBe(false);
  });

  it("follows the holder's temp file once it is announced, looking within milliseconds at first", async () => {
    const locks = new MemoryLocks();
    locks.holders.set('d', undefined);
    const p = protocol(locks);
    const opened: FlightFile[] = [];
    const claim = await p.cluster.claim('d', {
      local: () => undefined,
      committed: async () => {
        if (p.clock.polls === 2) locks.holders.set('d', { name: 'r1.abc', size: 10 });
        return undefined;
      },
      remote: async (file) => {
        opened.push(file);
        return 'follower';
      },
    });
    expect(claim).toEqual({ kind: 'remote', flight: 'follower' });
    expect(opened).toEqual([{ name: 'r1.abc', size: 10 }]);
    expect(p.clock.now).toBeLessThan(20);
  });

  it('downloads uncoordinated when the lock service fails, and says so once per failure', async () => {
    const locks = new MemoryLocks();
    locks.failure = new Error('ECONNREFUSED');
    const p = protocol(locks);
    expect(await p.cluster.claim('d', nothing)).toEqual({ kind: 'start', lease: undefined });
    expect(p.failures).toHaveLength(1);
  });

  it("gives up with 503 when another replica's download does not finish within the flight deadline", async () => {
    const locks = new MemoryLocks();
    locks.holders.set('d', undefined);
    const p = protocol(locks);
    await expect(p.cluster.claim('d', nothing)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(p.clock.now).toBeGreaterThanOrEqual(60_000);
    expect(p.clock.now).toBeLessThan(60_100);
  });
});

describe('two replicas on one volume', () => {
  it('download a blob once: the second serves the first one’s commit', async () => {
    const upstream = new ScriptedUpstream();
    const bytes = randomBytes(20_000);
    const digest = upstream.pushBlob('team/app', bytes);
    const locks = new MemoryLocks();
    const a = await coreUnderTest({ locks });
    const b = await coreUnderTest({ locks, shareWith: a });
    const route = routeTo(upstream, 'team/app');
    const release = upstream.hold();
    const first = await a.pullThrough.blob(route, digest, { head: false });
    const second = b.pullThrough.blob(route, digest, { head: false });
    const firstBody = bodyOf(first);
    release();
    expect((await firstBody).equals(bytes)).toBe(true);
    const joined = await second;
    expect(joined.result).toBe('joined');
    expect((await bodyOf(joined)).equals(bytes)).toBe(true);
    expect(upstream.count('getBlob')).toBe(1);
    expect(locks.holders.size).toBe(0);
  });

  it("stream the holder's download: the follower's first bytes come before the commit, the last chunk after it", async () => {
    const upstream = new ScriptedUpstream();
    const bytes = randomBytes(200_000);
    const digest = upstream.pushBlob('team/app', bytes);
    const locks = new MemoryLocks();
    const a = await coreUnderTest({ locks });
    const b = await coreUnderTest({ locks, shareWith: a });
    const route = routeTo(upstream, 'team/app');
    const release = upstream.hold();
    const first = await a.pullThrough.blob(route, digest, { head: false });
    const firstBody = bodyOf(first);
    const second = await b.pullThrough.blob(route, digest, { head: false });
    expect(second.result).toBe('joined');
    const opened = await second.file!(0, bytes.length - 1);
    const buffer = Buffer.alloc(bytes.length);
    const got = await opened.access.read(buffer, 0);
    // Half of the blob is upstream's answer so far: the follower has it, and not a byte more.
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThanOrEqual(bytes.length / 2);
    expect(buffer.subarray(0, got).equals(bytes.subarray(0, got))).toBe(true);
    expect(await a.store.stat(parseDigest(digest))).toBeUndefined();
    release();
    let position = got;
    for (let n; position < bytes.length && (n = await opened.access.read(buffer.subarray(position), position)) > 0;) position += n;
    await opened.access.close();
    opened.done();
    expect(position).toBe(bytes.length);
    expect(buffer.equals(bytes)).toBe(true);
    expect((await firstBody).equals(bytes)).toBe(true);
    expect(upstream.count('getBlob')).toBe(1);
  });

  it('cut the follower before its last byte when the content does not match its digest', async () => {
    const upstream = new ScriptedUpstream();
    const bytes = randomBytes(200_000);
    const digest = upstream.pushBlob('team/app', bytes);
    upstream.tamper('team/app', digest, randomBytes(bytes.length));
    const locks = new MemoryLocks();
    const a = await coreUnderTest({ locks });
    const b = await coreUnderTest({ locks, shareWith: a });
    const route = routeTo(upstream, 'team/app');
    const release = upstream.hold();
    const first = await a.pullThrough.blob(route, digest, { head: false });
    const firstBody = bodyOf(first).catch((err: unknown) => err);
    const second = await b.pullThrough.blob(route, digest, { head: false });
    const secondBody = bodyOf(second).then(
      (body) => body.length,
      (err: unknown) => err,
    );
    release();
    expect(await firstBody).toBeInstanceOf(Error);
    expect(await secondBody).toBeInstanceOf(Error);
    expect(await a.store.stat(parseDigest(digest))).toBeUndefined();
  });

  it("go on from the take-over when the holder dies mid-file: the follower's client gets the whole blob, checked", async () => {
    const upstream = new ScriptedUpstream();
    const bytes = randomBytes(200_000);
    const digest = upstream.pushBlob('team/app', bytes);
    const locks = new MemoryLocks();
    const a = await coreUnderTest({ locks });
    const b = await coreUnderTest({ locks, shareWith: a });
    const route = routeTo(upstream, 'team/app');
    const release = upstream.hold();
    const first = await a.pullThrough.blob(route, digest, { head: false });
    const firstBody = bodyOf(first).catch((err: unknown) => err);
    const second = await b.pullThrough.blob(route, digest, { head: false });
    const opened = await second.file!(0, bytes.length - 1);
    const buffer = Buffer.alloc(bytes.length);
    let position = await opened.access.read(buffer, 0);
    expect(position).toBeGreaterThan(0);
    // The holder dies: its download stops and its lease is gone (a worker's is dropped by the primary at once).
    a.close();
    locks.expire(digest);
    // The follower notices within its lease checks (real time: a few hundred ms).
    for (let waited = 0; upstream.count('getBlob') < 2 && waited < 5_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    expect(upstream.count('getBlob')).toBe(2);
    release();
    for (let n; position < bytes.length && (n = await opened.access.read(buffer.subarray(position), position)) > 0;) position += n;
    await opened.access.close();
    opened.done();
    expect(position).toBe(bytes.length);
    expect(buffer.equals(bytes)).toBe(true);
    await firstBody; // the scripted upstream ignores the abort: the "dead" holder may finish too; what matters is b
    expect(await b.store.stat(parseDigest(digest))).toBeDefined();
  });

  it('revalidate an expired tag once: the other core waits for its record', async () => {
    const upstream = new ScriptedUpstream();
    const image = upstream.pushImage('team/app', 'v1', [randomBytes(100)]);
    const locks = new MemoryLocks();
    const revalidationLocks = new MemoryLocks();
    const a = await coreUnderTest({ locks, revalidationLocks, tagTtlMs: 1_000 });
    const b = await coreUnderTest({ locks, revalidationLocks, tagTtlMs: 1_000, shareWith: a });
    const route = routeTo(upstream, 'team/app');
    const accept = defaultManifestAccept;
    expect((await a.pullThrough.manifest(route, 'v1', { accept, head: false })).digest).toBe(image.digest);
    a.advance(5_000);
    b.advance(5_000);
    const answers = await Promise.all([a, b, a, b].map((core) => core.pullThrough.manifest(route, 'v1', { accept, head: false })));
    expect(answers.map((x) => x.digest)).toEqual([image.digest, image.digest, image.digest, image.digest]);
    expect(upstream.count('headManifest')).toBe(1);
    expect(revalidationLocks.holders.size).toBe(0);
  });
});
