// The settings table: embedded defaults < YAML file < environment < flags, validated into one frozen Config.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { cacheDirProblem } from './cache-dir-check.js';
import { parseDuration, parseSize } from './config-values.js';

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
  /** PEM CA bundle contents (read at start). */
  readonly ca: string | undefined;
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

export interface ClientAuthConfig {
  readonly realm: string;
  /** htpasswd users (bcrypt), by name → hash. */
  readonly users: ReadonlyMap<string, string>;
  /** Repository patterns (`upstream/repository`) per user; a user not listed may pull everything. */
  readonly userRepositories: ReadonlyMap<string, readonly string[]>;
  /** Static tokens ("robot accounts"), sent as a bearer token or as the password of Basic auth. */
  readonly tokens: ReadonlyArray<{ readonly name: string; readonly token: string; readonly repositories: readonly string[] }>;
  /** Ops endpoints that also need credentials. */
  readonly protect: ReadonlyArray<'metrics' | 'healthz' | 'readyz'>;
  /** Failed attempts per user and per client address within `failureWindowMs` before attempts are refused (0: never). */
  readonly maxFailures: number;
  readonly failureWindowMs: number;
  /** Password checks waiting for a worker thread; beyond this, attempts are refused at once. */
  readonly verifyQueue: number;
}

export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly cacheDir: string;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly defaultUpstream: string;
  readonly tagTtlMs: number;
  readonly staleTimeoutMs: number;
  readonly flightTimeoutMs: number;
  readonly upstreamTimeoutMs: number;
  readonly manifestMemoryBytes: number;
  /** Cap on cached bytes, 0 for none. */
  readonly maxCacheBytes: number;
  readonly smallBlobBytes: number;
  readonly blobMemoryBytes: number;
  /** The largest blob accepted from upstream when no manifest or HEAD gave its size. */
  readonly maxBlobBytes: number;
  /** Bytes per second the background scrub re-hashes; 0 turns it off. */
  readonly scrubBytesPerSecond: number;
  readonly pinnedRepositories: readonly string[];
  readonly pinnedDigests: readonly string[];
  readonly shutdownGraceMs: number;
  readonly upstreams: readonly UpstreamConfig[];
  /** Client authentication; undefined when anyone may pull. */
  readonly auth: ClientAuthConfig | undefined;
  /** No upstream is ever contacted (air-gapped sites). */
  readonly offline: boolean;
  /** Shared metadata and cluster-wide single flight; undefined for a single replica. */
  readonly redis: { readonly url: string } | undefined;
  /** This replica's name: its temp files and flight leases carry it. */
  readonly replicaId: string;
  /** How long a replica's claim on a download lasts without renewal (it renews every third of it). */
  readonly flightLeaseMs: number;
  /** Images (references) that are the only ones served, with the digests they reference; undefined when not restricted. */
  readonly sanctioned: readonly string[] | undefined;
  /** A second listener serving only /metrics, for scrapers kept off the registry port. */
  readonly metricsListen: { readonly host: string; readonly port: number } | undefined;
  /** HTTPS serving; undefined for plain HTTP. */
  readonly tls: TlsConfig | undefined;
}

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

export const defaults = {
  listen: '0.0.0.0:5000',
  cacheDir: './data',
  logLevel: 'info',
  defaultUpstream: 'docker.io',
  // Five minutes: a moved `latest` shows up quickly, and a node rollout of hundreds of pulls asks upstream once.
  tagTtl: '5m',
  staleTimeout: '3s',
  flightTimeout: '1h',
  upstreamTimeout: '30s',
  manifestMemory: '64MiB',
  maxCacheSize: '0',
  smallBlobSize: '256KiB',
  blobMemory: '64MiB',
  // Larger than any layer seen in practice (multi-GiB model weights included), small enough that an endless body stops.
  maxBlobSize: '64GiB',
  scrubRate: '0',
  shutdownGrace: '30s',
  includeDefaultUpstreams: true,
  upstream: { connectTimeout: '10s', headersTimeout: '30s', idleTimeout: '60s', retries: 3, connections: 32, concurrency: 16 },
  auth: { maxFailures: 10, failureWindow: '1m', verifyQueue: 64 },
} as const;

