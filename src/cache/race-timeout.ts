// Waiting for work no longer than a deadline, without cancelling it: a revalidation that is slow goes on in
// the background (it records what it learns) while the last known digest is served.
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
