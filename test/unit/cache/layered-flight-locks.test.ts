// The host's lease over the cluster's (workers of several replicas): who holds a digest, as a waiter sees it.
import { describe, expect, it } from 'vitest';
import { LayeredFlightLocks } from '../../../src/cache/layered-flight-locks.js';
import type { FlightHolder, FlightLease, FlightLocks } from '../../../src/cache/flight-locks.js';

/** A lock service whose holder() answers only when the test lets it. */
class HeldLocks implements FlightLocks {
  asked = 0;
  answer: FlightHolder | undefined | Error = undefined;
  private open: (() => void) | undefined;
  private readonly gate: Promise<void>;

  constructor(gated: boolean) {
    this.gate = gated ? new Promise<void>((resolve) => (this.open = resolve)) : Promise.resolve();
  }

  release(): void {
    this.open?.();
  }

  async acquire(): Promise<FlightLease | undefined> {
    return undefined;
  }

  async holder(): Promise<FlightHolder | undefined> {
    this.asked += 1;
    await this.gate;
    if (this.answer instanceof Error) throw this.answer;
    return this.answer;
  }
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

describe('LayeredFlightLocks.holder', () => {
  it("asks the host and the cluster at once, and names the cluster's holder when no worker here holds it", async () => {
    const host = new HeldLocks(true);
    const cluster = new HeldLocks(true);
    cluster.answer = { file: { name: 'b.w1.abc', size: 10 } };
    const holder = new LayeredFlightLocks(host, cluster, () => undefined).holder('d');
    // Both asked before either answered: a waiter's look costs one round trip, not two in a row.
    await until(() => host.asked === 1 && cluster.asked === 1, 'both lock services to be asked');
    host.release();
    cluster.release();
    expect(await holder).toEqual({ file: { name: 'b.w1.abc', size: 10 } });
  });

  it("prefers this host's holder (a worker here downloads it)", async () => {
    const host = new HeldLocks(false);
    const cluster = new HeldLocks(false);
    host.answer = { file: { name: 'a.w2.abc', size: 10 } };
    cluster.answer = { file: { name: 'b.w1.abc', size: 10 } };
    expect(await new LayeredFlightLocks(host, cluster, () => undefined).holder('d')).toEqual({ file: { name: 'a.w2.abc', size: 10 } });
  });

  it("reports a cluster failure and answers with the host's view", async () => {
    const host = new HeldLocks(false);
    const cluster = new HeldLocks(false);
    cluster.answer = new Error('redis down');
    const failures: unknown[] = [];
    expect(await new LayeredFlightLocks(host, cluster, (err) => failures.push(err)).holder('d')).toBeUndefined();
    expect(failures).toHaveLength(1);
  });

  it('throws when the host fails, as the host alone would', async () => {
    const host = new HeldLocks(false);
    const cluster = new HeldLocks(false);
    host.answer = new Error('primary gone');
    await expect(new LayeredFlightLocks(host, cluster, () => undefined).holder('d')).rejects.toThrow('primary gone');
  });
});
