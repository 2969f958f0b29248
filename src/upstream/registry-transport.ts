// Sending one request to an upstream: credentials (bearer tokens, Basic), safe redirects, bounded retries.
import { LRUCache } from 'lru-cache';
import { Agent, request } from 'undici';
import type { UpstreamConfig } from '../config/upstreams.js';
import { OciError, describeError } from '../oci/errors.js';
import { parseChallenge, pullScope, type Challenge } from '../oci/www-authenticate.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { header, type Response } from './response-reading.js';
import { foreignConnect, upstreamConnect, type NetworkOverrides } from './connect-options.js';
import { CredentialBackoff } from './credential-backoff.js';
import { backoff, isRetryableError, maxBackoffMs } from './retry-policy.js';
import { TokenCache, TokenRealmError } from './token-cache.js';
import { UpstreamCredentials, type CredentialChange } from './upstream-credentials.js';

export interface SendOptions {
  readonly method: 'GET' | 'HEAD';
  /** A Range header, for resuming a blob download. */
  readonly range?: string;
  readonly path: string;
  readonly repository: string;
  readonly accept?: string;
  readonly signal: AbortSignal;
}

const maxRedirects = 5;
/** A refused token realm is logged once per realm in this interval. */
const refusalLogIntervalMs = 5 * 60_000;

export class RegistryTransport {
  private readonly name: string;
  private readonly origin: string;
  /** Replaced when the CA bundle or client certificate files change; requests in flight finish on the old one. */
  private agent: Agent;
  /** Redirect targets (blob CDNs) are other hosts: default trust roots, never our credentials. */
  private readonly foreignAgent: Agent;
  /** Agents replaced by a rotation, closing once their requests are done. */
  private readonly retiring = new Set<Agent>();
  private readonly tokens: TokenCache;
  /** Secrets and TLS material as their files say now. */
  readonly credentials: UpstreamCredentials;
  /** Credentials the token realm keeps refusing are held back for a while. */
  readonly backoff: CredentialBackoff;
  /** Set once upstream asked for Basic: later requests send it up front. */
  private basicChallenged = false;
  /** Token realms refused for credentials lately (logged once per interval each). */
  private readonly refusedRealms = new LRUCache<string, true>({ max: 100, ttl: refusalLogIntervalMs });

  constructor(
    private readonly config: UpstreamConfig,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>,
    private readonly network: NetworkOverrides = {},
  ) {
    this.name = config.name;
    this.origin = config.url;
    this.credentials = new UpstreamCredentials(config, log, (change) => this.rotate(change));
    this.backoff = new CredentialBackoff(config.name, config.credentialBackoffMs, metrics, log);
    this.agent = this.upstreamAgent();
    this.foreignAgent = new Agent({ ...this.timeouts(), connect: foreignConnect(config, network) });
    const transport = this;
    this.tokens = new TokenCache({
      upstream: config.name,
      get dispatcher() {
        return transport.agent;
      },
      get credentials() {
        // Held back after repeated refusals: the realm is asked anonymously (public content still pulls).
        return transport.backoff.allowed() ? transport.credentials.secrets : { username: undefined, password: undefined };
      },
      realms: { upstreamUrl: config.url, insecure: config.insecure, tokenRealms: config.tokenRealms },
      timeoutMs: config.headersTimeoutMs,
      onFetch: (result, withCredentials) => {
        metrics.tokenFetches.inc({ upstream: config.name, result });
        if (result === 'ok' && withCredentials) this.backoff.accepted();
      },
      onRefusedRealm: (realm, reason) => {
        if (this.refusedRealms.has(realm.origin)) return;
        this.refusedRealms.set(realm.origin, true);
        log.warn({ realm: realm.origin + realm.pathname, reason }, 'credentials not sent to the token realm the upstream named; asking for an anonymous token');
      },
    });
    this.credentials.start();
  }

  /** Destroys the connections: requests still running (their signals are timeouts only) end now. */
  async close(): Promise<void> {
    await this.credentials.close();
    await Promise.all([this.agent.destroy(), this.foreignAgent.destroy(), ...[...this.retiring].map((agent) => agent.destroy())]);
  }

  private timeouts() {
    return {
      headersTimeout: this.config.headersTimeoutMs,
      bodyTimeout: this.config.idleTimeoutMs,
      keepAliveTimeout: 30_000,
      connections: this.config.connections,
    };
  }

  private upstreamAgent(): Agent {
    return new Agent({ ...this.timeouts(), connect: upstreamConnect(this.config, this.credentials.tls, this.network) });
  }

  /** New secrets: tokens issued for the old ones go, and the new ones get their tries at once. New TLS files: new connections. */
  private rotate(change: CredentialChange): void {
    if (change.secrets) {
      this.tokens.clear();
      this.backoff.reset();
      this.basicChallenged = false;
      this.metrics.credentialReloads.inc({ upstream: this.name, changed: 'secrets' });
    }
    if (change.tls) {
      const old = this.agent;
      this.agent = this.upstreamAgent();
      // close() lets the requests on it finish (a blob download in flight included) and refuses new ones, which go to the new agent.
      this.retiring.add(old);
      void old.close().finally(() => this.retiring.delete(old));
      this.metrics.credentialReloads.inc({ upstream: this.name, changed: 'tls' });
    }
  }

  /** Sends with auth, following redirects; retries connection errors, 5xx and 429 before any byte is used. */
  async send(options: SendOptions): Promise<Response> {
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
      if (this.credentials.secrets.token !== undefined) return false; // a static token was already sent and refused
      // A token that was sent and refused (revoked, rotated key) is dropped; concurrent first requests
      // sent none, and share one fetch instead.
      if (refused !== undefined && refused === this.authorization(scope)) this.tokens.forget(scope, challenge);
      try {
        await this.tokens.get(scope, challenge);
        return true;
      } catch (err) {
        if (err instanceof OciError) throw err;
        if (err instanceof TokenRealmError) {
          if ((err.status === 401 || err.status === 403) && err.withCredentials) this.backoff.refused(err.status);
          if (err.status === 401 || err.status === 403) {
            throw new OciError('DENIED', `upstream ${this.name} refused the configured credentials (${err.message})`, { cause: err });
          }
          if (err.status === 429) throw new OciError('TOOMANYREQUESTS', `the token realm of upstream ${this.name} is rate limiting`, { cause: err });
          if (err.status < 500) throw new OciError('UPSTREAM_ERROR', `could not get a token from upstream ${this.name}: ${err.message}`, { cause: err });
        }
        throw new OciError('UNAVAILABLE', `could not get a token from upstream ${this.name}: ${describeError(err)}`, { cause: err });
      }
    }
    if (challenge.scheme === 'basic' && this.credentials.secrets.username !== undefined && !this.basicChallenged) {
      this.basicChallenged = true;
      return true;
    }
    return false;
  }

  private authorization(scope: string): string | undefined {
    const { username, password, token: staticToken } = this.credentials.secrets;
    if (staticToken !== undefined) return `Bearer ${staticToken}`;
    const token = this.tokens.peek(scope);
    if (token) return `Bearer ${token}`;
    if (this.basicChallenged && username !== undefined && password !== undefined) {
      return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
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
