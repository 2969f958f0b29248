// Upstream registries: the per-upstream settings table, the built-in upstreams, and the checks across entries.
import { z } from 'zod';
import { redactUrl } from './config-error.js';
import { readSettingFile } from './read-setting-file.js';
import { schemaOf, valuesOf, type SettingsTable } from './setting.js';
import { boolean, duration, integer, oneOf, structured, text } from './value-types.js';

export interface UpstreamConfig {
  readonly name: string;
  readonly url: string;
  /** Other names clients use for this registry in `ns` or a path prefix. */
  readonly aliases: readonly string[];
  /** Plain HTTP or unverified TLS is allowed only when this is set. */
  readonly insecure: boolean;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly token: string | undefined;
  /** PEM CA bundle contents (read at start; re-read when `caFile` changes). */
  readonly ca: string | undefined;
  /** The files secrets and TLS material were read from: watched, and re-read when they change (Secret rotation). */
  readonly files: UpstreamFiles;
  /** How the upstream's host name is dialled: IPv4 only, IPv6 only, or both (Happy Eyeballs). */
  readonly addressFamily: 'auto' | 'ipv4' | 'ipv6';
  /** With `auto`: how long one address is tried before the next (Node's autoSelectFamilyAttemptTimeout). */
  readonly addressAttemptTimeoutMs: number;
  /** After the token realm refused the credentials several times in a row: how long they are not sent. */
  readonly credentialBackoffMs: number;
  /** Freshness by tag pattern, tried in order before the global tagTtls and tagTtl. */
  readonly tagTtls: readonly TagTtlRule[];
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly retries: number;
  readonly connections: number;
  /** Requests in flight to this upstream at once; more wait in a queue. */
  readonly concurrency: number;
  /** Repository patterns this upstream serves; empty means all. */
  readonly allow: readonly string[];
  /** Repository patterns refused even when allowed. */
  readonly deny: readonly string[];
  /** Private content is served to a repository only when that repository is known to hold it. */
  readonly private: boolean;
  /** `tag` or `repository:tag` patterns whose first resolution is kept when upstream moves them. */
  readonly immutableTags: readonly string[];
  readonly immutableTagsMode: 'enforce' | 'warn';
  /** `repository:tag@digest`: the tag always resolves to exactly this digest. */
  readonly pins: readonly string[];
  /** Never contact this upstream: serve what is cached or seeded, nothing else. */
  readonly offline: boolean;
  /** PEM client certificate and key for upstreams that want mutual TLS. */
  readonly clientCert: string | undefined;
  readonly clientKey: string | undefined;
  /** Token realms on other hosts that may receive the credentials: hosts (`auth.docker.io`) or origins. */
  readonly tokenRealms: readonly string[];
}

export interface UpstreamFiles {
  readonly passwordFile: string | undefined;
  readonly tokenFile: string | undefined;
  readonly caFile: string | undefined;
  readonly clientCertFile: string | undefined;
  readonly clientKeyFile: string | undefined;
}

/** A freshness rule: `pattern` is a `tag` or `repository:tag` pattern; `ttlMs` is Infinity for "never". */
export interface TagTtlRule {
  readonly pattern: string;
  readonly ttlMs: number;
}

/** `[{ pattern: "v*.*.*", ttl: 24h }, { pattern: latest, ttl: 1m }]`: tried in order, the first match wins. */
export const tagTtlRules = structured(
  z.array(
    z
      .object({
        pattern: z.string().regex(/^([A-Za-z0-9._*/-]+:)?[A-Za-z0-9._*-]+$/, 'expected a "tag" or "repository:tag" pattern with *'),
        ttl: z.union([z.literal('never').transform(() => Number.POSITIVE_INFINITY), duration.schema], {
          error: 'expected a duration such as "1m" or "24h", or "never"',
        }),
      })
      .strict()
      .transform(({ pattern, ttl }): TagTtlRule => ({ pattern, ttlMs: ttl })),
  ),
  'list',
);

/** Registries every install knows; docker.io is served by registry-1.docker.io. */
export const builtInUpstreams: Record<string, { url: string; aliases?: string[]; tokenRealms?: string[] }> = {
  // Docker Hub's token realm is auth.docker.io, another host than the registry.
  'docker.io': { url: 'https://registry-1.docker.io', aliases: ['registry-1.docker.io', 'index.docker.io'], tokenRealms: ['auth.docker.io'] },
  'ghcr.io': { url: 'https://ghcr.io' },
  'quay.io': { url: 'https://quay.io' },
  'registry.k8s.io': { url: 'https://registry.k8s.io' },
  'gcr.io': { url: 'https://gcr.io' },
  'public.ecr.aws': { url: 'https://public.ecr.aws' },
  'mcr.microsoft.com': { url: 'https://mcr.microsoft.com' },
};

