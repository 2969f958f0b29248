// Blobs by digest: a hit is served from what is committed, a miss joins the download in progress or starts one.
//
// When a request may join a flight (a download in this process, in `flights`):
// - from the moment it starts until it ends, unless the disk failed under it: a flight whose bytes no
//   longer reach the disk keeps them in a bounded memory window for the readers already attached, and
//   leaves `flights` at once so that nobody new depends on that window;
// - only once upstream answered with headers (`started`): a joiner of a flight whose start failed gets
//   that failure (a 404 is an answer for everybody who asked at the same moment);
// - only when its repository may see the digest: the one that started it, any repository of a public
//   upstream, or, on a private upstream, a repository upstream confirms with a HEAD first (visibility.ts);
// - a joiner reads the temp file from its own position (a Range starts there); the last chunk is held
//   back until the digest matched, and a mismatch cuts every reader before its last byte;
// - a late joiner: once committed the blob is in the index and the request is a hit; a request that
//   joined just before the end and opens its body after the temp file closed reads the committed file.
// A failed flight leaves `flights` when it ends; the next request starts a new one. Across processes
// sharing the volume, cluster-flight.ts decides who downloads; a process that does not download follows the
// holder's temp file (remote-flight.ts), and that follower is joined here like a flight of this process.
import { describeError, OciError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { Logger } from '../log.js';
import type { CacheResult, Metrics } from '../metrics.js';
import { followToCommit, unavailable, type BlobAnswer, type BlobCacheOptions, type BlobParts, type Flight, type Obtained } from './blob-answer.js';
import { BlobFlight } from './blob-flight.js';
import { FlightTimeline } from './flight-timeline.js';
import { followRemote, type FollowContext } from './follow-remote.js';
import { GrowthNews } from './growth-news.js';
import { DamagedBlobError, DigestMismatchError, DiskWriteError } from './blob-store.js';
import type { FlightFile, FlightLease } from './flight-locks.js';
import { RemoteFlight, type TakenOver } from './remote-flight.js';
import type { Route } from './ports.js';
import { CachedCopyGone, type OpenBlob } from './serve-verification.js';
import { SingleFlight } from './single-flight.js';

export type { BlobAnswer, BlobCacheOptions, BlobParts } from './blob-answer.js';

export class BlobCache {
  private readonly flights = new Map<string, Flight>();
  private readonly heads = new SingleFlight<{ size: number | undefined }>();
  private readonly fetches = new SingleFlight<BlobAnswer>();
  private readonly following: FollowContext;
  /** Debug lines of a cold download's steps across processes (flight-timeline.ts). */
  private readonly timeline: FlightTimeline;

  constructor(
    private readonly parts: BlobParts,
    private readonly options: BlobCacheOptions,
    private readonly shutdown: AbortSignal,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    const takeOver = (route: Route, digest: Digest, gone: RemoteFlight, from: number) => this.takeOver(route, digest, gone, from);
    this.timeline = new FlightTimeline(log);
    this.following = { parts, options, shutdown, log, flights: this.flights, takeOver, timeline: this.timeline };
  }

  /** `recovering`: this request found its cached copy damaged and asks again; it may not recover twice. */
  async blob(route: Route, digest: Digest, request: { head: boolean }, recovering = false): Promise<BlobAnswer> {
    const size = this.parts.stored.size(digest);
    if (size !== undefined) {
      const answer = await this.hit(route, digest, size, request.head, recovering);
      // Undefined: the file was damaged or gone, and is dropped: fetched below like any miss.
      if (answer) return answer;
    }
    this.timeline.mark(digest.value, 'request');
    const flight = this.flights.get(digest.value);
    if (flight) return this.answer(await this.join(route, digest, flight));
    // Another replica sharing the cache volume may have committed it.
    const committed = await this.committedElsewhere(route, digest, request.head, recovering);
    if (committed) return committed;
    if (request.head) {
      const head = await this.headUpstream(route, digest);
      await this.parts.visibility.remember(route, digest);
      return { size: head.size, result: 'miss' };
    }
    // One decision per digest (per repository of a private upstream) however many local clients ask.
    const key = route.upstream.private ? `${route.upstream.name}/${route.repository}@${digest.value}` : digest.value;
    return this.fetches.run(key, async () => {
      const got = await this.obtain(route, digest, false);
      return 'answer' in got ? got.answer : this.answer(got);
    });
  }

  /**
   * Resolves once `digest` is committed (fetched now, joined, or already cached), without a reader: what
   * `tender seed` waits for. `onBytes` follows the download. Throws what the download failed with, or
   * UNAVAILABLE when the verified blob could not be stored.
   */
  async prefetch(route: Route, digest: Digest, options: { pin: boolean; onBytes?: (bytes: number) => void }): Promise<{ fetched: number }> {
    let fetched = 0;
    if ((this.parts.stored.size(digest) ?? (await this.parts.stored.adopt(digest))) !== undefined) {
      await this.confirm(route, digest);
    } else {
      const local = this.flights.get(digest.value);
      const got = local ? await this.join(route, digest, local) : await this.obtain(route, digest, true);
      if ('flight' in got) fetched = await followToCommit(got.flight, digest, options.onBytes);
    }
    if (options.pin) await this.parts.stored.pin(digest);
    return { fetched };
  }

  /** Downloads here, waits for another replica's download, or finds it committed meanwhile (cluster-flight.ts). */
  private async obtain(route: Route, digest: Digest, unattended: boolean): Promise<Obtained> {
    const claiming = performance.now();
    const claim = await this.parts.cluster.claim<Flight, BlobAnswer>(digest.value, {
      local: () => this.flights.get(digest.value),
      committed: () => this.committedElsewhere(route, digest, false, false),
      remote: (file) => followRemote(this.following, route, digest, file),
    });
    this.timeline.mark(digest.value, 'claimed', { claim: claim.kind, ms: Math.round((performance.now() - claiming) * 10) / 10 });
    if (claim.kind === 'committed') return { answer: { ...claim.found, result: 'joined' } };
    if (claim.kind === 'local' || claim.kind === 'remote') return this.join(route, digest, claim.flight);
    const existing = this.flights.get(digest.value);
    if (existing) {
      await claim.lease?.release();
      return this.join(route, digest, existing);
    }
    const flight = this.start(route, digest, claim.lease, unattended);
    await flight.started;
    return { flight, result: 'miss' };
  }

  /**
   * The holder `gone` followed has died: whoever downloads the digest now (this process, after winning the
   * lease, or another that did) supplies the bytes from `from` on. Undefined when nobody can (the readers are cut).
   */
  private async takeOver(route: Route, digest: Digest, gone: RemoteFlight, from: number): Promise<TakenOver | undefined> {
    if (this.flights.get(digest.value) === gone) this.flights.delete(digest.value);
    const got = await this.obtain(route, digest, false).catch(() => undefined);
    if (!got) return undefined;
    if ('answer' in got) {
      // Committed meanwhile (the holder got it onto the volume after all, or another took over and finished).
      const size = got.answer.size;
      const opened = size === gone.size && got.answer.file ? await got.answer.file(from, size - 1).catch(() => undefined) : undefined;
      if (!opened) return undefined;
      const access = { read: opened.access.read.bind(opened.access), close: async () => (await opened.access.close(), opened.done()) };
      return { follow: access, serve: access };
    }
    if (got.flight === gone || got.flight.size !== gone.size) return undefined;
    this.log.warn({ digest: digest.value, at: from }, 'the process downloading a followed blob is gone; going on with the download that replaces it');
    return { follow: got.flight.cursor(from), serve: got.flight.cursor(from) };
  }

  private async join(route: Route, digest: Digest, flight: Flight): Promise<{ flight: Flight; result: CacheResult }> {
    await flight.started;
    await this.confirm(route, digest);
    return { flight, result: 'joined' };
  }

  /** A blob found committed on disk though not indexed (another replica's commit), served as a hit. */
  private async committedElsewhere(route: Route, digest: Digest, head: boolean, recovering: boolean): Promise<BlobAnswer | undefined> {
    const size = await this.parts.stored.adopt(digest);
    return size === undefined ? undefined : this.hit(route, digest, size, head, recovering);
  }

  /**
   * A digest cached (or arriving) for one repository is served to another only when visibility allows
   * it; otherwise the asking repository's upstream must confirm with a HEAD that it holds the digest.
   */
  private async confirm(route: Route, digest: Digest): Promise<void> {
    if (await this.parts.visibility.allows(route, digest)) return;
    await this.headUpstream(route, digest);
    await this.parts.visibility.remember(route, digest);
  }

  /** One upstream HEAD per repository and digest at a time, however many clients ask; its size is remembered. */
  private headUpstream(route: Route, digest: Digest): Promise<{ size: number | undefined }> {
    const key = `${route.upstream.name}/${route.repository}@${digest.value}`;
    return this.heads.run(key, async () => {
      const head = await route.upstream.headBlob(route.repository, digest.value, AbortSignal.timeout(this.options.upstreamTimeoutMs));
      this.parts.knownSizes.learn(route, digest.value, head.size);
      return head;
    });
  }

  /**
   * A hit's answer; undefined when the cached file turned out damaged or gone (dropped now), and the caller
   * fetches it like a miss. A small blob read from disk is hashed. When the size this repository's manifest
   * gave disagrees with the file, the file is hashed before any header is sent (a manifest can be wrong too).
   */
  private async hit(route: Route, digest: Digest, size: number, head: boolean, recovering: boolean): Promise<BlobAnswer | undefined> {
    const stored = this.parts.stored;
    await this.confirm(route, digest);
    // Content cached through another repository is pinned once a pinned repository asks for it.
    if (!stored.isPinned(digest) && stored.pinnedThrough(route)) await stored.pin(digest);
    const known = stored.inMemory(digest) ? undefined : this.parts.knownSizes.get(route, digest.value);
    if (known !== undefined && known !== size && !(await stored.checkWhole(digest, size))) return undefined;
    if (head) return (await stored.sizeUnchanged(digest, size)) ? { size, result: 'hit' } : undefined;
    const file = (start: number, end: number): Promise<OpenBlob> => this.serveCommitted(route, digest, size, start, end, recovering);
    if (size > this.options.smallBlobBytes) return { size, result: 'hit', file };
    const bytes = await stored.smallBlob(digest, size);
    return bytes ? { size, result: 'hit', bytes, file } : undefined;
  }

  /** `hit`'s rules from memory alone, with no await, else undefined (`blob` decides); never HEAD (it stats the file). */
  hitNow(route: Route, digest: Digest, size: number): BlobAnswer | undefined {
    const stored = this.parts.stored;
    if (!this.parts.visibility.knows(route, digest) || (!stored.isPinned(digest) && stored.pinnedThrough(route))) return undefined;
    const file = (start: number, end: number): Promise<OpenBlob> => this.serveCommitted(route, digest, size, start, end, false);
    if (size <= this.options.smallBlobBytes) {
      const bytes = stored.remembered(digest);
      return bytes ? { size, result: 'hit', bytes, file } : undefined;
    }
    const known = this.parts.knownSizes.get(route, digest.value);
    return known === undefined || known === size ? { size, result: 'hit', file } : undefined;
  }

  /**
   * Opens a cached blob for sending; when it turns out damaged or gone (dropped now), this request is
   * answered from a fresh download instead, as long as that has the size the response announced.
   */
  private async serveCommitted(route: Route, digest: Digest, size: number, start: number, end: number, recovering: boolean): Promise<OpenBlob> {
    try {
      return await this.parts.stored.open(digest, size, start, end);
    } catch (err) {
      if (!(err instanceof DamagedBlobError || err instanceof CachedCopyGone)) throw unavailable(digest, err);
      const again = recovering ? undefined : await this.blob(route, digest, { head: false }, true);
      if (again?.file && again.size === size) return again.file(start, end);
      throw new OciError('UNAVAILABLE', `${err.message}; it was dropped from the cache, retry to fetch it again`);
    }
  }

  private answer({ flight, result }: { flight: Flight; result: CacheResult }): BlobAnswer {
    return {
      size: flight.size,
      result,
      // A flight that finished (and closed its temp file) before this reader came is read from the cache.
      file: async (start, end) =>
        flight.open
          ? { access: this.timeline.reader(flight.digest.value, flight.cursor(start)), done: () => undefined, live: flight.state !== 'complete' }
          : this.parts.stored.open(flight.digest, flight.size, start, end).catch((err: unknown) => {
              throw unavailable(flight.digest, err);
            }),
    };
  }

  private start(route: Route, digest: Digest, lease: FlightLease | undefined, unattended: boolean): BlobFlight {
    const upstream = route.upstream.name;
    const signal = AbortSignal.any([this.shutdown, AbortSignal.timeout(this.options.flightTimeoutMs)]);
    const context = { upstream, repository: route.repository, digest: digest.value };
    const pin = this.parts.stored.pinnedThrough(route);
    const limits = { expectedSize: this.parts.knownSizes.get(route, digest.value), maxBytes: this.options.maxBlobBytes };
    const growth = new GrowthNews(lease);
    const timeline = this.timeline;
    let firstBytes = timeline.enabled;
    timeline.mark(digest.value, 'download');
    const hooks = {
      onBytes: (bytes: number) => {
        this.metrics.upstreamBytes.inc({ upstream }, bytes);
        growth.grew();
        if (firstBytes) {
          firstBytes = false;
          timeline.mark(digest.value, 'first bytes written', { bytes });
        }
      },
      // Other processes waiting for this digest follow the temp file from now on. With the visibility link: a
      // follower checks it before it serves, and would ask upstream (a HEAD) while the link's write is under way.
      onStreaming: (file: FlightFile) => {
        timeline.mark(digest.value, 'upstream headers', { size: file.size });
        void lease?.announce({ ...file, link: this.parts.visibility.linkOf(route, digest) }).then(() => timeline.mark(digest.value, 'announced'));
      },
      onCommitted: (size: number) => this.parts.stored.committed(digest.value, size, pin),
      onMismatch: (err: Error) => {
        this.metrics.digestMismatches.inc({ upstream, kind: 'blob' });
        const what = err instanceof DigestMismatchError ? 'upstream blob does not match its digest' : 'upstream blob length refused';
        this.log.error({ ...context, err: err.message }, `${what}; not cached, clients cut off`);
      },
      onDiskFailure: (err: unknown) => {
        // New requests must not join: the window in memory only serves the readers already here.
        this.flights.delete(digest.value);
        const cause = err instanceof DiskWriteError ? err.cause : err;
        this.parts.writes.failed('blob', 'blob download', cause, context);
      },
      onResume: (at: number, err: unknown) => {
        this.metrics.upstreamResumes.inc({ upstream });
        this.log.warn({ ...context, at, err: describeError(err) }, 'upstream blob download broke off; resuming with a Range request');
      },
      onFailure: (err: unknown) => {
        if ((err as { status?: number }).status !== undefined && (err as { status: number }).status < 500) return; // a 404 is an answer
        this.log.warn({ ...context, err: describeError(err) }, 'upstream blob fetch failed');
      },
      onEnd: () => {
        growth.stop();
        void lease?.release();
        if (this.flights.get(digest.value) === flight) this.flights.delete(digest.value);
        this.metrics.flightsInProgress.dec({ upstream });
      },
    };
    const flight = new BlobFlight(digest, route, this.parts.store, signal, hooks, limits, unattended);
    this.flights.set(digest.value, flight);
    this.metrics.flightsInProgress.inc({ upstream });
    // Upstream answering 200 for this repository is what makes the digest visible to it; registered
    // before any joiner waits, so joiners through the same repository need no confirmation.
    flight.started.then(
      () => this.parts.visibility.remember(route, digest),
      () => undefined,
    );
    void flight.run();
    return flight;
  }
}
