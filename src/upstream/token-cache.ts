// Bearer tokens per upstream and scope, kept until they expire; concurrent misses share one token request.
import { LRUCache } from 'lru-cache';
import { request, type Dispatcher } from 'undici';
import type { Challenge } from '../oci/www-authenticate.js';

export interface TokenCredentials {
  readonly username: string | undefined;
  readonly password: string | undefined;
}

export interface TokenCacheOptions {
  readonly upstream: string;
  readonly dispatcher: Dispatcher;
  readonly credentials: TokenCredentials;
  /** Plain-http realms may receive credentials only when the upstream is marked insecure. */
  readonly insecure: boolean;
  readonly timeoutMs: number;
  readonly onFetch: (result: 'ok' | 'error') => void;
}

export class TokenRealmError extends Error {
  constructor(
    message: string,
    readonly status: number,
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

  /** Drops the tokens for a scope after upstream refused them (revoked, or signed with a rotated key). */
  forget(scope: string, challenge: Challenge): void {
    this.tokens.delete(scope);
    if (challenge.params.scope) this.tokens.delete(challenge.params.scope);
  }

  /** A token for the challenge's realm and this scope; fetched once however many callers ask. */
  async get(scope: string, challenge: Challenge): Promise<string> {
    const realmScope = challenge.params.scope ?? scope;
    const token = await this.tokens.fetch(realmScope, { context: { challenge } });
    if (!token) throw new Error(`no token issued by ${challenge.params.realm ?? 'the realm'}`);
    if (realmScope !== scope) this.tokens.set(scope, token, { ttl: this.tokens.getRemainingTTL(realmScope) });
    return token;
  }

  private async fetchToken(scope: string, challenge: Challenge, entry: { ttl?: number }, signal: AbortSignal): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm) throw new Error('bearer challenge without a realm');
    const url = new URL(realm);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    url.searchParams.set('scope', scope);
    const headers: Record<string, string> = { 'user-agent': 'tender' };
    const { username, password } = this.options.credentials;
    if (username !== undefined && password !== undefined) {
      if (url.protocol !== 'https:' && !this.options.insecure) {
        throw new Error(`refusing to send credentials to a plain-http token realm (${url.origin}); mark the upstream insecure to allow it`);
      }
      headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    }
    try {
      const response = await request(url, {
        method: 'GET',
        headers,
        dispatcher: this.options.dispatcher,
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.options.timeoutMs)]),
      });
      if (response.statusCode !== 200) {
        await response.body.dump();
        throw new TokenRealmError(`token realm ${url.origin}${url.pathname} answered ${response.statusCode}`, response.statusCode);
      }
      const body = (await response.body.json()) as { token?: string; access_token?: string; expires_in?: number };
      const token = body.token ?? body.access_token;
      if (!token) throw new Error(`token realm ${url.origin}${url.pathname} sent no token`);
      const lifetime = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : defaultLifetimeSeconds;
      entry.ttl = Math.max(1, lifetime - marginSeconds) * 1000;
      this.options.onFetch('ok');
      return token;
    } catch (err) {
      this.options.onFetch('error');
      throw err;
    }
  }
}
