// Bearer tokens per upstream and scope, kept until they expire; concurrent misses share one token request.
import { LRUCache } from 'lru-cache';
import { request, type Dispatcher } from 'undici';
import { OciError } from '../oci/errors.js';
import type { Challenge } from '../oci/www-authenticate.js';
import { realmRefusal, type RealmPolicy } from './realm-policy.js';

export interface TokenCredentials {
  readonly username: string | undefined;
  readonly password: string | undefined;
}

export interface TokenCacheOptions {
  readonly upstream: string;
  /** Read at every token request (it may be a getter: the connections are replaced when TLS files change). */
  readonly dispatcher: Dispatcher;
  /** Read at every token request (a getter: rotated secrets, credentials held back after refusals). */
  readonly credentials: TokenCredentials;
  /** Which realms may receive the credentials (see realm-policy.ts). */
  readonly realms: RealmPolicy;
  readonly timeoutMs: number;
  /** After each token request; `withCredentials` says whether the Basic credentials were sent. */
  readonly onFetch: (result: 'ok' | 'error', withCredentials: boolean) => void;
  /** A realm that named itself but may not have the credentials: the token is then asked for anonymously. */
  readonly onRefusedRealm?: (realm: URL, reason: string) => void;
}

export class TokenRealmError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** The realm refused a request that carried the configured credentials. */
    readonly withCredentials = false,
  ) {
    super(message);
    this.name = 'TokenRealmError';
  }
}

interface TokenContext {
  readonly challenge: Challenge;
}

/** Spec default when a token response carries no expires_in (distribution token auth spec: 60 s). */
const defaultLifetimeSeconds = 60;
/** Renew a little early so a token never expires between the check and the request. */
const marginSeconds = 10;
/** Token responses are read into memory: real ones are a few KiB (a JWT and its expiry). */
const maxTokenResponseBytes = 256 * 1024;

export class TokenCache {
  private readonly tokens: LRUCache<string, string, TokenContext>;

  constructor(private readonly options: TokenCacheOptions) {
    this.tokens = new LRUCache<string, string, TokenContext>({
      max: 1000,
      ttl: defaultLifetimeSeconds * 1000,
      fetchMethod: (key, _stale, { options: entry, context, signal }) => this.fetchToken(key, context.challenge, entry, signal),
    });
  }

  /** A cached token for this scope, without asking the realm. */
  peek(scope: string): string | undefined {
    return this.tokens.get(scope);
  }

  /** Drops every token: the credentials they were issued for changed. */
  clear(): void {
    this.tokens.clear();
  }

  /** Drops the tokens for a scope after upstream refused them (revoked, or signed with a rotated key). */
  forget(scope: string, challenge: Challenge): void {
    this.tokens.delete(scope);
    if (challenge.params.scope) this.tokens.delete(challenge.params.scope);
  }

  /** A token for the challenge's realm and this scope; fetched once however many callers ask. */
  async get(scope: string, challenge: Challenge): Promise<string> {
    const realmScope = challenge.params.scope ?? scope;
    const token = await this.tokens.fetch(realmScope, { context: { challenge } });
    if (!token) throw new OciError('UNAVAILABLE', `no token issued by the realm of upstream ${this.options.upstream}`);
    if (realmScope !== scope) this.tokens.set(scope, token, { ttl: this.tokens.getRemainingTTL(realmScope) });
    return token;
  }

  private async fetchToken(scope: string, challenge: Challenge, entry: { ttl?: number }, signal: AbortSignal): Promise<string> {
    const sent = { credentials: false };
    try {
      const token = await this.requestToken(scope, challenge, entry, signal, sent);
      this.options.onFetch('ok', sent.credentials);
      return token;
    } catch (err) {
      this.options.onFetch('error', sent.credentials);
      throw err;
    }
  }

  private async requestToken(
    scope: string,
    challenge: Challenge,
    entry: { ttl?: number },
    signal: AbortSignal,
    sent: { credentials: boolean },
  ): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm) throw new OciError('UPSTREAM_ERROR', `upstream ${this.options.upstream} sent a bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new OciError('UPSTREAM_ERROR', `upstream ${this.options.upstream} named a token realm that is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new OciError('UPSTREAM_ERROR', `upstream ${this.options.upstream} named a token realm with scheme ${url.protocol}`);
    }
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    url.searchParams.set('scope', scope);
    const headers: Record<string, string> = { 'user-agent': 'tender' };
    const { username, password } = this.options.credentials;
    if (username !== undefined && password !== undefined) {
      const refusal = realmRefusal(url, this.options.realms);
      if (refusal === undefined) {
        headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
        sent.credentials = true;
      } else this.options.onRefusedRealm?.(url, refusal);
    }
    const response = await request(url, {
      method: 'GET',
      headers,
      dispatcher: this.options.dispatcher,
      signal: AbortSignal.any([signal, AbortSignal.timeout(this.options.timeoutMs)]),
    });
    const where = `token realm ${url.origin}${url.pathname}`;
    if (response.statusCode !== 200) {
      await response.body.dump().catch(() => undefined);
      throw new TokenRealmError(`${where} answered ${response.statusCode}`, response.statusCode, sent.credentials);
    }
    const text = await readToken(response, where);
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new OciError('UPSTREAM_ERROR', `${where} answered with something that is not JSON`);
    }
    const token = typeof body?.token === 'string' && body.token ? body.token : typeof body?.access_token === 'string' ? body.access_token : undefined;
    if (!token) throw new OciError('UPSTREAM_ERROR', `${where} sent no token`);
    // It goes into an Authorization header: visible ASCII only (a JWT or an opaque string).
    if (!/^[\x21-\x7e]+$/.test(token)) throw new OciError('UPSTREAM_ERROR', `${where} sent a token that cannot be used in a header`);
    const lifetime = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : defaultLifetimeSeconds;
    entry.ttl = Math.max(1, lifetime - marginSeconds) * 1000;
    return token;
  }
}

/** The realm's answer as text, refused beyond the cap without reading on. */
async function readToken(response: Dispatcher.ResponseData, where: string): Promise<string> {
  const announced = Number(response.headers['content-length']);
  if (Number.isFinite(announced) && announced > maxTokenResponseBytes) {
    response.body.destroy();
    throw new OciError('UPSTREAM_ERROR', `${where} answered ${announced} bytes, over the ${maxTokenResponseBytes}-byte limit for a token`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxTokenResponseBytes) {
      response.body.destroy();
      throw new OciError('UPSTREAM_ERROR', `${where} answered more than ${maxTokenResponseBytes} bytes, the limit for a token`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}
