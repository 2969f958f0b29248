// Client authentication: htpasswd users (bcrypt) and static tokens, each limited to repository patterns.
import { createHash, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { LRUCache } from 'lru-cache';
import type { ClientAuthConfig } from '../config.js';
import { repositoryMatcher, type RepositoryMatcher } from '../oci/repository-pattern.js';

export interface Identity {
  readonly name: string;
  /** Whether this identity may pull `upstream/repository`. */
  readonly allows: RepositoryMatcher;
}

export class ClientAuth {
  readonly challenge: string;
  private readonly tokens: ReadonlyArray<{ digest: Buffer; identity: Identity }>;
  private readonly users: ReadonlyMap<string, { hash: string; identity: Identity }>;
  /**
   * bcrypt is slow by design (tens of ms); a node pulling an image sends dozens of requests with the
   * same credentials, so a verified pair is remembered for a few minutes, keyed by its hash only.
   */
  private readonly verified = new LRUCache<string, Identity>({ max: 1000, ttl: 5 * 60_000 });

  constructor(config: ClientAuthConfig) {
    this.challenge = `Basic realm="${config.realm}"`;
    this.tokens = config.tokens.map((t) => ({ digest: sha256(t.token), identity: { name: `token:${t.name}`, allows: repositoryMatcher(t.repositories) } }));
    this.users = new Map(
      [...config.users].map(([name, hash]) => [name, { hash, identity: { name, allows: repositoryMatcher(config.userRepositories.get(name) ?? ['**']) } }]),
    );
  }

  /** The identity behind an Authorization header, or undefined when it is missing or wrong. */
  async authenticate(authorization: string | undefined): Promise<Identity | undefined> {
    if (!authorization) return undefined;
    const space = authorization.indexOf(' ');
    const scheme = authorization.slice(0, space).toLowerCase();
    const value = authorization.slice(space + 1).trim();
    if (scheme === 'bearer') return this.byToken(value);
    if (scheme !== 'basic') return undefined;
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    // Robot tokens also work as a Basic password (any user name), as containerd and docker login send.
    const token = this.byToken(password);
    if (token) return token;
    const entry = this.users.get(user);
    if (!entry) return undefined;
    const key = sha256(`${user}\0${password}`).toString('hex');
    const known = this.verified.get(key);
    if (known) return known;
    if (!(await bcrypt.compare(password, entry.hash))) return undefined;
    this.verified.set(key, entry.identity);
    return entry.identity;
  }

  private byToken(token: string): Identity | undefined {
    const digest = sha256(token);
    // Compare digests in constant time: the token itself never meets a timing oracle.
    return this.tokens.find((t) => timingSafeEqual(t.digest, digest))?.identity;
  }
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
