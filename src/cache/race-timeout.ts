// Waiting for work no longer than a deadline, without cancelling it: a revalidation that is slow goes on in
// the background (it records what it learns) while the last known digest is served; a judgement whose
// caller gave up finishes on its own (it fills the cache).
import { setTimeout as sleep } from 'node:timers/promises';

export class RaceTimeout extends Error {}

/** The work's result, or a RaceTimeout after `ms`; the timer never outlives the race. */
export async function raceTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      work,
      sleep(ms, undefined, { signal: timer.signal }).then(() => {
        throw new RaceTimeout(`no upstream answer within ${ms} ms`);
      }),
    ]);
  } finally {
    timer.abort();
  }
}

/** The work's result, or undefined once `signal` fires (the work is left to finish on its own; its failure is then nobody's). */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.resolve(undefined);
  }
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}
