// One upstream registry over undici: keep-alive pool, bearer/basic auth, safe redirects, bounded retries.
import { finished } from 'node:stream/promises';
import pLimit, { type LimitFunction } from 'p-limit';
import { LRUCache } from 'lru-cache';
import { Agent, errors as undiciErrors, request, type Dispatcher } from 'undici';
import type { UpstreamConfig } from '../config/upstreams.js';
import type { Upstream, UpstreamBlob, UpstreamManifest, UpstreamManifestHead, UpstreamPassthrough } from '../cache/ports.js';
import { OciError, describeError } from '../oci/errors.js';
import { registryHeaders } from '../oci/registry-headers.js';
import { formatLinkHeader, parseLinkHeader } from '../oci/link-header.js';
import { isManifestMediaType, manifestMediaType, maxManifestBytes } from '../oci/media-types.js';
import { parseChallenge, pullScope, type Challenge } from '../oci/www-authenticate.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { TokenCache, TokenRealmError } from './token-cache.js';

type Response = Dispatcher.ResponseData;
type Kind = 'manifest' | 'blob' | 'tags' | 'referrers';

interface SendOptions {
  readonly method: 'GET' | 'HEAD';
  /** A Range header, for resuming a blob download. */
  readonly range?: string;
  readonly path: string;
  readonly repository: string;
  readonly accept?: string;
  readonly signal: AbortSignal;
}

const maxRedirects = 5;
/**
 * The longest tender waits, in total, on retries of one request (Retry-After included). An upstream
 * that asks for more is answered at once: the client gets the 429 and its Retry-After, which
 * containerd honours itself, rather than a request held open until its deadline cuts it off.
 */
const maxBackoffMs = 10_000;
const maxPassthroughBytes = 4 * 1024 * 1024;
/** A refused token realm is logged once per realm in this interval. */
const refusalLogIntervalMs = 5 * 60_000;

export class RegistryClient implements Upstream {
  readonly name: string;
  readonly private: boolean;
  readonly offline = false;
  private readonly origin: string;
  private readonly agent: Agent;
  /** Redirect targets (blob CDNs) are other hosts: default trust roots, never our credentials. */
  private readonly foreignAgent: Agent;
  private readonly tokens: TokenCache;
  /** Set once upstream asked for Basic: later requests send it up front. */
  private basicChallenged = false;
  /** Requests beyond the upstream's concurrency wait here instead of failing, in two lanes (see limited). */
  private readonly downloadLane: LimitFunction;
  private readonly requestLane: LimitFunction;
  /** Token realms refused for credentials lately (logged once per interval each). */
  private readonly refusedRealms = new LRUCache<string, true>({ max: 100, ttl: refusalLogIntervalMs });

  constructor(
    private readonly config: UpstreamConfig,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>,
  ) {
    this.name = config.name;
    this.private = config.private;
    this.origin = config.url;
    const timeouts = {
      headersTimeout: config.headersTimeoutMs,
      bodyTimeout: config.idleTimeoutMs,
      keepAliveTimeout: 30_000,
      connections: config.connections,
    };
    this.agent = new Agent({
      ...timeouts,
      connect: {
        timeout: config.connectTimeoutMs,
        ...(config.ca ? { ca: config.ca } : {}),
        ...(config.insecure ? { rejectUnauthorized: false } : {}),
        // Mutual TLS: presented only when the server asks (CertificateRequest). The token realm shares this
        // agent, as it shares the credentials; the foreignAgent below never carries the identity.
        ...(config.clientCert !== undefined ? { cert: config.clientCert } : {}),
        ...(config.clientKey !== undefined ? { key: config.clientKey } : {}),
      },
    });
    this.foreignAgent = new Agent({ ...timeouts, connect: { timeout: config.connectTimeoutMs } });
    this.downloadLane = pLimit(config.concurrency);
    this.requestLane = pLimit(config.concurrency);
    this.tokens = new TokenCache({
      upstream: config.name,
      dispatcher: this.agent,
      credentials: { username: config.username, password: config.password },
      realms: { upstreamUrl: config.url, insecure: config.insecure, tokenRealms: config.tokenRealms },
      timeoutMs: config.headersTimeoutMs,
      onFetch: (result) => metrics.tokenFetches.inc({ upstream: config.name, result }),
      onRefusedRealm: (realm, reason) => {
        if (this.refusedRealms.has(realm.origin)) return;
        this.refusedRealms.set(realm.origin, true);
        log.warn({ realm: realm.origin + realm.pathname, reason }, 'credentials not sent to the token realm the upstream named; asking for an anonymous token');
      },
    });
  }

