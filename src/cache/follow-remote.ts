// Following another process's download of a blob from its temp file (a worker on this host, or a replica on the
// shared volume): the RemoteFlight that BlobCache joins like a flight of its own. Out of blob-cache.ts for length.
import { describeError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { Logger } from '../log.js';
import type { BlobCacheOptions, BlobParts, Flight } from './blob-answer.js';
import type { FlightFile } from './flight-locks.js';
import type { FlightTimeline } from './flight-timeline.js';
import type { Route } from './ports.js';
import { RemoteFlight, type TakenOver } from './remote-flight.js';

export interface FollowContext {
  readonly parts: BlobParts;
  readonly options: BlobCacheOptions;
  readonly shutdown: AbortSignal;
  readonly log: Logger;
  /** The cache's flights by digest: the follower is one of them while it runs. */
  readonly flights: Map<string, Flight>;
  /** Who supplies the bytes from `from` on once the holder `gone` died. */
  readonly takeOver: (route: Route, digest: Digest, gone: RemoteFlight, from: number) => Promise<TakenOver | undefined>;
  readonly timeline: FlightTimeline;
}

/** Follows the holder's temp file; undefined when the file cannot be opened (gone already) or a download started here. */
export async function followRemote(context: FollowContext, route: Route, digest: Digest, file: FlightFile): Promise<RemoteFlight | undefined> {
  const { parts, flights, log, timeline } = context;
  const existing = flights.get(digest.value);
  if (existing instanceof RemoteFlight) return existing;
  if (existing) return undefined; // a download started here meanwhile: the claim's next look joins it
  const access = await parts.store.openTemp(file.name).catch(() => undefined);
  if (!access) return undefined;
  if (file.link !== undefined) parts.visibility.learn(file.link, digest);
  timeline.mark(digest.value, 'following', { file: file.name });
  // Woken as the holder's file grows (its growth news), not only by the pauses between reads.
  const changes = parts.cluster.watch(digest.value);
  const flight: RemoteFlight = new RemoteFlight(digest, file, {
    access,
    stillHeld: () => parts.cluster.stillHeld(digest.value, file.name),
    takeOver: (from) => context.takeOver(route, digest, flight, from),
    committed: async () => (await parts.stored.adopt(digest)) === file.size,
    wait: (ms) => changes.wait(ms),
    ...(timeline.enabled ? { onFirstBytes: (bytes: number) => timeline.mark(digest.value, 'first bytes followed', { bytes }) } : {}),
    signal: AbortSignal.any([context.shutdown, AbortSignal.timeout(context.options.flightTimeoutMs)]),
    onEnd: () => {
      changes.close();
      if (flights.get(digest.value) === flight) flights.delete(digest.value);
      if (flight.state === 'failed') log.warn({ digest: digest.value, err: describeError(flight.error) }, 'followed download failed; its readers were cut off');
    },
  });
  flights.set(digest.value, flight);
  void flight.run();
  return flight;
}
