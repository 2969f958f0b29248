// The primary's lease table for its workers: who holds which digest (or tag), and the temp file it announced.
//
// No expiry and no renewal: the primary sees a worker die (the cluster's exit event) and drops its leases at
// once, so a take-over starts within one poll instead of a lease period (what Redis needs across hosts).
import { randomBytes } from 'node:crypto';
import { checkedFlightFile, type FlightFile } from '../cache/flight-locks.js';
import type { LockScope } from './messages.js';

interface Held {
  readonly worker: number;
  readonly token: string;
  file: FlightFile | undefined;
  /** Another worker has asked for the announced file: the holder's growth news has someone to wake. */
  followed: boolean;
}

export class LockTable {
  private readonly held = new Map<string, Held>();

  /** A token for `worker`, or undefined when another holds the key. */
  acquire(worker: number, scope: LockScope, key: string): string | undefined {
    const id = `${scope}\n${key}`;
    if (this.held.has(id)) return undefined;
    const token = randomBytes(8).toString('hex');
    this.held.set(id, { worker, token, file: undefined, followed: false });
    return token;
  }

  announce(scope: LockScope, key: string, token: string, file: unknown): void {
    const held = this.held.get(`${scope}\n${key}`);
    if (held?.token === token) held.file = checkedFlightFile(file);
  }

  release(scope: LockScope, key: string, token: string): void {
    const id = `${scope}\n${key}`;
    if (this.held.get(id)?.token === token) this.held.delete(id);
  }

  holder(scope: LockScope, key: string): { file: FlightFile | undefined } | undefined {
    const held = this.held.get(`${scope}\n${key}`);
    return held ? { file: held.file } : undefined;
  }

  /**
   * `asker` learnt the holder's file: the holder's worker the first time another worker does (it then sends its
   * growth news), else undefined.
   */
  followedBy(scope: LockScope, key: string, asker: number): number | undefined {
    const held = this.held.get(`${scope}\n${key}`);
    if (!held || held.file === undefined || held.followed || held.worker === asker) return undefined;
    held.followed = true;
    return held.worker;
  }

  /** Drops every lease of a worker that is gone; the leases it held (their waiters are told). */
  drop(worker: number): Array<{ scope: LockScope; key: string }> {
    const dropped: Array<{ scope: LockScope; key: string }> = [];
    for (const [id, held] of this.held) {
      if (held.worker !== worker) continue;
      this.held.delete(id);
      const split = id.indexOf('\n');
      dropped.push({ scope: id.slice(0, split) as LockScope, key: id.slice(split + 1) });
    }
    return dropped;
  }

  get size(): number {
    return this.held.size;
  }
}
