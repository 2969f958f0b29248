// One tag revalidation at a time across processes (workers of a host through the primary, replicas through
// Redis): the process holding the lease asks upstream; the others wait for the record it writes to the shared
// metadata store, so a window's expiry costs one HEAD per host or cluster, not one per process.
import { setTimeout as sleep } from 'node:timers/promises';
import type { FlightLease, FlightLocks } from './flight-locks.js';
import type { TagRecord } from './metadata-store.js';

/** The process that revalidated the tag wrote no newer record (its HEAD failed): served stale here too, logged there. */
export class RevalidatedElsewhereFailed extends Error {}

/** Pauses while another process revalidates: short first, then up to this. */
const longestRecordPollMs = 50;

/** This process's claim on revalidating `key`: undefined without coordination, 'elsewhere' while another process holds it. */
async function revalidationLease(locks: FlightLocks | undefined, key: string): Promise<FlightLease | undefined | 'elsewhere'> {
  if (!locks) return undefined;
  try {
    return (await locks.acquire(key)) ?? 'elsewhere';
  } catch {
    return undefined; // the lock service is down: revalidate here (counted where the lock service is)
  }
}

/** `own` runs here under the lease on `key`; while another process holds it, `elsewhere` waits for its record instead. */
export async function underRevalidationLease(
  locks: FlightLocks | undefined,
  key: string,
  own: () => Promise<TagRecord>,
  elsewhere: (locks: FlightLocks) => Promise<TagRecord>,
): Promise<TagRecord> {
  const lease = await revalidationLease(locks, key);
  if (lease === 'elsewhere') return elsewhere(locks!);
  try {
    return await own();
  } finally {
    await lease?.release();
  }
}

/**
 * Waits until `deadlineMs` (epoch) for a record newer than `record` written by the process holding the lease
 * on `key`; throws RevalidatedElsewhereFailed when the holder lets go without writing one.
 */
export async function revalidatedElsewhere(
  locks: FlightLocks,
  key: string,
  read: () => Promise<TagRecord | undefined>,
  record: TagRecord,
  clock: () => number,
  deadlineMs: number,
): Promise<TagRecord> {
  for (let pause = 2, holderGone = false; clock() < deadlineMs; pause = Math.min(pause * 2, longestRecordPollMs)) {
    const stored = await read().catch(() => undefined);
    if (stored && stored.checkedAt > record.checkedAt) return stored;
    // One more read after the holder let go: its write may have landed just before.
    if (holderGone) break;
    holderGone = !(await locks.holder(key).catch(() => undefined));
    if (!holderGone) await sleep(pause);
  }
  throw new RevalidatedElsewhereFailed(`the revalidation of ${key} in another process did not record a newer answer`);
}