// Registry host names, optionally with a port: ASCII only (IDNs as punycode), so no Unicode case fold can alias one.
const hostName = z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$/, 'expected a host name such as "ghcr.io" or "registry.local:5000"');
const tokenRealm = z
  .string()
  .regex(
    /^(https?:\/\/)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$/,
    'expected a host ("auth.docker.io", "auth.example:8443") or an origin ("https://auth.example")',
  );
const repositoryPattern = z.string().regex(/^[a-z0-9._*/-]+$/, 'expected repository patterns such as "library/*" or "bitnami/**"');
const path = text('file');

/** Every key of an upstream entry (`upstreams.<name>.<key>`); set in the YAML file only. */
export const upstreamSettings = {
  url: {
    value: structured(z.string().url({ message: 'expected an absolute http(s) URL' }), 'url'),
    required: true,
    defaultText: 'required',
    help: 'absolute https:// URL (http:// only with insecure)',
  },
  aliases: { value: structured(z.array(hostName), 'list'), defaultText: '[]', help: 'other names that select this upstream in ns or a path prefix' },
  insecure: { value: boolean, default: false, help: 'allow plain HTTP and skip TLS certificate verification' },
  username: { value: text('user'), help: 'account for Basic auth or bearer-token requests; with password or passwordFile' },
  password: { value: structured(z.string(), 'text'), secret: true, help: 'the password (keep it in passwordFile instead)' },
  passwordFile: { value: path, help: 'read the password from this file (whitespace trimmed); re-read when it changes' },
  token: { value: structured(z.string(), 'text'), secret: true, help: 'a static bearer token sent with every request; not with username' },
  tokenFile: { value: path, help: 'read the token from this file; re-read when it changes' },
  ca: { value: path, help: 'PEM CA bundle replacing the system trust roots for this upstream; re-read when it changes' },
  connectTimeout: { value: duration, default: '10s', help: 'TCP and TLS connect' },
  headersTimeout: { value: duration, default: '30s', help: 'until response headers arrive; also the token request timeout' },
  idleTimeout: { value: duration, default: '60s', help: 'longest pause between body chunks' },
  retries: { value: integer(0, 10), default: 3, help: 'retries on connection errors, 5xx and 429, with backoff' },
  connections: { value: integer(1, 1024), default: 32, help: 'connection pool size' },
  concurrency: { value: integer(1, 1024), default: 16, help: 'requests to this upstream at once; the rest queue' },
  allow: { value: structured(z.array(repositoryPattern), 'list'), default: [], help: 'repository patterns served (empty: all)' },
  deny: { value: structured(z.array(repositoryPattern), 'list'), default: [], help: 'repository patterns refused even when allowed' },
  private: { value: boolean, defaultText: 'true with credentials, else false', help: 'serve cached content only to repositories known to hold it' },
  immutableTags: {
    value: structured(z.array(z.string().regex(/^([A-Za-z0-9._*/-]+:)?[A-Za-z0-9._*-]+$/, 'expected "tag" or "repository:tag" patterns with *')), 'list'),
    default: [],
    help: 'tag or repository:tag patterns whose first digest is kept',
  },
  immutableTagsMode: { value: oneOf(['enforce', 'warn']), default: 'enforce', help: 'enforce keeps the first digest; warn follows, logs and counts' },
  pins: {
    value: structured(
      z.array(
        z
          .string()
          .regex(/^[a-z0-9._/-]+:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}@sha(256:[a-f0-9]{64}|512:[a-f0-9]{128})$/, 'expected "repository:tag@sha256:<64 hex>"'),
      ),
      'list',
    ),
    default: [],
    help: 'repository:tag@digest: the tag always resolves to that digest',
  },
  clientCert: { value: path, help: 'PEM client certificate for mutual TLS (with clientKey); re-read when it changes' },
  clientKey: { value: path, help: 'PEM key of clientCert' },
  addressFamily: { value: oneOf(['auto', 'ipv4', 'ipv6']), default: 'auto', help: 'auto (both, Happy Eyeballs), ipv4 or ipv6 only' },
  addressAttemptTimeout: {
    value: duration,
    default: '1s',
    help: 'with addressFamily auto: how long one address is tried before the next (Node: autoSelectFamilyAttemptTimeout)',
  },
  credentialBackoff: {
    value: duration,
    default: '5m',
    help: 'after the token realm refused the credentials 3 times in a row: how long they are not sent (0: never stop)',
  },
  tagTtls: { value: tagTtlRules, default: [], help: 'freshness by tag pattern for this upstream, before the global tagTtls' },
  offline: { value: boolean, default: false, help: 'never contact this upstream' },
  tokenRealms: {
    value: structured(z.array(tokenRealm), 'list'),
    defaultText: '[] (the built-in docker.io: [auth.docker.io])',
    help: 'token realms on other hosts that may receive the credentials',
  },
} satisfies SettingsTable;

/** One upstream entry; `null` removes a built-in. */
export const upstreamEntrySchema = schemaOf(upstreamSettings).nullable();

