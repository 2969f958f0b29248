// The validated configuration every part receives a slice of, built from the settings table's values.
import { hostname } from 'node:os';
import { buildAdmission, type AdmissionConfig } from './admission.js';
import { buildAuth, type ClientAuthConfig } from './client-auth.js';
import { parseImageList } from './image-list.js';
import { readSettingFile } from './read-setting-file.js';
import type { ValuesOf } from './setting.js';
import type { settings } from './settings.js';
import { buildSignatures, type SignatureConfig } from './signatures.js';
import { buildUpstreams, type TagTtlRule, type UpstreamConfig } from './upstreams.js';

export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly cacheDir: string;
  /** Serving processes on this host ('auto': one per usable core); resolved when serving starts. */
  readonly workers: number | 'auto';
  /** node/V8 flags each worker process is started with (workers > 1), before the primary's own execArgv. */
  readonly workerV8Flags: readonly string[];
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly defaultUpstream: string;
  readonly tagTtlMs: number;
  /** Freshness by tag pattern for every upstream, after each upstream's own rules. */
  readonly tagTtls: readonly TagTtlRule[];
  /** How long a tag upstream answered 404 for is answered 404 without asking again; 0 off. */
  readonly missingTagTtlMs: number;
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
  /** Cosign signature policies; undefined when no signature is checked. */
  readonly signatures: SignatureConfig | undefined;
  /** A second listener serving only /metrics, for scrapers kept off the registry port. */
  readonly metricsListen: { readonly host: string; readonly port: number } | undefined;
  /** HTTPS serving; undefined for plain HTTP. */
  readonly tls: TlsConfig | undefined;
  /** The admission endpoints (/admission/imagepolicy, /admission/validate); undefined when not served. */
  readonly admission: AdmissionConfig | undefined;
  /** Where pull events go: a JSON-lines file, a notification listener, both or neither. */
  readonly audit: AuditConfig;
  readonly inventory: { readonly flushIntervalMs: number; readonly retentionMs: number };
}

export interface AuditConfig {
  readonly file: { readonly path: string; readonly maxSize: number; readonly maxFiles: number; readonly queueSize: number } | undefined;
  readonly notifications:
    | {
        readonly url: string;
        readonly headers: Readonly<Record<string, string>>;
        readonly timeoutMs: number;
        readonly batchSize: number;
        readonly batchDelayMs: number;
        readonly queueSize: number;
        readonly backoffInitialMs: number;
        readonly backoffMaxMs: number;
        readonly baseUrl: string | undefined;
      }
    | undefined;
}

export interface BuildContext {
  /** Sections given (tls, auth, metadata.redis, sanctioned): each turns its feature on. */
  readonly given: (section: string) => boolean;
  /** Upstream entries left out for shape errors already reported: nothing else trips on their names. */
  readonly broken: ReadonlySet<string>;
  /** How a problem names a setting: its YAML key, or the variable or flag it came from. */
  readonly source: (key: string) => string;
}