const duration = z.union([z.string(), z.number()]).refine((v) => parseDuration(v) !== undefined, {
  message: 'expected a duration such as "500ms", "30s", "5m" or "1h"',
});
const size = z.union([z.string(), z.number()]).refine((v) => parseSize(v) !== undefined, {
  message: 'expected a size such as "64MiB" or "50GiB"',
});

const repositoryPattern = z.string().regex(/^[a-z0-9._*/-]+$/, 'expected repository patterns such as "library/*" or "bitnami/**"');
// Registry host names, optionally with a port: ASCII only (IDNs as punycode), so no Unicode case fold can alias one.
const hostName = z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$/, 'expected a host name such as "ghcr.io" or "registry.local:5000"');
const tokenRealm = z
  .string()
  .regex(
    /^(https?:\/\/)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$/,
    'expected a host ("auth.docker.io", "auth.example:8443") or an origin ("https://auth.example")',
  );

const upstreamSchema = z
  .object({
    url: z.string().url({ message: 'expected an absolute http(s) URL' }),
    aliases: z.array(hostName).optional(),
    insecure: z.boolean().optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    passwordFile: z.string().optional(),
    token: z.string().optional(),
    tokenFile: z.string().optional(),
    ca: z.string().optional(),
    connectTimeout: duration.optional(),
    headersTimeout: duration.optional(),
    idleTimeout: duration.optional(),
    retries: z.number().int().min(0).max(10).optional(),
    connections: z.number().int().min(1).max(1024).optional(),
    concurrency: z.number().int().min(1).max(1024).optional(),
    allow: z.array(repositoryPattern).optional(),
    deny: z.array(repositoryPattern).optional(),
    private: z.boolean().optional(),
    immutableTags: z.array(z.string().regex(/^([A-Za-z0-9._*/-]+:)?[A-Za-z0-9._*-]+$/, 'expected "tag" or "repository:tag" patterns with *')).optional(),
    immutableTagsMode: z.enum(['enforce', 'warn']).optional(),
    pins: z
      .array(
        z
          .string()
          .regex(/^[a-z0-9._/-]+:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}@sha(256:[a-f0-9]{64}|512:[a-f0-9]{128})$/, 'expected "repository:tag@sha256:<64 hex>"'),
      )
      .optional(),
    clientCert: z.string().optional(),
    clientKey: z.string().optional(),
    offline: z.boolean().optional(),
    tokenRealms: z.array(tokenRealm).optional(),
  })
  .strict();