/**
 * The upstream table: the built-ins (unless left out), then the entries given, each checked on its
 * own and against the others (names and aliases claimed once). Entries with shape errors were left
 * out of `given` after being reported.
 */
export function buildUpstreams(given: Readonly<Record<string, unknown>>, includeBuiltIns: boolean, problems: string[]): UpstreamConfig[] {
  const entries = new Map<string, unknown>();
  if (includeBuiltIns) for (const [name, entry] of Object.entries(builtInUpstreams)) entries.set(name, upstreamEntrySchema.parse(entry));
  for (const [name, entry] of Object.entries(given)) entries.set(name, entry);
  const upstreams: UpstreamConfig[] = [];
  const claimed = new Map<string, string>();
  for (const [name, entry] of entries) {
    if (entry === null) continue; // `name: null` removes a built-in upstream
    const upstream = buildUpstream(name, entry, problems);
    for (const key of [name, ...upstream.aliases]) {
      const owner = claimed.get(key.toLowerCase());
      if (owner) problems.push(`upstreams.${name}: name or alias "${key}" is already used by upstream "${owner}"`);
      claimed.set(key.toLowerCase(), name);
    }
    upstreams.push(upstream);
  }
  return upstreams;
}

function buildUpstream(name: string, parsed: unknown, problems: string[]): UpstreamConfig {
  const at = `upstreams.${name}`;
  const e = valuesOf(upstreamSettings, parsed);
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$/i.test(name)) {
    problems.push(`${at}: upstream names are registry host names such as "ghcr.io" or "registry.local:5000"`);
  }
  const url = new URL(e.url);
  if (url.username || url.password) problems.push(`${at}.url: put credentials in username/password, not in the URL (got "${redactUrl(e.url)}")`);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') problems.push(`${at}.url: expected http or https, got "${url.protocol}"`);
  if (url.protocol === 'http:' && !e.insecure) problems.push(`${at}.url: plain http needs "insecure: true", got "${redactUrl(e.url)}"`);
  const password = e.password ?? readSettingFile(e.passwordFile, `${at}.passwordFile`, problems);
  const token = e.token ?? readSettingFile(e.tokenFile, `${at}.tokenFile`, problems);
  if (password !== undefined && e.username === undefined) problems.push(`${at}.username: required when a password is set`);
  if (e.username !== undefined && password === undefined) problems.push(`${at}.password: required when a username is set (or passwordFile)`);
  if (token !== undefined && e.username !== undefined) problems.push(`${at}: set either username/password or token, not both`);
  if ((e.clientCert === undefined) !== (e.clientKey === undefined)) problems.push(`${at}: clientCert and clientKey go together`);
  for (const realm of e.tokenRealms ?? []) {
    if (realm.toLowerCase().startsWith('http://') && !e.insecure) problems.push(`${at}.tokenRealms: "${realm}" is plain http, which needs "insecure: true"`);
  }
  return {
    name,
    url: url.origin + url.pathname.replace(/\/+$/, ''),
    // Overriding a built-in (to add credentials, say) keeps the names clients already use for it.
    aliases: [...(e.aliases ?? builtInUpstreams[name]?.aliases ?? [])],
    insecure: e.insecure,
    username: e.username,
    password,
    token,
    ca: readSettingFile(e.ca, `${at}.ca`, problems),
    // An inline password or token wins over its file: only a file in use is watched.
    files: {
      passwordFile: e.password === undefined ? e.passwordFile : undefined,
      tokenFile: e.token === undefined ? e.tokenFile : undefined,
      caFile: e.ca,
      clientCertFile: e.clientCert,
      clientKeyFile: e.clientKey,
    },
    addressFamily: e.addressFamily,
    addressAttemptTimeoutMs: e.addressAttemptTimeout,
    credentialBackoffMs: e.credentialBackoff,
    tagTtls: e.tagTtls,
    connectTimeoutMs: e.connectTimeout,
    headersTimeoutMs: e.headersTimeout,
    idleTimeoutMs: e.idleTimeout,
    retries: e.retries,
    connections: e.connections,
    concurrency: e.concurrency,
    allow: e.allow,
    deny: e.deny,
    // An upstream we log in to holds content not everyone may see, unless the operator says otherwise.
    private: e.private ?? (e.username !== undefined || token !== undefined),
    immutableTags: e.immutableTags,
    immutableTagsMode: e.immutableTagsMode,
    pins: e.pins,
    offline: e.offline,
    clientCert: readSettingFile(e.clientCert, `${at}.clientCert`, problems),
    clientKey: readSettingFile(e.clientKey, `${at}.clientKey`, problems),
    // Like aliases, an entry overriding a built-in keeps the built-in's realms unless it lists its own.
    tokenRealms: [...(e.tokenRealms ?? builtInUpstreams[name]?.tokenRealms ?? [])],
  };
}
