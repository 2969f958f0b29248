// Pushed lease changes (issue 17): a waiter looks again at the change, not at its next poll; the pause stays as
// the fallback for a lost message; growth news is bounded per interval and never drops the last growth.
import { describe, expect, it } from 'vitest';
import { ClusterFlight } from '../../../src/cache/cluster-flight.js';
import type { FlightFile, FlightHolder, FlightLease, FlightLocks } from '../../../src/cache/flight-locks.js';
import { GrowthNews } from '../../../src/cache/growth-news.js';
import { LeaseWatch } from '../../../src/cache/lease-watch.js';

/** Leases in memory that push their changes to watchers, unless `lose` drops the messages. */
class PushingLocks implements FlightLocks {
  readonly holders = new Map<string, FlightFile | undefined>();
  readonly watchers = new Map<string, Set<() => void>>();
  lose = false;

  async acquire(digest: string): Promise<FlightLease | undefined> {
    if (this.holders.has(digest)) return undefined;
    this.holders.set(digest, undefined);
    return { announce: async (file) => this.set(digest, file), release: async () => void this.holders.delete(digest) };
  }

  async holder(digest: string): Promise<FlightHolder | undefined> {
    return this.holders.has(digest) ? { file: this.holders.get(digest) } : undefined;
  }

  watch(digest: string, changed: () => void): () => void {
    const set = this.watchers.get(digest) ?? new Set();
    this.watchers.set(digest, set);
    set.add(changed);
    return () => set.delete(changed);
  }

  set(digest: string, file: FlightFile): void {
    this.holders.set(digest, file);
    if (!this.lose) for (const changed of this.watchers.get(digest) ?? []) changed();
  }
}

/** A pause that never ends by itself (only a pushed change ends it), or that ends when `tick` is called. */
function pauses() {
  const pending: Array<() => void> = [];
  const log: number[] = [];
  const wait = (ms: number, signal: AbortSignal): Promise<void> =>
    new Promise((resolve) => {
      log.push(ms);
      pending.push(resolve);
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  return { wait, log, tick: () => pending.splice(0).forEach((resolve) => resolve()) };
}

const options = { flightTimeoutMs: 60_000, onLockFailure: () => undefined, pollMs: 100 };

describe('pushed lease changes', () => {
  it('a waiter follows the holder as it announces its file, without a pause running out', async () => {
    const locks = new PushingLocks();
    locks.holders.set('d', undefined);
    const p = pauses();
    const cluster = new ClusterFlight(locks, options, p.wait);
    const claim = cluster.claim('d', { local: () => undefined, committed: async () => undefined, remote: async (file) => file.name });
    await new Promise((r) => setImmediate(r));
    expect(p.log.length).toBe(1); // waiting in its first pause
    locks.set('d', { name: 'w1.abc', size: 10 });
    expect(await claim).toEqual({ kind: 'remote', flight: 'w1.abc' });
    expect(p.log.length).toBe(1); // no pause ran out: the push ended it
    expect(locks.watchers.get('d')?.size).toBe(0); // and the claim stopped watching
  });

  it('a lost message is made up for by the next look after a pause', async () => {
    const locks = new PushingLocks();
    locks.lose = true;
    locks.holders.set('d', undefined);
    const p = pauses();
    const cluster = new ClusterFlight(locks, options, p.wait);
    const claim = cluster.claim('d', { local: () => undefined, committed: async () => undefined, remote: async (file) => file.name });
    await new Promise((r) => setImmediate(r));
    locks.set('d', { name: 'w1.abc', size: 10 }); // announced, but nobody hears it
    await new Promise((r) => setImmediate(r));
    let settled = false;
    void claim.then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    p.tick(); // the pause ends: the waiter looks at the lease itself
    expect(await claim).toEqual({ kind: 'remote', flight: 'w1.abc' });
  });

  it('a change that comes while the waiter is not waiting ends its next wait at once', async () => {
    const locks = new PushingLocks();
    const p = pauses();
    const watch = new LeaseWatch(locks, 'd', p.wait);
    locks.set('d', { name: 'x', size: 1 });
    await watch.wait(50);
    expect(p.log).toEqual([]);
    const waiting = watch.wait(50);
    expect(p.log).toEqual([50]);
    locks.set('d', { name: 'x', size: 2 });
    await waiting;
    watch.close();
    expect(locks.watchers.get('d')?.size).toBe(0);
  });
});

describe('growth news', () => {
  it('tells at most once per interval, and always the last growth of a burst', async () => {
    let now = 0;
    let told = 0;
    const lease: FlightLease = { announce: async () => undefined, release: async () => undefined, grew: () => void (told += 1) };
    const news = new GrowthNews(lease, 5, () => now);
    now = 10;
    news.grew(); // told at once
    news.grew();
    news.grew(); // within the interval: one trailing tell scheduled
    expect(told).toBe(1);
    await new Promise((r) => setTimeout(r, 10));
    expect(told).toBe(2);
    news.grew(); // the clock did not move: scheduled again
    news.stop(); // the download ended: nothing more is told
    await new Promise((r) => setTimeout(r, 10));
    expect(told).toBe(2);
  });
});