const fileSchema = z
  .object({
    listen: z.union([z.string(), z.number()]).optional(),
    cacheDir: z.string().min(1).optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
    defaultUpstream: z.string().min(1).optional(),
    tagTtl: duration.optional(),
    staleTimeout: duration.optional(),
    flightTimeout: duration.optional(),
    upstreamTimeout: duration.optional(),
    manifestMemory: size.optional(),
    maxCacheSize: size.optional(),
    smallBlobSize: size.optional(),
    blobMemory: size.optional(),
    maxBlobSize: size.optional(),
    scrubRate: size.optional(),
    pin: z
      .object({
        repositories: z.array(z.string().regex(/^[A-Za-z0-9.:_*/-]+$/, 'expected "upstream/repository" patterns with * and **')).optional(),
        digests: z.array(z.string().regex(/^sha(256:[a-f0-9]{64}|512:[a-f0-9]{128})$/, 'expected sha256:<64 hex> digests')).optional(),
      })
      .strict()
      .optional(),
    shutdownGrace: duration.optional(),
    tls: z.object({ cert: z.string(), key: z.string() }).strict().optional(),
    metricsListen: z.union([z.string(), z.number()]).optional(),
    offline: z.boolean().optional(),
    metadata: z
      .object({
        redis: z
          .object({ url: z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL') })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    replicaId: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,63}$/, 'expected letters, digits, ".", "_" or "-" (at most 63)')
      .optional(),
    flightLease: duration.optional(),
    sanctioned: z
      .object({ file: z.string().optional(), images: z.array(z.string()).optional() })
      .strict()
      .optional(),
    auth: z
      .object({
        realm: z
          .string()
          .regex(/^[\x20-\x7e]*$/)
          .refine((v) => !v.includes('"'), 'no double quotes')
          .optional(),
        htpasswd: z.string().optional(),
        users: z.record(z.string(), z.array(z.string().regex(/^[A-Za-z0-9.:_*/-]+$/, 'expected "upstream/repository" patterns'))).optional(),
        tokens: z
          .array(
            z
              .object({
                name: z.string().min(1),
                token: z.string().min(16, 'tokens need at least 16 characters').optional(),
                tokenFile: z.string().optional(),
                repositories: z.array(z.string().regex(/^[A-Za-z0-9.:_*/-]+$/, 'expected "upstream/repository" patterns')).optional(),
              })
              .strict(),
          )
          .optional(),
        protect: z.array(z.enum(['metrics', 'healthz', 'readyz'])).optional(),
        throttle: z
          .object({
            failures: z.number().int().min(0).max(10_000).optional(),
            window: duration.optional(),
            queue: z.number().int().min(1).max(100_000).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    includeDefaultUpstreams: z.boolean().optional(),
    upstreams: z.record(z.string(), upstreamSchema.nullable()).optional(),
  })
  .strict();

type FileSettings = z.infer<typeof fileSchema>;

/** Environment variables and the settings they set (flags use the same names, kebab-case). */
export const environmentKeys: Record<string, keyof FileSettings> = {
  TENDER_LISTEN: 'listen',
  TENDER_CACHE_DIR: 'cacheDir',
  TENDER_LOG_LEVEL: 'logLevel',
  TENDER_DEFAULT_UPSTREAM: 'defaultUpstream',
  TENDER_TAG_TTL: 'tagTtl',
  TENDER_STALE_TIMEOUT: 'staleTimeout',
  TENDER_FLIGHT_TIMEOUT: 'flightTimeout',
  TENDER_UPSTREAM_TIMEOUT: 'upstreamTimeout',
  TENDER_MANIFEST_MEMORY: 'manifestMemory',
  TENDER_MAX_CACHE_SIZE: 'maxCacheSize',
  TENDER_MAX_BLOB_SIZE: 'maxBlobSize',
  TENDER_SCRUB_RATE: 'scrubRate',
  TENDER_METRICS_LISTEN: 'metricsListen',
  TENDER_OFFLINE: 'offline',
  TENDER_REPLICA_ID: 'replicaId',
};

function sanitizedHostname(): string {
  return (
    hostname()
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .slice(0, 63) || 'tender'
  );
}

/** Environment booleans: true/false/1/0/yes/no; anything else stays a string for the schema to refuse. */
function booleanOf(value: string): boolean | string {
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  return value;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface ConfigSources {
  /** Path of a YAML config file, if any. */
  readonly file?: string | undefined;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Settings given as flags, by setting name. */
  readonly flags?: Readonly<Partial<Record<keyof FileSettings, string | undefined>>>;
}

export interface LoadOptions {
  /** Also check that the cache directory can be used (created if missing): for commands that open the cache. */
  readonly checkCacheDir?: boolean;
}

/** Reads and validates every source; throws a ConfigError listing every problem at once. */
export function loadConfig(sources: ConfigSources = {}, options: LoadOptions = {}): Config {
  const problems: string[] = [];
  let fromFile: unknown = {};
  if (sources.file) {
    try {
      fromFile = parseYaml(readFileSync(sources.file, 'utf8')) ?? {};
    } catch (err) {
      throw new ConfigError([`config file ${sources.file}: ${(err as Error).message}`]);
    }
  }
  const merged: Record<string, unknown> = { ...(fromFile as object) };
  for (const [variable, key] of Object.entries(environmentKeys)) {
    const value = sources.env?.[variable];
    if (value !== undefined && value !== '') merged[key] = key === 'offline' ? booleanOf(value) : value;
  }
  for (const [key, value] of Object.entries(sources.flags ?? {})) if (value !== undefined) merged[key] = value;

  // Every problem at once: report schema issues, drop what they name, and still check the rest.
  const cacheDirGiven = merged.cacheDir !== undefined;
  const broken = new Set<string>();
  let parsed = fileSchema.safeParse(merged);
  if (!parsed.success) {
    const issues = parsed.error.issues;
    // Describe every issue before dropping anything, so each message still names its value.
    for (const issue of issues) problems.push(describeIssue(issue, merged));
    for (const issue of issues) dropIssue(merged, issue, broken);
    parsed = fileSchema.safeParse(merged);
    if (!parsed.success) throw new ConfigError(problems);
  }
  const config = build(parsed.data, problems, broken);
  // A cacheDir with a shape error was reported already; the default is not checked in its place.
  if (options.checkCacheDir && (!cacheDirGiven || parsed.data.cacheDir !== undefined)) {
    const problem = cacheDirProblem(config.cacheDir);
    if (problem) problems.push(`cacheDir: ${problem}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

/** Settings whose values are never echoed back, wherever they appear. */
const secretKeys = new Set(['password', 'token']);

function describeIssue(issue: z.core.$ZodIssue, settings: Record<string, unknown>): string {
  const key = issue.path.join('.') || '(top level)';
  const last = issue.path[issue.path.length - 1];
  const value = issue.path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k as string], settings);
  const hidden = value === undefined || typeof value === 'object' || secretKeys.has(String(last));
  const shown = hidden ? '' : `, got ${JSON.stringify(typeof value === 'string' ? redactUrl(value) : value)}`;
  return `${key}: ${issue.message}${shown}`;
}

/** Hides user:password in a URL-looking value. */
function redactUrl(value: string): string {
  // Up to the last "@": a password may itself contain "@" or "/".
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)\S*@/i, '$1[redacted]@');
}

/** Removes what a schema issue points at, so the remaining settings can still be checked. */
function dropIssue(settings: Record<string, unknown>, issue: z.core.$ZodIssue, broken: Set<string>): void {
  const [first, second] = issue.path as Array<string | number>;
  if (first === undefined) {
    if (issue.code === 'unrecognized_keys') for (const key of issue.keys) delete settings[key];
    return;
  }
  if (first === 'upstreams' && second !== undefined) {
    // A broken upstream entry is left out whole; its name is remembered so nothing else trips on it.
    delete (settings.upstreams as Record<string, unknown>)[second];
    broken.add(String(second));
    return;
  }
  if (first === 'upstreams' && issue.code === 'unrecognized_keys') return;
  delete settings[first];
}

function build(s: FileSettings, problems: string[], broken: ReadonlySet<string>): Config {
  const listen = parseListen(s.listen ?? defaults.listen);
  if (!listen) problems.push(`listen: expected "host:port", ":port" or a port number, got ${JSON.stringify(s.listen)}`);
  if (s.metricsListen !== undefined && !parseListen(s.metricsListen)) {
    problems.push(`metricsListen: expected "host:port", ":port" or a port number, got ${JSON.stringify(s.metricsListen)}`);
  }

  const upstreams: UpstreamConfig[] = [];
  const entries = new Map<string, z.infer<typeof upstreamSchema> | null>();
  if (s.includeDefaultUpstreams ?? defaults.includeDefaultUpstreams) {
    for (const [name, entry] of Object.entries(builtInUpstreams)) entries.set(name, entry);
  }
  for (const [name, entry] of Object.entries(s.upstreams ?? {})) entries.set(name, entry);
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
  const defaultUpstream = s.defaultUpstream ?? defaults.defaultUpstream;
  if (!upstreams.some((u) => u.name === defaultUpstream) && !broken.has(defaultUpstream)) {
    problems.push(`defaultUpstream: "${defaultUpstream}" is not a configured upstream (have: ${upstreams.map((u) => u.name).join(', ') || 'none'})`);
  }
  return {
    host: listen?.host ?? '0.0.0.0',
    port: listen?.port ?? 5000,
    cacheDir: s.cacheDir ?? defaults.cacheDir,
    logLevel: s.logLevel ?? defaults.logLevel,
    defaultUpstream,
    tagTtlMs: parseDuration(s.tagTtl ?? defaults.tagTtl)!,
    staleTimeoutMs: parseDuration(s.staleTimeout ?? defaults.staleTimeout)!,
    flightTimeoutMs: parseDuration(s.flightTimeout ?? defaults.flightTimeout)!,
    upstreamTimeoutMs: parseDuration(s.upstreamTimeout ?? defaults.upstreamTimeout)!,
    manifestMemoryBytes: parseSize(s.manifestMemory ?? defaults.manifestMemory)!,
    maxCacheBytes: parseSize(s.maxCacheSize ?? defaults.maxCacheSize)!,
    smallBlobBytes: parseSize(s.smallBlobSize ?? defaults.smallBlobSize)!,
    blobMemoryBytes: parseSize(s.blobMemory ?? defaults.blobMemory)!,
    maxBlobBytes: positiveSize('maxBlobSize', s.maxBlobSize ?? defaults.maxBlobSize, problems),
    scrubBytesPerSecond: parseSize(s.scrubRate ?? defaults.scrubRate)!,
    pinnedRepositories: s.pin?.repositories ?? [],
    pinnedDigests: s.pin?.digests ?? [],
    shutdownGraceMs: parseDuration(s.shutdownGrace ?? defaults.shutdownGrace)!,
    upstreams,
    auth: buildAuth(s.auth, problems),
    tls: s.tls ? { certFile: s.tls.cert, keyFile: s.tls.key } : undefined,
    metricsListen: s.metricsListen === undefined ? undefined : parseListen(s.metricsListen),
    offline: s.offline ?? false,
    redis: s.metadata?.redis ? { url: s.metadata.redis.url } : undefined,
    replicaId: s.replicaId ?? sanitizedHostname(),
    flightLeaseMs: parseDuration(s.flightLease ?? '10s')!,
    sanctioned: s.sanctioned === undefined ? undefined : sanctionedImages(s.sanctioned, problems),
  };
}

function buildUpstream(name: string, entry: z.infer<typeof upstreamSchema>, problems: string[]): UpstreamConfig {
  const at = `upstreams.${name}`;
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$/i.test(name)) {
    problems.push(`${at}: upstream names are registry host names such as "ghcr.io" or "registry.local:5000"`);
  }
  const url = new URL(entry.url);
  const insecure = entry.insecure ?? false;
  if (url.username || url.password) problems.push(`${at}.url: put credentials in username/password, not in the URL (got "${redactUrl(entry.url)}")`);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') problems.push(`${at}.url: expected http or https, got "${url.protocol}"`);
  if (url.protocol === 'http:' && !insecure) problems.push(`${at}.url: plain http needs "insecure: true", got "${redactUrl(entry.url)}"`);
  const password = entry.password ?? readSecret(entry.passwordFile, `${at}.passwordFile`, problems);
  const token = entry.token ?? readSecret(entry.tokenFile, `${at}.tokenFile`, problems);
  if (password !== undefined && entry.username === undefined) problems.push(`${at}.username: required when a password is set`);
  if (entry.username !== undefined && password === undefined) problems.push(`${at}.password: required when a username is set (or passwordFile)`);
  if (token !== undefined && entry.username !== undefined) problems.push(`${at}: set either username/password or token, not both`);
  const ca = entry.ca === undefined ? undefined : readSecret(entry.ca, `${at}.ca`, problems);
  if ((entry.clientCert === undefined) !== (entry.clientKey === undefined)) problems.push(`${at}: clientCert and clientKey go together`);
  for (const realm of entry.tokenRealms ?? []) {
    if (realm.toLowerCase().startsWith('http://') && !insecure) problems.push(`${at}.tokenRealms: "${realm}" is plain http, which needs "insecure: true"`);
  }
  const u = defaults.upstream;
  return {
    name,
    url: url.origin + url.pathname.replace(/\/+$/, ''),
    // Overriding a built-in (to add credentials, say) keeps the names clients already use for it.
    aliases: [...(entry.aliases ?? builtInUpstreams[name]?.aliases ?? [])],
    insecure,
    username: entry.username,
    password,
    token,
    ca,
    connectTimeoutMs: parseDuration(entry.connectTimeout ?? u.connectTimeout)!,
    headersTimeoutMs: parseDuration(entry.headersTimeout ?? u.headersTimeout)!,
    idleTimeoutMs: parseDuration(entry.idleTimeout ?? u.idleTimeout)!,
    retries: entry.retries ?? u.retries,
    connections: entry.connections ?? u.connections,
    concurrency: entry.concurrency ?? u.concurrency,
    allow: entry.allow ?? [],
    deny: entry.deny ?? [],
    // An upstream we log in to holds content not everyone may see, unless the operator says otherwise.
    private: entry.private ?? (entry.username !== undefined || token !== undefined),
    immutableTags: entry.immutableTags ?? [],
    immutableTagsMode: entry.immutableTagsMode ?? 'enforce',
    pins: entry.pins ?? [],
    offline: entry.offline ?? false,
    clientCert: entry.clientCert === undefined ? undefined : readSecret(entry.clientCert, `${at}.clientCert`, problems),
    clientKey: entry.clientKey === undefined ? undefined : readSecret(entry.clientKey, `${at}.clientKey`, problems),
    // Like aliases, an entry overriding a built-in keeps the built-in's realms unless it lists its own.
    tokenRealms: [...(entry.tokenRealms ?? builtInUpstreams[name]?.tokenRealms ?? [])],
  };
}

/** The sanctioned list: inline images plus those of a list file (the same YAML `tender seed --file` reads). */
function sanctionedImages(sanctioned: { file?: string | undefined; images?: string[] | undefined }, problems: string[]): string[] {
  const images = [...(sanctioned.images ?? [])];
  if (sanctioned.file !== undefined) {
    const text = readSecret(sanctioned.file, 'sanctioned.file', problems);
    if (text !== undefined) {
      try {
        images.push(...parseImageList(text).map((entry) => entry.ref));
      } catch (err) {
        problems.push(`sanctioned.file: ${(err as Error).message}`);
      }
    }
  }
  if (images.length === 0) problems.push('sanctioned: no images listed (everything would be denied)');
  return images;
}

export interface ImageListEntry {
  readonly ref: string;
  /** os/architecture[/variant]; all platforms of an index when absent. */
  readonly platforms?: readonly string[];
}

/** Reads an image list: YAML `images:` entries as strings or `{ ref, platforms }`. */
export function parseImageList(text: string): ImageListEntry[] {
  const parsed = parseYaml(text) as { images?: unknown } | null;
  const entries = parsed?.images;
  if (!Array.isArray(entries)) throw new Error('expected a YAML document with an "images:" list');
  return entries.map((entry, i) => {
    if (typeof entry === 'string' && entry.length > 0) return { ref: entry };
    const { ref, platforms } = (entry ?? {}) as { ref?: unknown; platforms?: unknown };
    if (typeof ref !== 'string' || ref.length === 0) throw new Error(`images[${i}]: expected a reference or { ref, platforms }`);
    if (
      platforms !== undefined &&
      !(Array.isArray(platforms) && platforms.every((p) => typeof p === 'string' && /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(p)))
    ) {
      throw new Error(`images[${i}].platforms: expected a list such as ["linux/amd64", "linux/arm64/v8"]`);
    }
    return platforms === undefined ? { ref } : { ref, platforms: platforms as string[] };
  });
}

function buildAuth(auth: FileSettings['auth'], problems: string[]): ClientAuthConfig | undefined {
  if (!auth) return undefined;
  const users = new Map<string, string>();
  if (auth.htpasswd !== undefined) {
    const text = readSecret(auth.htpasswd, 'auth.htpasswd', problems) ?? '';
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
    const token = entry.token ?? readSecret(entry.tokenFile, `auth.tokens.${i}.tokenFile`, problems);
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
    realm: auth.realm ?? 'tender',
    users,
    userRepositories: new Map(Object.entries(auth.users ?? {})),
    tokens,
    protect: auth.protect ?? ['metrics'],
    maxFailures: auth.throttle?.failures ?? defaults.auth.maxFailures,
    failureWindowMs: parseDuration(auth.throttle?.window ?? defaults.auth.failureWindow)!,
    verifyQueue: auth.throttle?.queue ?? defaults.auth.verifyQueue,
  };
}

/** A size that must be above 0 (a ceiling of 0 would refuse every blob). */
function positiveSize(key: string, value: string | number, problems: string[]): number {
  const bytes = parseSize(value)!;
  if (bytes <= 0) problems.push(`${key}: expected a size above 0, got ${JSON.stringify(value)}`);
  return bytes;
}

function readSecret(path: string | undefined, key: string, problems: string[]): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    problems.push(`${key}: cannot read "${path}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return undefined;
  }
}

function parseListen(value: string | number): { host: string; port: number } | undefined {
  const text = String(value);
  const match = /^(?:(\[[^\]]+\]|[^:]*):)?(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port > 65535) return undefined;
  const host = match[1] ? match[1].replace(/^\[|\]$/g, '') : '0.0.0.0';
  return { host, port };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