  getManifest(repository: string, reference: string, accept: string, signal: AbortSignal): Promise<UpstreamManifest> {
    return this.limited(signal, `manifest ${repository}:${reference}`, async () => {
      const response = await this.send({ method: 'GET', path: `/v2/${repository}/manifests/${reference}`, repository, accept, signal });
      await this.expectOk(response, 'manifest', repository, reference);
      const body = await readCapped(response, maxManifestBytes, `manifest ${repository}:${reference}`);
      const contentType = mediaTypeOf(response);
      // The stored type is what clients get as Content-Type: it must be a manifest type, and the body a manifest.
      const mediaType = manifestMediaType(body, contentType);
      if (mediaType === undefined) {
        throw new OciError(
          'UPSTREAM_ERROR',
          `upstream ${this.name} answered manifest ${repository}:${reference} with a body that is not a manifest (Content-Type ${clip(contentType ?? 'none')})`,
        );
      }
      return { body, mediaType, digest: header(response, registryHeaders.contentDigest) };
    });
  }

  headManifest(repository: string, reference: string, accept: string, signal: AbortSignal): Promise<UpstreamManifestHead> {
    return this.limited(signal, `manifest ${repository}:${reference}`, async () => {
      const response = await this.send({ method: 'HEAD', path: `/v2/${repository}/manifests/${reference}`, repository, accept, signal });
      await this.expectOk(response, 'manifest', repository, reference);
      await response.body.dump();
      const mediaType = mediaTypeOf(response);
      return {
        digest: header(response, registryHeaders.contentDigest),
        // A HEAD has no body to check: a type that is no manifest type is not passed on (the cache then GETs).
        mediaType: isManifestMediaType(mediaType) ? mediaType!.toLowerCase() : undefined,
        size: contentLength(response),
      };
    });
  }

  getBlob(repository: string, digest: string, signal: AbortSignal, from?: number): Promise<UpstreamBlob> {
    return this.limited(
      signal,
      `blob ${repository}@${digest}`,
      async (hold) => {
        const range = from ? `bytes=${from}-` : undefined;
        const response = await this.send({ method: 'GET', path: `/v2/${repository}/blobs/${digest}`, repository, signal, ...(range ? { range } : {}) });
        await this.expectOk(response, 'blob', repository, digest);
        if (from) {
          // Only a 206 starting exactly at `from` continues a download; anything else starts it over.
          const total = /^bytes (\d+)-\d+\/(\d+)$/.exec(header(response, 'content-range') ?? '');
          if (response.statusCode !== 206 || !total || Number(total[1]) !== from) {
            await response.body.dump().catch(() => undefined);
            throw new OciError('UPSTREAM_ERROR', `upstream ${this.name} cannot resume ${digest} at byte ${from}`);
          }
          hold(finished(response.body));
          return { size: Number(total[2]), body: response.body };
        }
        // The slot is held until the body is consumed: a blob download is the load the limit is for.
        hold(finished(response.body));
        return { size: contentLength(response), body: response.body };
      },
      this.downloadLane,
    );
  }

  headBlob(repository: string, digest: string, signal: AbortSignal): Promise<{ size: number | undefined }> {
    return this.limited(signal, `blob ${repository}@${digest}`, async () => {
      const response = await this.send({ method: 'HEAD', path: `/v2/${repository}/blobs/${digest}`, repository, signal });
      await this.expectOk(response, 'blob', repository, digest);
      await response.body.dump();
      return { size: contentLength(response) };
    });
  }