/** The Config of checked values; cross-checks (files, credentials, names) add to `problems`. */
export function buildConfig(v: ValuesOf<typeof settings>, problems: string[], context: BuildContext): Config {
  const upstreams = buildUpstreams(v.upstreams, v.includeDefaultUpstreams, problems);
  if (!upstreams.some((u) => u.name === v.defaultUpstream) && !context.broken.has(v.defaultUpstream)) {
    problems.push(
      `${context.source('defaultUpstream')}: "${v.defaultUpstream}" is not a configured upstream (have: ${upstreams.map((u) => u.name).join(', ') || 'none'})`,
    );
  }
  if (v['inventory.flushInterval'] < 100) problems.push(`${context.source('inventory.flushInterval')}: at least 100ms`);
  return {
    host: v.listen.host,
    port: v.listen.port,
    cacheDir: v.cacheDir,
    workers: v.workers,
    workerV8Flags: v.workerV8Flags,
    logLevel: v.logLevel,
    defaultUpstream: v.defaultUpstream,
    tagTtlMs: v.tagTtl,
    tagTtls: v.tagTtls,
    missingTagTtlMs: v.missingTagTtl,
    staleTimeoutMs: v.staleTimeout,
    flightTimeoutMs: v.flightTimeout,
    upstreamTimeoutMs: v.upstreamTimeout,
    manifestMemoryBytes: v.manifestMemory,
    maxCacheBytes: v.maxCacheSize,
    smallBlobBytes: v.smallBlobSize,
    blobMemoryBytes: v.blobMemory,
    maxBlobBytes: v.maxBlobSize,
    scrubBytesPerSecond: v.scrubRate,
    pinnedRepositories: v['pin.repositories'],
    pinnedDigests: v['pin.digests'],
    shutdownGraceMs: v.shutdownGrace,
    upstreams,
    auth: context.given('auth')
      ? buildAuth(
          {
            realm: v['auth.realm'],
            htpasswd: v['auth.htpasswd'],
            users: v['auth.users'],
            tokens: v['auth.tokens'],
            protect: v['auth.protect'],
            failures: v['auth.throttle.failures'],
            windowMs: v['auth.throttle.window'],
            queue: v['auth.throttle.queue'],
          },
          problems,
        )
      : undefined,
    tls: context.given('tls') ? { certFile: v['tls.cert'], keyFile: v['tls.key'] } : undefined,
    metricsListen: v.metricsListen,
    offline: v.offline,
    redis: context.given('metadata.redis') ? { url: v['metadata.redis.url'] } : undefined,
    replicaId: v.replicaId ?? sanitizedHostname(),
    flightLeaseMs: v.flightLease,
    sanctioned: context.given('sanctioned') ? sanctionedImages(v['sanctioned.file'], v['sanctioned.images'], problems) : undefined,
    admission: context.given('admission')
      ? buildAdmission(
          {
            mode: v['admission.mode'],
            requireDigest: v['admission.requireDigest'],
            exemptNamespaces: v['admission.exemptNamespaces'],
            mirrorHosts: v['admission.mirrorHosts'],
            breakGlassAnnotation: v['admission.breakGlassAnnotation'],
            deadlineMs: v['admission.deadline'],
            clientCa: v['admission.clientCa'],
            tokens: v['admission.tokens'],
          },
          { tls: context.given('tls'), auth: context.given('auth') },
          problems,
        )
      : undefined,
    audit: {
      file: context.given('audit.file')
        ? { path: v['audit.file.path'], maxSize: v['audit.file.maxSize'], maxFiles: v['audit.file.maxFiles'], queueSize: v['audit.file.queueSize'] }
        : undefined,
      notifications: context.given('audit.notifications')
        ? {
            url: v['audit.notifications.url'],
            headers: v['audit.notifications.headers'] ?? {},
            timeoutMs: v['audit.notifications.timeout'],
            batchSize: v['audit.notifications.batchSize'],
            batchDelayMs: v['audit.notifications.batchDelay'],
            queueSize: v['audit.notifications.queueSize'],
            backoffInitialMs: v['audit.notifications.backoff.initial'],
            backoffMaxMs: v['audit.notifications.backoff.max'],
            baseUrl: v['audit.notifications.baseUrl'],
          }
        : undefined,
    },
    inventory: { flushIntervalMs: v['inventory.flushInterval'], retentionMs: v['inventory.retention'] },
    signatures: context.given('signatures')
      ? buildSignatures({ onError: v['signatures.onError'], exempt: v['signatures.exempt'], policies: v['signatures.policies'] }, problems)
      : undefined,
  };
}

/** The host name as a replica id: the characters replicaId allows, at most 63. */
function sanitizedHostname(): string {
  return (
    hostname()
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .slice(0, 63) || 'tender'
  );
}

/** The sanctioned list: inline images plus those of a list file (the same YAML `tender seed --file` reads). */
function sanctionedImages(file: string | undefined, inline: readonly string[] | undefined, problems: string[]): string[] {
  const images = [...(inline ?? [])];
  if (file !== undefined) {
    const text = readSettingFile(file, 'sanctioned.file', problems);
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
