// What the primary process and its workers say to each other over the cluster's IPC channel.
//
// Every message carries `tender`, so prom-client's own aggregation messages (and anything else on the
// channel) are told apart. Messages come from processes of this tender, but are checked like any input:
// a worker that sends nonsense is logged, not obeyed.
import type { FlightFile } from '../cache/flight-locks.js';

/** Lease tables: flights (downloads) and tag revalidations. */
export type LockScope = 'flight' | 'tag';

export type Call =
  | { readonly op: 'acquire'; readonly scope: LockScope; readonly key: string }
  | { readonly op: 'announce'; readonly scope: LockScope; readonly key: string; readonly token: string; readonly file: FlightFile }
  | { readonly op: 'release'; readonly scope: LockScope; readonly key: string; readonly token: string }
  | { readonly op: 'holder'; readonly scope: LockScope; readonly key: string }
  | { readonly op: 'metrics' };

export type News =
  | { readonly kind: 'committed'; readonly digest: string; readonly size: number }
  /**
   * A lease changed (taken over, its temp file announced, the file grew, released): its waiters look again at
   * once instead of at their next poll. The primary sends it on announce and release; a holder's worker sends
   * it as its file grows (throttled), and the primary relays it to the other workers.
   */
  | { readonly kind: 'lease'; readonly scope: LockScope; readonly key: string }
  | { readonly kind: 'evicted'; readonly digests: readonly string[] }
  | { readonly kind: 'touched'; readonly digests: readonly string[] };

export type WorkerMessage =
  | { readonly tender: 'call'; readonly id: number; readonly call: Call }
  | { readonly tender: 'news'; readonly news: News }
  /** Listening and serving. */
  | { readonly tender: 'ready' }
  /** This worker's metrics (prom-client's `getMetricsAsJSON`), answering the primary's request `id`. */
  | { readonly tender: 'metrics'; readonly id: number; readonly value?: unknown; readonly error?: string };

export type PrimaryMessage =
  | { readonly tender: 'reply'; readonly id: number; readonly value?: unknown; readonly error?: string }
  | { readonly tender: 'news'; readonly news: News }
  /** This worker owns eviction for the host from now on. */
  | { readonly tender: 'owner' }
  /** Drain and exit (SIGTERM reached the primary). */
  | { readonly tender: 'stop' }
  /** Send your metrics (for one aggregated /metrics answer). */
  | { readonly tender: 'metrics'; readonly id: number };

export function isTenderMessage(message: unknown): message is { tender: string } {
  return typeof message === 'object' && message !== null && typeof (message as { tender?: unknown }).tender === 'string';
}
