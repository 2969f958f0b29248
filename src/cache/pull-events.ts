// The pull event: one per manifest served to a client, for the pull audit (src/audit/) and the inventory's aggregates.
//
// One concept, built in one place: the HTTP layer hands the client's context (PullClient) into the core's manifest
// call, and the core, once the answer is decided, builds the PullEvent and hands it to its PullEventSink and to the
// inventory. Neither is awaited: emit() is a synchronous hand-off into a bounded queue (delivery to a file or a
// listener happens later, in src/audit/), and an emit that throws anyway is caught (a listener never fails a pull).
// Events are not rows in the metadata store: Harbor made its audit rows optional after they exhausted databases.
// Seed's image walk and `judge` resolve through the same path without emitting: they are not client pulls.

/**
 * Where the manifest came from, as the client saw it. A closed set of its own rather than the metric label
 * type: the event formats are an external contract and must not change when a metric gains a value.
 * `stale` is a tag served from the last known digest while upstream was unreachable (stale-if-error).
 */
export type PullCacheResult = 'hit' | 'miss' | 'joined' | 'stale';

/** Who asked, as the HTTP layer saw the request; passed into the core's manifest call. */
export interface PullClient {
  /** The TCP peer's address. */
  readonly address: string;
  readonly userAgent?: string;
  /** The authenticated client identity, when client auth is on (`alice`, `token:ci`). */
  readonly identity?: string;
  /** The request id tender logged and answered in x-request-id. */
  readonly requestId: string;
  /** The Host header the client sent (the name it reached tender by). */
  readonly host?: string;
}

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
