// Client authentication settings: htpasswd users and static tokens, each limited to repository patterns, and the throttle.
import { z } from 'zod';
import { readSettingFile } from './read-setting-file.js';
import { structured } from './value-types.js';

export interface ClientAuthConfig {
  readonly realm: string;
  /** htpasswd users (bcrypt), by name → hash. */
  readonly users: ReadonlyMap<string, string>;
  /** Repository patterns (`upstream/repository`) per user; a user not listed may pull everything. */
  readonly userRepositories: ReadonlyMap<string, readonly string[]>;
  /** Static tokens ("robot accounts"), sent as a bearer token or as the password of Basic auth. */
  readonly tokens: ReadonlyArray<{ readonly name: string; readonly token: string; readonly repositories: readonly string[] }>;
  /** Ops endpoints that also need credentials. */
  readonly protect: ReadonlyArray<'metrics' | 'healthz' | 'readyz' | 'api' | 'ui'>;
  /** Failed attempts per user and per client address within `failureWindowMs` before attempts are refused (0: never). */
  readonly maxFailures: number;
  readonly failureWindowMs: number;
  /** Password checks waiting for a worker thread; beyond this, attempts are refused at once. */
  readonly verifyQueue: number;
}

const scopePattern = z.string().regex(/^[A-Za-z0-9.:_*/-]+$/, 'expected "upstream/repository" patterns');

/** `auth.users`: user name → the `upstream/repository` patterns that user may pull. */
export const authUsers = structured(z.record(z.string(), z.array(scopePattern)), 'map');

/** `auth.tokens`: static tokens, inline or from a file, each with its patterns. */
export const authTokens = structured(
  z.array(
    z
      .object({
        name: z.string().min(1),
        token: z.string().min(16, 'tokens need at least 16 characters').optional(),
        tokenFile: z.string().optional(),
        repositories: z.array(scopePattern).optional(),
      })
      .strict(),
  ),
  'list',
);

/** The auth section's values, as the settings table outputs them. */
export interface AuthValues {
  readonly realm: string;
  readonly htpasswd: string | undefined;
  readonly users: Readonly<Record<string, readonly string[]>> | undefined;
  readonly tokens: z.output<typeof authTokens.schema> | undefined;
  readonly protect: ReadonlyArray<'metrics' | 'healthz' | 'readyz' | 'api' | 'ui'>;
  readonly failures: number;
  readonly windowMs: number;
  readonly queue: number;
}

export function buildAuth(auth: AuthValues, problems: string[]): ClientAuthConfig {
  const users = new Map<string, string>();
  if (auth.htpasswd !== undefined) {
    const text = readSettingFile(auth.htpasswd, 'auth.htpasswd', problems) ?? '';
    for (const [n, line] of text.split('\n').entries()) {
      const trimmed = line.trim();
      if (!trimmed || trimmed.startsWith('#')) continue;
      const colon = trimmed.indexOf(':');
      const hash = trimmed.slice(colon + 1);
      if (colon <= 0 || !/^\$2[abxy]\$\d{2}\$/.test(hash)) {
        problems.push(`auth.htpasswd: line ${n + 1} is not "user:<bcrypt hash>" (create entries with htpasswd -B)`);
        continue;
      }
      users.set(trimmed.slice(0, colon), hash);
    }
  }
  const tokens = (auth.tokens ?? []).flatMap((entry, i) => {
    const token = entry.token ?? readSettingFile(entry.tokenFile, `auth.tokens.${i}.tokenFile`, problems);
    if (token === undefined) {
      problems.push(`auth.tokens.${i}: set token or tokenFile`);
      return [];
    }
    return [{ name: entry.name, token, repositories: entry.repositories ?? ['**'] }];
  });
  if (users.size === 0 && tokens.length === 0) problems.push('auth: no htpasswd users and no tokens: nobody could pull');
  for (const name of Object.keys(auth.users ?? {})) {
    if (!users.has(name)) problems.push(`auth.users.${name}: no such user in the htpasswd file`);
  }
  return {
    realm: auth.realm,
    users,
    userRepositories: new Map(Object.entries(auth.users ?? {})),
    tokens,
    protect: auth.protect,
    maxFailures: auth.failures,
    failureWindowMs: auth.windowMs,
    verifyQueue: auth.queue,
  };
}
