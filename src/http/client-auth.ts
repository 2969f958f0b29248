// Client authentication: htpasswd users (bcrypt, off the event loop, throttled) and static tokens, each limited to repository patterns.
import { createHash, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { ClientAuthConfig } from '../config/client-auth.js';
import { repositoryMatcher, type RepositoryMatcher } from '../oci/repository-pattern.js';
import { AuthThrottle, type ThrottleScope } from './auth-throttle.js';
import { PasswordVerifier, type Verdict } from './password-verifier.js';

export interface Identity {
  readonly name: string;
  /** Whether this identity may pull `upstream/repository`. */
  readonly allows: RepositoryMatcher;
}

/** What an Authorization header amounts to. */
export type AuthOutcome =
  | { readonly kind: 'identity'; readonly identity: Identity }
  /** No credentials at all (also `Basic Og==`, the empty user and password clients send before a login). */
  | { readonly kind: 'missing' }
  | { readonly kind: 'wrong' }
  /** Not checked: too many failures lately ('user', 'address'), or every password check is taken ('busy'). */
  | { readonly kind: 'throttled'; readonly scope: ThrottleScope | 'busy'; readonly retryAfterSeconds: number };

export class ClientAuth {
  readonly challenge: string;
  private readonly tokens: ReadonlyArray<{ digest: Buffer; identity: Identity }>;
  private readonly users: ReadonlyMap<string, { hash: string; identity: Identity }>;
  /**
   * bcrypt is slow by design (tens of ms); a node pulling an image sends dozens of requests with the
   * same credentials, so a verified pair is remembered for a few minutes, keyed by its hash only: a
   * right password costs one bcrypt per interval, whoever sends it and however often.
   */
  private readonly verified = new LRUCache<string, Identity>({ max: 1000, ttl: 5 * 60_000 });
  /** Checks in progress by credential hash: concurrent first requests of one node share one bcrypt. */
  private readonly checking = new Map<string, Promise<Verdict>>();
  private readonly throttle: AuthThrottle;
  private readonly verifier: PasswordVerifier;

  constructor(config: ClientAuthConfig, options: { clock?: () => number; threads?: number } = {}) {
    this.challenge = `Basic realm="${config.realm}"`;
    this.tokens = config.tokens.map((t) => ({ digest: sha256(t.token), identity: { name: `token:${t.name}`, allows: repositoryMatcher(t.repositories) } }));
    this.users = new Map(
      [...config.users].map(([name, hash]) => [name, { hash, identity: { name, allows: repositoryMatcher(config.userRepositories.get(name) ?? ['**']) } }]),
    );
    this.throttle = new AuthThrottle({ maxFailures: config.maxFailures, windowMs: config.failureWindowMs, ...(options.clock ? { clock: options.clock } : {}) });
    this.verifier = new PasswordVerifier({ queue: config.verifyQueue, ...(options.threads ? { threads: options.threads } : {}) });
  }

  /**
   * The identity behind an Authorization header from `address` (the TCP peer). Valid tokens and
   * remembered passwords are accepted at once; anything else is refused without a bcrypt while its
   * user or address is over the failure limit.
   */
  async authenticate(authorization: string | undefined, address: string, signal?: AbortSignal): Promise<AuthOutcome> {
    if (!authorization || !authorization.trim()) return { kind: 'missing' };
    const space = authorization.indexOf(' ');
    const scheme = (space === -1 ? authorization : authorization.slice(0, space)).toLowerCase();
    const value = space === -1 ? '' : authorization.slice(space + 1).trim();
    if (scheme === 'bearer') {
      const token = this.byToken(value);
      return token ? identity(token) : this.refuse(undefined, address);
    }
    if (scheme !== 'basic') return this.refuse(undefined, address);
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    // docker, containerd and podman send the empty pair before they have credentials: not an attempt.
    if (decoded === '' || decoded === ':') return { kind: 'missing' };
    const colon = decoded.indexOf(':');
    if (colon < 0) return this.refuse(undefined, address);
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    // Robot tokens also work as a Basic password (any user name), as containerd and docker login send.
    const token = this.byToken(password);
    if (token) return identity(token);
    const entry = this.users.get(user);
    const key = sha256(`${user}\0${password}`).toString('hex');
    const known = entry && this.verified.get(key);
    if (known) return identity(known);
    const throttled = this.throttle.check(entry ? user : undefined, address);
    if (throttled) return { kind: 'throttled', ...throttled };
    if (!entry) return this.refuse(undefined, address);
    const verdict = await this.check(key, user, password, entry.hash, address, signal);
    if (verdict === 'busy') return { kind: 'throttled', scope: 'busy', retryAfterSeconds: 1 };
    if (verdict === 'mismatch') return this.refuse(user, address);
    this.verified.set(key, entry.identity);
    this.throttle.succeeded(user, address);
    return identity(entry.identity);
  }

  /** Stops the password threads. */
  close(): Promise<void> {
    return this.verifier.close();
  }

  private check(key: string, user: string, password: string, hash: string, address: string, signal: AbortSignal | undefined): Promise<Verdict> {
    const running = this.checking.get(key);
    if (running) return running;
    // Judged before this attempt counts as running: a first attempt is never a suspect.
    const suspect = this.throttle.suspect(user, address);
    const end = this.throttle.begin(user, address);
    const verdict = this.verifier.verify(password, hash, { suspect, ...(signal ? { signal } : {}) }).finally(() => {
      end();
      this.checking.delete(key);
    });
    this.checking.set(key, verdict);
    return verdict;
  }

  private refuse(user: string | undefined, address: string): AuthOutcome {
    this.throttle.failed(user, address);
    return { kind: 'wrong' };
  }

  private byToken(token: string): Identity | undefined {
    const digest = sha256(token);
    // Compare digests in constant time: the token itself never meets a timing oracle.
    return this.tokens.find((t) => timingSafeEqual(t.digest, digest))?.identity;
  }
}

function identity(value: Identity): AuthOutcome {
  return { kind: 'identity', identity: value };
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
