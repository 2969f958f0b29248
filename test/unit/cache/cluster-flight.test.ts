// The protocol between processes sharing a cache volume (cluster-flight.ts) on a fake clock, and two cores
// over one store with one lock service: one download, the other serves its commit.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ClusterFlight } from '../../../src/cache/cluster-flight.js';
import type { FlightLease, FlightLocks } from '../../../src/cache/flight-locks.js';
import { bodyOf, coreUnderTest, routeTo } from './core-under-test.js';
import { ScriptedUpstream } from './scripted-upstream.js';

/** Leases in memory, as Redis holds them; expire() is a holder whose lease ran out. */
class MemoryLocks implements FlightLocks {
  readonly holders = new Set<string>();
  failure: unknown;

  async acquire(digest: string): Promise<FlightLease | undefined> {
    if (this.failure !== undefined) throw this.failure;
    if (this.holders.has(digest)) return undefined;
    this.holders.add(digest);
    return { release: async () => void this.holders.delete(digest) };
  }

  async held(digest: string): Promise<boolean> {
    if (this.failure !== undefined) throw this.failure;
    return this.holders.has(digest);
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
    locks.holders.add('d');
    const p = protocol(locks);
    const claim = await p.cluster.claim('d', { local: () => undefined, committed: async () => (p.clock.polls >= 3 ? 'the file' : undefined) });
    expect(claim).toEqual({ kind: 'committed', found: 'the file' });
  });

  it('joins a download that started in this process meanwhile', async () => {
    const locks = new MemoryLocks();
    locks.holders.add('d');
    const p = protocol(locks);
    expect(await p.cluster.claim('d', { local: () => (p.clock.polls >= 2 ? 'flight' : undefined), committed: async () => undefined })).toEqual({
      kind: 'local',
      flight: 'flight',
    });
  });

  it("takes over once the holder's lease ran out with nothing committed (asked every tenth poll)", async () => {
    const locks = new MemoryLocks();
    locks.holders.add('d');
    const p = protocol(locks);
    const claim = p.cluster.claim('d', {
      local: () => undefined,
      committed: async () => {
        if (p.clock.polls === 15) locks.expire('d');
        return undefined;
      },
    });
    expect((await claim).kind).toBe('start');
    expect(p.clock.polls).toBe(20);
    expect(locks.holders.has('d')).toBe(true);
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
    locks.holders.add('d');
    const p = protocol(locks);
    await expect(p.cluster.claim('d', nothing)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(p.clock.now).toBe(60_000);
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
});
