// The settings table: every setting once, with its environment variable, flag, default, value type and help.
// The schema, the environment map, the CLI flags and their help are derived from it; test/unit/config/
// checks that the README's configuration table and tender.example.yaml list exactly these keys.
import { z } from 'zod';
import { admissionTokens, hostList, namespaceList } from './admission.js';
import { authTokens, authUsers } from './client-auth.js';
import type { Sections, SettingsTable } from './setting.js';
import { signatureExempt, signaturePolicies } from './signatures.js';
import { tagTtlRules, upstreamEntrySchema } from './upstreams.js';
import { autoOrCount, boolean, duration, integer, listenAddress, oneOf, positiveSize, size, structured, text, v8FlagList } from './value-types.js';

const upstreamPatterns = (message: string) => structured(z.array(z.string().regex(/^[A-Za-z0-9.:_*/-]+$/, message)), 'list');
const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const protectable = ['metrics', 'healthz', 'readyz', 'api', 'ui'] as const;
const headerMap = structured(z.record(z.string(), z.string()), 'map');

export const settings = {
  listen: {
    value: listenAddress,
    default: '0.0.0.0:5000',
    env: 'TENDER_LISTEN',
    flag: 'listen',
    commands: ['serve'],
    help: 'address to listen on: host:port, :port, [::]:port or a port number',
  },
  workers: {
    value: autoOrCount(64),
    default: 'auto',
    env: 'TENDER_WORKERS',
    flag: 'workers',
    commands: ['serve'],
    help: 'serving processes sharing the port and the cache: auto (one per core the process may use) or a number (1: one process)',
  },
  workerV8Flags: {
    value: v8FlagList,
    default: '--max-semi-space-size=1 --liftoff-only',
    // Measured (bench/PROFILE.md, "Memory"): V8's 16 MiB semi-spaces are 32 MiB touched per worker under load, and
    // TurboFan's tier-up of undici's WebAssembly HTTP parser took a 35 MiB compiler burst in every worker that
    // fetched upstream; together 386 -> ~290 MiB for a primary and two workers. The flags are longer than the
    // README's default column: its Workers section names them.
    defaultText: 'bounded (see Workers)',
    env: 'TENDER_WORKER_V8_FLAGS',
    commands: ['serve'],
    help: 'V8 flags of each worker process (workers > 1), space-separated; "" keeps V8\'s defaults. The default bounds a worker\'s heap growth',
  },
  cacheDir: { value: text('dir'), default: './data', env: 'TENDER_CACHE_DIR', flag: 'cache-dir', help: 'cache directory' },
  logLevel: { value: oneOf(logLevels, 'level'), default: 'info', env: 'TENDER_LOG_LEVEL', flag: 'log-level', help: logLevels.join(', ') },
  defaultUpstream: {
    value: text('name'),
    default: 'docker.io',
    env: 'TENDER_DEFAULT_UPSTREAM',
    flag: 'default-upstream',
    help: 'upstream for requests with neither ns nor a registry host prefix',
  },
  tagTtl: { value: duration, default: '5m', env: 'TENDER_TAG_TTL', flag: 'tag-ttl', help: 'how long a tag is served without asking upstream' },
  tagTtls: {
    value: tagTtlRules,
    default: [],
    help: 'freshness by tag pattern, [{pattern, ttl}] tried in order before tagTtl (an upstream\'s own tagTtls first; ttl "never": never revalidated)',
  },
  missingTagTtl: {
    value: duration,
    default: '10s',
    env: 'TENDER_MISSING_TAG_TTL',
    help: 'how long a tag upstream answered 404 for is answered 404 without asking again (0: off)',
  },
  staleTimeout: {
    value: duration,
    default: '3s',
    env: 'TENDER_STALE_TIMEOUT',
    help: 'how long a revalidation may take before the last known digest is served',
  },
  flightTimeout: { value: duration, default: '1h', env: 'TENDER_FLIGHT_TIMEOUT', help: 'deadline for one upstream blob download' },
  upstreamTimeout: {
    value: duration,
    default: '30s',
    env: 'TENDER_UPSTREAM_TIMEOUT',
    help: 'deadline for one upstream manifest, HEAD, tag list or referrers request',
  },
  manifestMemory: { value: size, default: '64MiB', env: 'TENDER_MANIFEST_MEMORY', help: 'manifests kept in memory' },
  maxCacheSize: {
    value: size,
    default: '0',
    env: 'TENDER_MAX_CACHE_SIZE',
    flag: 'max-cache-size',
    help: 'evict least recently used blobs above this size, e.g. 50GiB (0: no cap)',
  },
  smallBlobSize: { value: size, default: '256KiB', env: 'TENDER_SMALL_BLOB_SIZE', help: 'blobs up to this size are kept in memory once hit' },
  blobMemory: { value: size, default: '64MiB', env: 'TENDER_BLOB_MEMORY', help: 'memory for those small blobs' },
  // Larger than any layer seen in practice (multi-GiB model weights included), small enough that an endless body stops.
  maxBlobSize: {
    value: positiveSize,
    default: '64GiB',
    env: 'TENDER_MAX_BLOB_SIZE',
    help: 'the largest blob accepted from upstream when no manifest or HEAD gave its size',
  },
  scrubRate: { value: size, default: '0', env: 'TENDER_SCRUB_RATE', help: 'bytes per second the background scrub re-hashes the cache at (0: off)' },
  'pin.repositories': {
    value: upstreamPatterns('expected "upstream/repository" patterns with * and **'),
    default: [],
    help: 'upstream/repository patterns whose content is never evicted',
  },
  'pin.digests': {
    value: structured(z.array(z.string().regex(/^sha(256:[a-f0-9]{64}|512:[a-f0-9]{128})$/, 'expected sha256:<64 hex> digests')), 'list'),
    default: [],
    help: 'digests never evicted',
  },
  shutdownGrace: {
    value: duration,
    default: '30s',
    env: 'TENDER_SHUTDOWN_GRACE',
    help: 'on SIGTERM/SIGINT, how long transfers may finish before connections are closed',
  },
  'tls.cert': { value: text('file'), required: true, help: 'PEM certificate (chain) to serve HTTPS with' },
  'tls.key': { value: text('file'), required: true, help: 'PEM key of tls.cert' },
  'auth.realm': {
    value: text('realm', { regex: /^[\x20\x21\x23-\x7e]*$/, message: 'expected printable ASCII without double quotes' }),
    default: 'tender',
    help: 'the realm of the Basic challenge',
  },
  'auth.htpasswd': { value: text('file'), help: 'htpasswd file of bcrypt users' },
  'auth.users': { value: authUsers, defaultText: 'every user may pull everything', help: 'user → upstream/repository patterns' },
  'auth.tokens': { value: authTokens, defaultText: 'none', help: 'static tokens: name, token or tokenFile, repositories' },
  'auth.protect': {
    value: structured(z.array(z.enum(protectable)), 'list'),
    default: ['metrics', 'api', 'ui'],
    help: 'ops endpoints that need credentials too (api: /api/v1/, ui: /ui/)',
  },
  'auth.throttle.failures': { value: integer(0, 10_000), default: 10, help: 'failed logins per user and per address in the window (0: off)' },
  'auth.throttle.window': { value: duration, default: '1m', help: 'the window those failures are counted in' },
  'auth.throttle.queue': { value: integer(1, 100_000), default: 64, help: 'password checks waiting for a thread before 429' },
  metricsListen: { value: listenAddress, env: 'TENDER_METRICS_LISTEN', help: 'a second address serving only /metrics' },
  'metadata.redis.url': {
    value: text('url', { regex: /^rediss?:\/\//, message: 'expected a redis:// or rediss:// URL' }),
    required: true,
    // A password may be in it: a value that does not fit is not shown.
    secret: true,
    env: 'TENDER_METADATA_REDIS_URL',
    help: 'Redis for shared metadata and cluster-wide single flight',
  },
  replicaId: {
    value: text('name', { regex: /^[A-Za-z0-9._-]{1,63}$/, message: 'expected letters, digits, ".", "_" or "-" (at most 63)' }),
    defaultText: 'host name',
    env: 'TENDER_REPLICA_ID',
    help: "this replica's name (temp files and download leases carry it)",
  },
  flightLease: {
    value: duration,
    default: '10s',
    env: 'TENDER_FLIGHT_LEASE',
    help: "how long a replica's claim on a download lasts without renewal",
  },
  'audit.file.path': {
    value: text('file'),
    required: true,
    help: 'JSON-lines file of pull events (one per process, with workers name.w<slot>.ext each; its directory is created)',
  },
  'audit.file.maxSize': { value: positiveSize, default: '100MiB', help: 'rotate before the live file would pass this size' },
  'audit.file.maxFiles': { value: integer(0, 1000), default: 5, help: 'rotated copies kept (file.1 … file.N)' },
  'audit.file.queueSize': { value: integer(1, 10_000_000), default: 10_000, help: 'events held while the disk is slow or failing, then dropped and counted' },
  'audit.notifications.url': {
    value: text('url', { regex: /^https?:\/\/[^\s@]+$/, message: 'expected an http:// or https:// URL without user:password' }),
    required: true,
    help: "listener POSTed pull events in distribution's notification format",
  },
  'audit.notifications.headers': { value: headerMap, defaultText: 'none', secret: true, help: 'headers sent with every POST (Authorization…), never logged' },
  'audit.notifications.timeout': { value: duration, default: '5s', help: 'per POST, connection to answer' },
  'audit.notifications.batchSize': { value: integer(1, 10_000), default: 100, help: 'events per envelope, at most' },
  'audit.notifications.batchDelay': { value: duration, default: '1s', help: 'how long the first queued event waits for others' },
  'audit.notifications.queueSize': { value: integer(1, 10_000_000), default: 10_000, help: 'events held while the listener is down, then dropped and counted' },
  'audit.notifications.backoff.initial': { value: duration, default: '500ms', help: 'first retry pause (doubles per failure)' },
  'audit.notifications.backoff.max': { value: duration, default: '60s', help: 'longest retry pause' },
  'audit.notifications.baseUrl': {
    value: text('url', { regex: /^https?:\/\//, message: 'expected an http:// or https:// URL' }),
    help: "the URL clients reach tender by: fills the events' target.url",
  },
  'inventory.flushInterval': { value: duration, default: '5s', help: 'how often changed inventory records are written (pull counts are batched)' },
  'inventory.retention': { value: duration, default: '7d', help: 'how long records of evicted images are kept (their tag history)' },
  offline: { value: boolean, default: false, env: 'TENDER_OFFLINE', help: 'never contact any upstream' },
  'sanctioned.file': { value: text('file'), help: 'image list (the format seed --file reads) of the only images served' },
  'sanctioned.images': { value: structured(z.array(z.string()), 'list'), help: 'the only images served, inline' },
  'admission.mode': { value: oneOf(['enforce', 'warn'] as const), default: 'enforce', help: 'warn: admit what would be refused, with a warning' },
  'admission.requireDigest': { value: boolean, default: false, help: 'refuse image references without a digest' },
  'admission.exemptNamespaces': { value: namespaceList, default: ['kube-system'], help: 'namespaces whose Pods are admitted unjudged' },
  'admission.mirrorHosts': { value: hostList, default: [], help: "tender's own host[:port] names, as images name them" },
  'admission.breakGlassAnnotation': {
    value: text('key'),
    default: 'tender.image-policy.k8s.io/break-glass',
    help: 'Pod annotation that admits the Pod (audited); must match *.image-policy.k8s.io/*',
  },
  'admission.deadline': { value: duration, default: '8s', help: 'time to judge one review; keep it under the webhook timeoutSeconds' },
  'admission.clientCa': { value: text('file'), help: 'PEM CA of the client certificates that may call /admission/* (mutual TLS)' },
  'admission.tokens': { value: admissionTokens, defaultText: 'none', help: 'bearer tokens that may call /admission/*: name, token or tokenFile' },
  'signatures.onError': {
    value: oneOf(['deny', 'allow'] as const),
    default: 'deny',
    help: 'when the signatures of a policy repository cannot be fetched: deny (503) or allow (serve, counted as fail-open)',
  },
  'signatures.exempt': { value: signatureExempt, default: [], help: 'upstream/repository patterns never checked for signatures' },
  'signatures.policies': {
    value: signaturePolicies,
    defaultText: 'none',
    help: 'cosign signature policies: name, repositories, keys (PEM public key files), mode (enforce|warn)',
  },
  includeDefaultUpstreams: {
    value: boolean,
    default: true,
    env: 'TENDER_INCLUDE_DEFAULT_UPSTREAMS',
    help: 'start from the built-in upstream table',
  },
  upstreams: {
    value: structured(z.record(z.string(), upstreamEntrySchema), 'map'),
    default: {},
    defaultText: 'the built-ins',
    help: 'upstream name → its settings, or null to remove a built-in',
  },
} satisfies SettingsTable;

export type SettingKey = keyof typeof settings;

export const sections: Sections = {
  pin: 'group',
  tls: 'optional',
  auth: 'optional',
  'auth.throttle': 'group',
  metadata: 'group',
  'metadata.redis': 'optional',
  sanctioned: 'optional',
  admission: 'optional',
  audit: 'group',
  'audit.file': 'optional',
  'audit.notifications': 'optional',
  'audit.notifications.backoff': 'group',
  inventory: 'group',
  signatures: 'optional',
};