  listTags(repository: string, query: string, signal: AbortSignal): Promise<UpstreamPassthrough> {
    return this.passthrough('tags', { method: 'GET', path: `/v2/${repository}/tags/list${query}`, repository, signal });
  }

  referrers(repository: string, digest: string, query: string, signal: AbortSignal): Promise<UpstreamPassthrough> {
    return this.passthrough('referrers', { method: 'GET', path: `/v2/${repository}/referrers/${digest}${query}`, repository, signal });
  }

  async close(): Promise<void> {
    // Destroyed, not closed: requests still running (their signals are timeouts only) end now.
    await Promise.all([this.agent.destroy(), this.foreignAgent.destroy()]);
  }

  /**
   * Runs `work` in one of the upstream's slots; `hold` keeps the slot until a promise settles. Blob
   * downloads have their own lane: a few long downloads must not hold up the manifest and HEAD
   * requests every pull starts with. A request whose signal aborts while it waits leaves the queue.
   */
  private limited<T>(
    signal: AbortSignal,
    what: string,
    work: (hold: (until: Promise<unknown>) => void) => Promise<T>,
    lane: LimitFunction = this.requestLane,
  ): Promise<T> {
    const depth = (): void => void this.metrics.upstreamQueueDepth.set({ upstream: this.name }, this.downloadLane.pendingCount + this.requestLane.pendingCount);
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(new OciError('UNAVAILABLE', `upstream ${this.name}: gave up waiting for a free slot`, { cause: signal.reason }));
      signal.addEventListener('abort', onAbort, { once: true });
      void lane(async () => {
        signal.removeEventListener('abort', onAbort);
        depth();
        if (signal.aborted) return onAbort();
        let held: Promise<unknown> | undefined;
        try {
          resolve(await work((until) => (held = until)));
        } catch (err) {
          reject(this.failure(err, signal, what));
        }
        await held?.catch(() => undefined);
      });
      depth();
    });
  }

  private passthrough(kind: Kind, options: SendOptions): Promise<UpstreamPassthrough> {
    return this.limited(options.signal, `${kind} of ${options.repository}`, () => this.passthroughNow(kind, options));
  }

  /**
   * Whatever went wrong talking to the upstream, as the OCI error a client should see: no upstream
   * condition may surface as a 500. Timeouts, aborts and broken connections are an outage (503);
   * anything else the upstream sent that cannot be used is its fault (502).
   */
  private failure(err: unknown, signal: AbortSignal, what: string): OciError {
    if (err instanceof OciError) return err;
    if (signal.aborted || isOutage(err)) {
      return new OciError('UNAVAILABLE', `upstream ${this.name}: no complete answer for ${what} (${describeError(err)})`, { cause: err });
    }
    this.log.warn({ what, err: describeError(err) }, 'unusable upstream answer');
    return new OciError('UPSTREAM_ERROR', `upstream ${this.name} sent an unusable answer for ${what}: ${describeError(err)}`, { cause: err });
  }

  private async passthroughNow(kind: Kind, options: SendOptions): Promise<UpstreamPassthrough> {
    const response = await this.send(options);
    if (response.statusCode === 404) {
      await response.body.dump();
      const what = kind === 'referrers' ? 'referrers' : 'repository';
      throw new OciError(kind === 'referrers' ? 'MANIFEST_UNKNOWN' : 'NAME_UNKNOWN', `${what} not found upstream (${this.name})`);
    }
    // A client's own mistake (a bad `n`, say) answered 400 upstream is passed back as it is, not as a 502.
    const clientMistake = response.statusCode === 400 || response.statusCode === 422;
    if (!clientMistake) await this.expectOk(response, kind, options.repository, '');
    const body = await readCapped(response, maxPassthroughBytes, `${kind} of ${options.repository}`);
    const passed: Record<string, string> = {};
    for (const name of ['content-type', registryHeaders.ociFiltersApplied.toLowerCase()]) {
      const value = header(response, name);
      if (value) passed[name] = value;
    }
    const link = this.sameResourceLinks(header(response, 'link'), options.path);
    if (link) passed.link = link;
    return { status: response.statusCode, headers: passed, body };
  }

  /**
   * Pagination links that name this same resource on this upstream, each reduced to its query
   * (`<?last=b&n=2>; rel="next"`): the HTTP layer puts the mirror's own path in front. An entry naming
   * another host or another path could send a client anywhere, so it is dropped.
   */
  private sameResourceLinks(value: string | undefined, path: string): string | undefined {
    if (!value) return undefined;
    const requested = new URL(this.origin + path);
    const kept = parseLinkHeader(value).flatMap((entry) => {
      let target: URL;
      try {
        target = new URL(entry.target, requested);
      } catch {
        return [];
      }
      if (target.origin !== requested.origin || target.pathname !== requested.pathname) return [];
      return [{ target: target.search || '?', rel: entry.rel }];
    });
    return kept.length > 0 ? formatLinkHeader(kept) : undefined;
  }

  /** Maps a non-2xx answer to the OCI error a client should see. */
  private async expectOk(response: Response, kind: Kind, repository: string, reference: string): Promise<void> {
    const status = response.statusCode;
    if (status >= 200 && status < 300) return;
    await response.body.dump().catch(() => undefined);
    const what = `${this.name}/${repository}${reference ? `${reference.includes(':') ? '@' : ':'}${reference}` : ''}`;
    if (status === 404) {
      throw new OciError(kind === 'blob' ? 'BLOB_UNKNOWN' : 'MANIFEST_UNKNOWN', `${kind} not found upstream: ${what}`);
    }
    if (status === 401 || status === 403) throw new OciError('DENIED', `upstream ${this.name} refused access to ${repository} (${status})`);
    if (status === 429) {
      const retryAfter = header(response, 'retry-after');
      throw new OciError('TOOMANYREQUESTS', `upstream ${this.name} is rate limiting`, retryAfter ? { headers: { 'Retry-After': retryAfter } } : {});
    }
    throw new OciError(status >= 500 ? 'UNAVAILABLE' : 'UPSTREAM_ERROR', `upstream ${this.name} answered ${status} for ${what}`);
  }

  /** Sends with auth, following redirects; retries connection errors, 5xx and 429 before any byte is used. */
  private async send(options: SendOptions): Promise<Response> {
    const scope = pullScope(options.repository);
    let authorized = false;
    let waited = 0;
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      let foreign: boolean;
      const sent = this.authorization(scope);
      try {
        ({ response, foreign } = await this.follow(options, sent));
      } catch (err) {
        if (err instanceof OciError) throw err;
        const unreachable = (): OciError => new OciError('UNAVAILABLE', `upstream ${this.name} unreachable: ${describeError(err)}`, { cause: err });
        if (options.signal.aborted || attempt >= this.config.retries || !isRetryableError(err)) throw unreachable();
        const wait = backoff(attempt, undefined)!;
        if (waited + wait > maxBackoffMs || !(await this.pause(wait, options.signal))) throw unreachable();
        waited += wait;
        continue;
      }
      // Only the upstream itself may ask for credentials: a redirect target's challenge is not answered.
      if (response.statusCode === 401 && !authorized && !foreign) {
        const challenge = parseChallenge(header(response, 'www-authenticate'));
        if (challenge && (await this.authorize(challenge, scope, sent))) {
          await response.body.dump();
          authorized = true;
          attempt -= 1; // an auth round-trip is not a retry
          continue;
        }
        return response;
      }
      if ((response.statusCode >= 500 || response.statusCode === 429) && attempt < this.config.retries) {
        const wait = backoff(attempt, header(response, 'retry-after'));
        // Waiting longer than tender ever waits, in total, is not worth it: this answer is passed on now.
        if (wait === undefined || waited + wait > maxBackoffMs) return response;
        await response.body.dump().catch(() => undefined);
        this.log.debug({ upstream: this.name, status: response.statusCode, attempt }, 'retrying upstream request');
        // The deadline came during the wait: the answer already in hand is the one passed on (its
        // status and headers; the body was read away and callers do not need it for an error).
        if (!(await this.pause(wait, options.signal))) return response;
        waited += wait;
        continue;
      }
      return response;
    }
  }

  /** Sleeps; false when the request's deadline ended the sleep. */
  private async pause(ms: number, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return false;
    try {
      await this.sleep(ms, signal);
      return !signal.aborted;
    } catch {
      return false;
    }
  }

  /** Answers a challenge; false when there is nothing to answer it with. */
  private async authorize(challenge: Challenge, scope: string, refused: string | undefined): Promise<boolean> {
    if (challenge.scheme === 'bearer') {
      if (this.config.token !== undefined) return false; // a static token was already sent and refused
      // A token that was sent and refused (revoked, rotated key) is dropped; concurrent first requests
      // sent none, and share one fetch instead.
      if (refused !== undefined && refused === this.authorization(scope)) this.tokens.forget(scope, challenge);
      try {
        await this.tokens.get(scope, challenge);
        return true;
      } catch (err) {
        if (err instanceof OciError) throw err;
        if (err instanceof TokenRealmError) {
          if (err.status === 401 || err.status === 403) {
            throw new OciError('DENIED', `upstream ${this.name} refused the configured credentials (${err.message})`, { cause: err });
          }
          if (err.status === 429) throw new OciError('TOOMANYREQUESTS', `the token realm of upstream ${this.name} is rate limiting`, { cause: err });
          if (err.status < 500) throw new OciError('UPSTREAM_ERROR', `could not get a token from upstream ${this.name}: ${err.message}`, { cause: err });
        }
        throw new OciError('UNAVAILABLE', `could not get a token from upstream ${this.name}: ${describeError(err)}`, { cause: err });
      }
    }
    if (challenge.scheme === 'basic' && this.config.username !== undefined && !this.basicChallenged) {
      this.basicChallenged = true;
      return true;
    }
    return false;
  }

  private authorization(scope: string): string | undefined {
    if (this.config.token !== undefined) return `Bearer ${this.config.token}`;
    const token = this.tokens.peek(scope);
    if (token) return `Bearer ${token}`;
    if (this.basicChallenged && this.config.username !== undefined && this.config.password !== undefined) {
      return `Basic ${Buffer.from(`${this.config.username}:${this.config.password}`).toString('base64')}`;
    }
    return undefined;
  }

  /** Sends, following redirects; `foreign` says the final answer came from another host than the upstream. */
  private async follow(options: SendOptions, authorization: string | undefined): Promise<{ response: Response; foreign: boolean }> {
    let url = new URL(this.origin + options.path);
    for (let hop = 0; ; hop++) {
      const sameOrigin = url.origin === new URL(this.origin).origin;
      const headers: Record<string, string> = { 'user-agent': 'tender', 'accept-encoding': 'identity' };
      if (options.accept) headers.accept = options.accept;
      if (options.range) headers.range = options.range;
      if (authorization && sameOrigin) headers.authorization = authorization;
      const started = performance.now();
      let response: Response;
      try {
        response = await request(url, {
          method: options.method,
          headers,
          signal: options.signal,
          dispatcher: sameOrigin ? this.agent : this.foreignAgent,
        });
      } catch (err) {
        this.metrics.upstreamRequests.inc({ upstream: this.name, method: options.method, status: 'error' });
        throw err;
      }
      const status = String(response.statusCode);
      this.metrics.upstreamRequests.inc({ upstream: this.name, method: options.method, status });
      // Docker Hub: "ratelimit-remaining: 76;w=21600" (pulls left in the window).
      const remaining = Number.parseInt(header(response, 'ratelimit-remaining') ?? '', 10);
      if (Number.isFinite(remaining)) this.metrics.rateLimitRemaining.set({ upstream: this.name }, remaining);
      this.metrics.upstreamDuration.observe({ upstream: this.name, status }, (performance.now() - started) / 1000);
      const location = header(response, 'location');
      if (response.statusCode >= 300 && response.statusCode < 400 && location && hop < maxRedirects) {
        await response.body.dump();
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new OciError('UPSTREAM_ERROR', `upstream ${this.name} redirected to something that is not a URL`);
        }
        if (next.protocol !== 'https:' && next.protocol !== 'http:') {
          throw new OciError('UPSTREAM_ERROR', `upstream ${this.name} redirected to unsupported scheme ${next.protocol}`);
        }
        // No downgrade from https to http unless the operator allowed plain HTTP for this upstream.
        if (url.protocol === 'https:' && next.protocol === 'http:' && !this.config.insecure) {
          throw new OciError('UPSTREAM_ERROR', `upstream ${this.name} redirected from https to http (${next.origin}): refused`);
        }
        url = next;
        continue;
      }
      return { response, foreign: !sameOrigin };
    }
  }
}

