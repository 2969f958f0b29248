// SingleFlight: concurrent calls per key share one execution and its outcome; nothing is kept after it settles.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SingleFlight } from '../../../src/cache/single-flight.js';

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('SingleFlight', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeEach(() => {
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
  });

  afterEach(() => {
    process.off('unhandledRejection', onUnhandled);
  });

  it('runs concurrent calls with the same key once and gives every caller the result', async () => {
    const flights = new SingleFlight<string>();
    const gate = deferred<string>();
    let runs = 0;
    const work = () => {
      runs++;
      return gate.promise;
    };

    const callers = Array.from({ length: 5 }, () => flights.run('k', work));
    expect(flights.size).toBe(1);
    gate.resolve('value');

    expect(await Promise.all(callers)).toEqual(['value', 'value', 'value', 'value', 'value']);
    expect(runs).toBe(1);
  });

  it('runs different keys independently', async () => {
    const flights = new SingleFlight<string>();
    let runs = 0;
    const [a, b] = await Promise.all([flights.run('a', async () => `a${++runs}`), flights.run('b', async () => `b${++runs}`)]);
    expect(runs).toBe(2);
    expect([a, b].sort()).toEqual(['a1', 'b2'].sort());
  });

  it('delivers a rejection to every caller without an unhandled rejection', async () => {
    const flights = new SingleFlight<string>();
    const gate = deferred<string>();
    let runs = 0;
    const callers = Array.from({ length: 3 }, () =>
      flights.run('k', () => {
        runs++;
        return gate.promise;
      }),
    );
    const failure = new Error('upstream down');
    gate.reject(failure);

    const outcomes = await Promise.allSettled(callers);
    expect(runs).toBe(1);
    for (const outcome of outcomes) expect(outcome).toEqual({ status: 'rejected', reason: failure });

    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(unhandled).toEqual([]);
  });

  it('leaves no unhandled rejection when no caller is waiting any more', async () => {
    const flights = new SingleFlight<string>();
    const gate = deferred<string>();
    // A caller that stopped waiting (stale-if-error served it already) holds no handler on the flight.
    void flights.run('k', () => gate.promise);
    gate.reject(new Error('late failure'));

    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(unhandled).toEqual([]);
    expect(flights.size).toBe(0);
  });

  it('turns a synchronous throw of the work function into a rejection', async () => {
    const flights = new SingleFlight<string>();
    const failure = new Error('thrown before any await');
    let runs = 0;
    const work = (): Promise<string> => {
      runs++;
      throw failure;
    };

    let first: Promise<string> | undefined;
    let second: Promise<string> | undefined;
    expect(() => {
      first = flights.run('k', work);
      second = flights.run('k', work);
    }).not.toThrow();
    expect(first).toBeInstanceOf(Promise);
    await expect(first).rejects.toBe(failure);
    await expect(second).rejects.toBe(failure);
    expect(runs).toBe(1);
    expect(flights.size).toBe(0);

    // The key is free again, and nothing leaked as an unhandled rejection.
    expect(await flights.run('k', async () => 'recovered')).toBe('recovered');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(unhandled).toEqual([]);
  });

  it('leaves no unhandled rejection for a synchronous throw nobody awaits', async () => {
    const flights = new SingleFlight<string>();
    void flights.run('k', () => {
      throw new Error('nobody listens');
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(unhandled).toEqual([]);
    expect(flights.size).toBe(0);
  });

  it('runs again after a flight resolved', async () => {
    const flights = new SingleFlight<number>();
    let runs = 0;
    expect(await flights.run('k', async () => ++runs)).toBe(1);
    expect(flights.size).toBe(0);
    expect(await flights.run('k', async () => ++runs)).toBe(2);
    expect(runs).toBe(2);
  });

  it('runs again after a flight rejected', async () => {
    const flights = new SingleFlight<number>();
    let runs = 0;
    await expect(
      flights.run('k', async () => {
        runs++;
        throw new Error('first fails');
      }),
    ).rejects.toThrow('first fails');
    expect(flights.size).toBe(0);
    expect(await flights.run('k', async () => ++runs)).toBe(2);
  });

  it('starts a fresh flight for a caller arriving after the previous one settled', async () => {
    const flights = new SingleFlight<string>();
    const first = deferred<string>();
    const second = deferred<string>();
    const a = flights.run('k', () => first.promise);
    first.resolve('old');
    expect(await a).toBe('old');

    const b = flights.run('k', () => second.promise);
    const c = flights.run('k', async () => 'should not run');
    second.resolve('new');
    expect(await b).toBe('new');
    expect(await c).toBe('new');
  });
});
