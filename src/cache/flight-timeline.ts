// A cold download's timeline across processes, at logLevel debug: one line per step, with a wall-clock time
// comparable between the workers and replicas of one host (issue 17, the cold herd's first byte).
//
// Why a line per step and not a metric: what the herd needs is the order of events across processes (lease
// lost here at t, holder's upstream answered there at t', follower woken at t''), which no histogram keeps.
// `npm run bench:herd` with BENCH_TRACE=1 runs tender at debug and prints these lines against its clients'
// own times. Off (any level above debug) a step costs one boolean test.
import type { Logger } from '../log.js';
import type { RandomAccess } from './blob-store.js';

export type TimelineStep =
  /** A request for the blob reached the blob cache (after routing and authentication). */
  | 'request'
  /** The lease decision (`claim`: start, local, remote, committed; `ms`: the time the decision took). */
  | 'claimed'
  /** This process downloads: about to send the upstream GET (the temp file is created while it is on its way). */
  | 'download'
  /** Upstream answered with headers and a length. */
  | 'upstream headers'
  /** The first upstream bytes are in the temp file. */
  | 'first bytes written'
  /** The temp file is named in the lease (others may follow it now). */
  | 'announced'
  /** This process follows another's temp file. */
  | 'following'
  /** The follower read its first bytes of the other process's file. */
  | 'first bytes followed'
  /** A response is about to send its head (its body comes from the download). */
  | 'response'
  /** A response read its first body bytes (written to the socket next). */
  | 'first body bytes';

export class FlightTimeline {
  private readonly on: boolean;

  constructor(private readonly log: Logger) {
    this.on = log.isLevelEnabled('debug');
  }

  get enabled(): boolean {
    return this.on;
  }

  mark(digest: string, step: TimelineStep, fields?: Record<string, unknown>): void {
    if (!this.on) return;
    // Epoch milliseconds with a fraction: the same clock in every process of the host, finer than pino's `time`.
    this.log.debug(
      { digest, step, at: Math.round((performance.timeOrigin + performance.now()) * 1000) / 1000, pid: process.pid, ...fields },
      'flight timeline',
    );
  }

  /** A response's reader of a download, with its head and its first body bytes on the timeline (itself when off). */
  reader(digest: string, access: RandomAccess): RandomAccess {
    if (!this.on) return access;
    this.mark(digest, 'response');
    let first = true;
    return {
      read: async (buffer, position) => {
        const got = await access.read(buffer, position);
        if (first && got > 0) {
          first = false;
          this.mark(digest, 'first body bytes', { bytes: got });
        }
        return got;
      },
      close: () => access.close(),
    };
  }
}