function header(response: Response, name: string): string | undefined {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** The Content-Type without parameters. */
function mediaTypeOf(response: Response): string | undefined {
  return header(response, 'content-type')?.split(';')[0]?.trim() || undefined;
}

function clip(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}

function contentLength(response: Response): number | undefined {
  const value = header(response, 'content-length');
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Reads a body that is held in memory; over the cap it is the upstream's fault (502), never the client's. */
async function readCapped(response: Response, cap: number, what: string): Promise<Buffer> {
  const announced = contentLength(response);
  if (announced !== undefined && announced > cap) {
    response.body.destroy();
    throw new OciError('UPSTREAM_ERROR', `upstream ${what} is ${announced} bytes, over the ${cap}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > cap) {
      response.body.destroy();
      throw new OciError('UPSTREAM_ERROR', `upstream ${what} is over the ${cap}-byte limit`);
    }
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks, total);
  if (announced !== undefined && announced !== total) {
    throw new OciError('UPSTREAM_ERROR', `${what}: upstream announced ${announced} bytes and sent ${total}`);
  }
  return body;
}

/** Errors that mean the upstream did not answer (in time, or at all), as opposed to answering nonsense. */
function isOutage(err: unknown): boolean {
  if (isRetryableError(err)) return true;
  const name = (err as { name?: unknown }).name;
  const code = (err as { code?: unknown }).code;
  return (
    err instanceof undiciErrors.BodyTimeoutError ||
    err instanceof undiciErrors.RequestAbortedError ||
    err instanceof undiciErrors.ClientDestroyedError ||
    err instanceof undiciErrors.ClientClosedError ||
    name === 'AbortError' ||
    name === 'TimeoutError' ||
    code === 'ECONNABORTED' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH'
  );
}

function isRetryableError(err: unknown): boolean {
  if (err instanceof undiciErrors.RequestAbortedError) return false;
  const code = (err as { code?: string }).code;
  return (
    err instanceof undiciErrors.ConnectTimeoutError ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.SocketError ||
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ETIMEDOUT' ||
    code === 'EAI_AGAIN' ||
    code === 'ENOTFOUND'
  );
}

/**
 * Exponential backoff with jitter; Retry-After (seconds or HTTP date) wins when upstream sends it, and
 * undefined means upstream asked for a longer wait than tender ever makes (the answer is passed on).
 */
export function backoff(attempt: number, retryAfter: string | undefined, now = Date.now()): number | undefined {
  if (retryAfter) {
    const seconds = Number(retryAfter);
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - now;
    if (Number.isFinite(ms) && ms >= 0) return ms <= maxBackoffMs ? ms : undefined;
  }
  const base = Math.min(maxBackoffMs, 200 * 2 ** attempt);
  return base / 2 + Math.random() * (base / 2);
}
