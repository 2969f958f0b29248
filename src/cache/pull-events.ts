// The pull-audit port: one event per manifest served to a client, handed to a sink that must never slow the pull.
//
// The pull path builds a PullEvent once the manifest's digest is known and calls emit(); delivery (a JSON-lines
// file, a notification listener) happens behind the port, asynchronously, in src/audit/. Events are not rows in
// the metadata store: Harbor made its audit rows optional after they exhausted databases (ARCHITECTURE.md §5).

/**
 * Where the manifest came from, as the client saw it. A closed set of its own rather than the metric label
 * type: the event formats are an external contract and must not change when a metric gains a value.
 * `stale` is a tag served from the last known digest while upstream was unreachable (stale-if-error).
 */
export type PullCacheResult = 'hit' | 'miss' | 'joined' | 'stale';

/** One manifest pull: what was served, to whom, from where. */
export interface PullEvent {
  /** Unique per event (a UUID); the same in every sink, so a listener can drop a redelivered duplicate. */
  readonly id: string;
  /** Epoch ms, from the core's clock, when the response was decided. */
  readonly time: number;
  readonly digest: string;
  /** The manifest's media type as stored (and served). */
  readonly mediaType: string;
  readonly size: number;
  /** The tag the client asked for; absent for a pull by digest. */
  readonly tag?: string;
  /** Logical upstream name (`docker.io`). */
  readonly upstream: string;
  /** The repository inside the upstream (`library/nginx`). */
  readonly repository: string;
  readonly cacheResult: PullCacheResult;
  /** GET or HEAD: containerd resolves a tag with HEAD and then GETs by digest, so both say who resolved what. */
  readonly method: 'GET' | 'HEAD';
  /** The TCP peer's address, as the HTTP layer saw it. */
  readonly clientAddress: string;
  readonly userAgent?: string;
  /** The authenticated client identity, when client auth is on (`alice`, `token:ci`). */
  readonly identity?: string;
  /** The request id tender logged and answered in x-request-id. */
  readonly requestId: string;
  /** The Host header the client sent (the name it reached tender by). */
  readonly host?: string;
}

/**
 * Where the core sends pull events. emit() is a synchronous hand-off: it must return at once, never block on
 * I/O and never throw, whatever happens to delivery; an event a sink cannot take is counted as dropped there.
 */
export interface PullEventSink {
  emit(event: PullEvent): void;
}
