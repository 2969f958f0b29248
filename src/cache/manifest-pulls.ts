// The core's pull seam: one notice per manifest served to a client, for the inventory and the pull audit (issue 15).
//
// Called on the request path, so it must cost nothing: an implementation takes the event into a bounded
// queue and returns at once (delivery to a file or an HTTP listener happens elsewhere, dropping and
// counting when the queue is full). The core calls it after the answer is decided and never awaits it;
// an implementation that throws anyway is caught and ignored (a listener never fails a pull).
import type { CacheResult } from '../metrics.js';

export interface ManifestPull {
  /** Epoch ms, from the core's clock. */
  readonly at: number;
  readonly upstream: string;
  readonly repository: string;
  readonly digest: string;
  readonly mediaType: string;
  /** The tag asked for, when the manifest was asked for by tag. */
  readonly tag: string | undefined;
  readonly result: CacheResult;
  /** A HEAD resolves without pulling: the audit may count it apart. */
  readonly head: boolean;
}

export interface ManifestPulls {
  /** Takes one event; returns at once and never throws (see the header). */
  pulled(pull: ManifestPull): void;
}

/** The default: nobody listens. */
export const noManifestPulls: ManifestPulls = { pulled: () => undefined };

/** Hands `pull` to `pulls` as the header promises: a listener that throws anyway never fails a pull. */
export function announcePull(pulls: ManifestPulls, pull: ManifestPull): void {
  try {
    pulls.pulled(pull);
  } catch {
    // ignored on purpose (see the header)
  }
}
