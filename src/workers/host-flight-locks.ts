// FlightLocks for the workers of one host, held in the primary process (lock-table.ts) over IPC.
import { checkedFlightFile, type FlightHolder, type FlightLease, type FlightLocks } from '../cache/flight-locks.js';
import type { LockScope } from './messages.js';
import type { WorkerLink } from './worker-link.js';

export class HostFlightLocks implements FlightLocks {
  constructor(
    private readonly link: WorkerLink,
    private readonly scope: LockScope,
  ) {}

  async acquire(key: string): Promise<FlightLease | undefined> {
    const token = await this.link.call({ op: 'acquire', scope: this.scope, key });
    if (typeof token !== 'string') return undefined;
    let released = false;
    // Growth news only once another worker follows the file (the primary says so): a download nobody follows
    // sends no message per growth.
    let followed = false;
    const unwatch = this.link.watchLease(this.scope, key, () => (followed = true));
    return {
      announce: async (file) => {
        if (!released) await this.link.call({ op: 'announce', scope: this.scope, key, token, file }).catch(() => undefined);
      },
      release: async () => {
        if (released) return;
        released = true;
        unwatch();
        // A release that does not arrive is dropped with this worker when it exits; the primary never loses it otherwise.
        await this.link.call({ op: 'release', scope: this.scope, key, token }).catch(() => undefined);
      },
      // News, not a call: nobody waits for it, and the primary relays it to the other workers.
      grew: () => {
        if (!released && followed) this.link.tell({ kind: 'lease', scope: this.scope, key });
      },
    };
  }

  watch(key: string, changed: () => void): () => void {
    return this.link.watchLease(this.scope, key, changed);
  }

  async holder(key: string): Promise<FlightHolder | undefined> {
    const value = await this.link.call({ op: 'holder', scope: this.scope, key });
    if (typeof value !== 'object' || value === null) return undefined;
    return { file: checkedFlightFile((value as { file?: unknown }).file) };
  }
}
