// Composition root: the only place that builds concrete parts; also owns start-up and graceful shutdown.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { isIPv6, type AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import Keyv from 'keyv';
import type { BlobStore } from './cache/blob-store.js';
import { FallbackMetadataStore } from './cache/fallback-metadata-store.js';
import { ImageAdmission, type ImageJudgement } from './cache/image-admission.js';
import type { MetadataStore } from './cache/metadata-store.js';
import type { Router } from './cache/ports.js';
import { PullThrough, type CoreOptions } from './cache/pull-through.js';
import { Sanctioned, type SanctionedImage } from './cache/sanctioned.js';
import { TagPolicies } from './cache/tag-policy.js';
import { describeError } from './oci/errors.js';
import { parseImageReference } from './oci/image-reference.js';
import type { Config } from './config/config.js';
import { configuredAdmissionRoutes, defaultAdmissionDeadlineMs } from './http/admission-routes.js';
import { defaultAdmissionSettings } from './http/admission-settings.js';
import { createApp, nodeFetch } from './http/app.js';
import { CertificateReloader, readCertificatePair, type CertificatePair } from './http/certificate-reloader.js';
import { ClientAuth } from './http/client-auth.js';
import { answerMalformedRequests } from './http/malformed-requests.js';
import { startMetricsServer } from './http/metrics-server.js';
import { BufferPool } from './http/send-file.js';
import { createLogger, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import { FsBlobStore } from './storage/fs-blob-store.js';
import { FsKeyvStore } from './storage/fs-keyv-store.js';
import { KeyFiles } from './storage/key-files.js';
import { connectRedis } from './storage/redis-connection.js';
import { RedisFlightLocks } from './storage/redis-flight-locks.js';
import { KeyvMetadataStore } from './storage/keyv-metadata-store.js';
import { RegistryClient } from './upstream/registry-client.js';
import { OfflineUpstream } from './upstream/offline-upstream.js';
import { UpstreamRouter } from './upstream/router.js';
import { probeUpstream, type ProbeReport } from './upstream/upstream-probe.js';

export type { ProbeReport };

export interface Running {
  readonly port: number;
  readonly url: string;
  /** Stops accepting, lets transfers finish up to the grace period, then releases everything. */
  stop(): Promise<void>;
}

/** The cache core with its adapters: what `serve` puts behind HTTP and what the CLI commands drive. */
export interface Core {
  readonly router: Router;
  readonly pullThrough: PullThrough;
  /** Upstreams not working as configured (credentials held back after refusals). */
  upstreamProblems(): string[];
  close(): Promise<void>;
}

/** Builds the cache core with its adapters; shared by `serve` and the seed/export/import commands. */
/** `clock` (epoch ms) decides tag freshness; Date.now unless a test moves time. */
export async function assemble(
  config: Config,
  log: Logger,
  metrics: Metrics,
  clock: () => number = Date.now,
  options: { watchKeys?: boolean; clearTemp?: boolean } = {},
): Promise<Core> {
  const clearTemp = options.clearTemp ?? true;
  metrics.initialize(config.upstreams.map((u) => u.name));
  const store = await FsBlobStore.open(config.cacheDir, { clearTemp, replicaId: config.replicaId });
  const files = new FsKeyvStore(join(config.cacheDir, 'meta'));
  // Errors must reach the caller: keyv would otherwise answer "absent" and drop writes silently.
  const keyv = new Keyv({ store: files, namespace: 'tender', throwOnErrors: true });
  const local = new KeyvMetadataStore(keyv, (prefix) => files.entries(prefix));
  const shared = config.redis ? connectRedis(config.redis.url, log, metrics) : undefined;
  const metadata: MetadataStore = shared
    ? new FallbackMetadataStore(shared.metadata, local, {
        onFailure: (err, first) => {
          metrics.redisErrors.inc({ use: 'metadata' });
          if (first) log.warn({ err: describeError(err) }, 'Redis unavailable: using local metadata and per-replica single flight');
        },
        onRecovery: () => log.info('Redis is back: shared metadata again'),
      })
    : local;
  const wait = (ms: number, signal: AbortSignal) => sleep(ms, undefined, { signal });
  const clients = config.upstreams.map((upstream) => ({
    // An offline upstream is never dialled: what is cached is all there is.
    upstream:
      config.offline || upstream.offline
        ? new OfflineUpstream(upstream.name, upstream.private)
        : new RegistryClient(upstream, metrics, log.child({ upstream: upstream.name }), wait),
    aliases: upstream.aliases,
    allow: upstream.allow,
    deny: upstream.deny,
  }));
  const router = new UpstreamRouter(clients, config.defaultUpstream);
  const locks = shared
    ? new RedisFlightLocks(shared.client, config.replicaId, config.flightLeaseMs, () => metrics.redisErrors.inc({ use: 'lock' }))
    : undefined;
  // Signature keys are re-read when their files change (Secret rotation); a command that runs once needs no watch.
  const keys = config.signatures ? new KeyFiles(config.signatures.policies, log) : undefined;
  if (options.watchKeys) keys?.watch();
  const ports = { store, metadata, ...(locks ? { locks } : {}), ...(keys ? { keys } : {}) };
  const pullThrough = new PullThrough(ports, coreOptions(config, router, metrics, log, clock), metrics, log);
  const indexStarted = performance.now();
  const indexed = await pullThrough.open();
  log.info({ blobs: indexed.count, bytes: indexed.bytes, ms: Math.round(performance.now() - indexStarted) }, 'cache index rebuilt');
  return {
    router,
    pullThrough,
    upstreamProblems: () => clients.flatMap((c) => (c.upstream instanceof RegistryClient ? c.upstream.problems() : [])),
    close: async () => {
      keys?.close();
      pullThrough.close();
      await Promise.all(clients.map((c) => c.upstream.close()));
      // Closing the metadata store quits the Redis client too (keyv disconnects its adapter).
      await metadata.close();
      if (shared?.client.isOpen) shared.client.destroy();
    },
  };
}

/** Each part of the core gets its own slice of the configuration: no credentials or client auth reach it. */
function coreOptions(config: Config, router: Router, metrics: Metrics, log: Logger, clock: () => number): CoreOptions {
  const { flightTimeoutMs, upstreamTimeoutMs } = config;
  let lockWarnedAt = 0;
  const sanctioned = config.sanctioned ? new Sanctioned(config.sanctioned.map((ref) => sanctionedImage(router, ref))) : undefined;
  const tagPolicies = new TagPolicies(
    new Map(
      config.upstreams.map(
        (u) => [u.name, { immutableTags: u.immutableTags, immutableTagsMode: u.immutableTagsMode, pins: u.pins, tagTtls: u.tagTtls }] as const,
      ),
    ),
    config.tagTtls,
  );
  return {
    stored: {
      maxCacheBytes: config.maxCacheBytes,
      blobMemoryBytes: config.blobMemoryBytes,
      pinnedDigests: config.pinnedDigests,
      pinnedRepositories: config.pinnedRepositories,
      readTimeoutMs: upstreamTimeoutMs,
      scrubBytesPerSecond: config.scrubBytesPerSecond,
    },
    blobs: { smallBlobBytes: config.smallBlobBytes, flightTimeoutMs, upstreamTimeoutMs, maxBlobBytes: config.maxBlobBytes },
    cluster: {
      flightTimeoutMs,
      onLockFailure: (err) => {
        metrics.redisErrors.inc({ use: 'lock' });
        // Once per outage-ish: every cold blob fails the same way while Redis is away.
        if (Date.now() - lockWarnedAt < 30_000) return;
        lockWarnedAt = Date.now();
        log.warn({ err: describeError(err) }, 'Redis lock unavailable: downloading without cluster-wide single flight');
      },
    },
    manifests: { memoryBytes: config.manifestMemoryBytes, upstreamTimeoutMs },
    tags: {
      ttlMs: config.tagTtlMs,
      missingTtlMs: config.missingTagTtlMs,
      staleTimeoutMs: config.staleTimeoutMs,
      upstreamTimeoutMs,
      policies: tagPolicies,
      clock,
    },
    listings: { upstreamTimeoutMs },
    policies: sanctioned ? [sanctioned] : [],
    ...(config.signatures
      ? {
          signatures: {
            onError: config.signatures.onError,
            exempt: config.signatures.exempt,
            policies: config.signatures.policies,
            deadlineMs: upstreamTimeoutMs,
          },
        }
      : {}),
  };
}

/** A sanctioned-list entry routed the way requests are (aliases and Docker Hub's library/ resolved). */
function sanctionedImage(router: Router, ref: string): SanctionedImage {
  const image = parseImageReference(ref);
  return { route: router.resolve({ ns: image.registry, name: image.repository }), reference: image.reference };
}

/** The core for one command (seed, export, import): its log on stderr (warnings and worse at the default level), no process metrics. */
export function assembleForCommand(config: Config, options: { offline: boolean }): Promise<Core> {
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr);
  return assemble(options.offline ? { ...config, offline: true } : config, log, new Metrics({ processMetrics: false }));
}

/** The one admission judgement (endpoints, `tender check`): the pull's serve policies, then the signature policy's verdict. */
function imageAdmission(config: Config, core: Core): ImageAdmission {
  const { mirrorHosts, requireDigest, deadlineMs } = config.admission ?? { ...defaultAdmissionSettings, deadlineMs: defaultAdmissionDeadlineMs };
  const { pullThrough, router } = core;
  return new ImageAdmission(
    {
      router,
      judge: (route, ref) => pullThrough.judge(route, ref),
      signatures: (route, digest, signal) => pullThrough.signatureVerdict(route, digest, { signal }),
    },
    { mirrorHosts, requireDigest, deadlineMs, onUndecided: config.signatures?.onError ?? 'deny' },
  );
}

/** `tender check`: the admission judgement over the cache and upstreams of `config`, beside a serving tender or alone. */
export async function openImageCheck(config: Config): Promise<{ check(image: string): Promise<ImageJudgement>; close(): Promise<void> }> {
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr);
  // Temp files are left alone: a serving tender on the same volume may be writing them.
  const core = await assemble(config, log, new Metrics({ processMetrics: false }), Date.now, { clearTemp: false });
  const admission = imageAdmission(config, core);
  return { check: (image) => admission.judge(image), close: () => core.close() };
}

/** `tender doctor`: each configured upstream (or the named ones) tried as tender would reach it; offline ones are not contacted. */
export function probeUpstreams(config: Config, names?: readonly string[]): Promise<ProbeReport[]> {
  const chosen = config.upstreams.filter((u) => names === undefined || names.includes(u.name));
  return Promise.all(
    chosen.map((upstream) =>
      config.offline || upstream.offline
        ? { upstream: upstream.name, ok: true, checks: [{ name: 'dns' as const, ok: true, detail: 'offline: not contacted' }] }
        : probeUpstream(upstream),
    ),
  );
}

/** The blob store of a cache directory alone, for `tender verify` (which may run beside a serving tender). */
export function openBlobStore(cacheDir: string): Promise<BlobStore> {
  return FsBlobStore.open(cacheDir, { clearTemp: false });
}

export async function start(config: Config, options: { log?: Logger; metrics?: Metrics; clock?: () => number } = {}): Promise<Running> {
  const log = options.log ?? createLogger(config.logLevel);
  const metrics = options.metrics ?? new Metrics();
  // Before anything is opened: an unreadable or mismatched pair is a start-up error, not a half-started server.
  const certificate = config.tls ? await readCertificatePair(config.tls, AbortSignal.timeout(10_000)) : undefined;
  const core = await assemble(config, log, metrics, options.clock, { watchKeys: true });
  const { router, pullThrough } = core;
  const clientAuth = config.auth ? new ClientAuth(config.auth) : undefined;
  pullThrough.startScrub();
  const judgement = config.admission ? imageAdmission(config, core) : undefined;
  const admission = config.admission && configuredAdmissionRoutes(config.admission, { judgement: judgement!, metrics, log, tls: certificate !== undefined });
  const app = createApp({
    pullThrough,
    router,
    buffers: new BufferPool(),
    ...(clientAuth && config.auth ? { clientAuth, protectOps: config.auth.protect } : {}),
    ...(admission ? { admission } : {}),
    metrics,
    log,
    metricsRegistry: metrics.registry,
    readiness: () => pullThrough.readiness(),
    warnings: () => core.upstreamProblems(),
  });

  const clientCa = config.admission?.clientCa;
  const server = await listen(nodeFetch(app), config.host, config.port, certificate, clientCa);
  answerMalformedRequests(server as HttpServer, log);
  const port = (server.address() as AddressInfo).port;
  const metricsServer = config.metricsListen ? await startMetricsServer(metrics.registry, config.metricsListen.host, config.metricsListen.port) : undefined;
  // listen() built an https.Server exactly when there is a certificate.
  const reloader =
    config.tls && certificate
      ? new CertificateReloader(config.tls, certificate, server as HttpsServer, log, clientCa === undefined ? {} : { clientCa })
      : undefined;
  reloader?.start();
  if (certificate) log.info({ ...certificate.summary, ...config.tls }, 'serving certificate loaded');
  const scheme = certificate ? 'https' : 'http';
  log.info(
    {
      listen: hostPort(config.host, port),
      scheme,
      cacheDir: config.cacheDir,
      upstreams: config.upstreams.map((u) => u.name),
      defaultUpstream: config.defaultUpstream,
      metricsListen: metricsServer ? hostPort(config.metricsListen!.host, (metricsServer.address() as AddressInfo).port) : undefined,
    },
    'tender is serving',
  );

  let stopping: Promise<void> | undefined;
  return {
    port,
    // The wildcard addresses are not addresses to connect to: their family's loopback is.
    url: `${scheme}://${hostPort(config.host === '0.0.0.0' ? '127.0.0.1' : config.host === '::' ? '::1' : config.host, port)}`,
    stop: () => {
      stopping ??= (async () => {
        log.info({ graceMs: config.shutdownGraceMs }, 'shutting down: no new connections, draining transfers');
        await reloader?.close();
        metricsServer?.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        if ('closeIdleConnections' in server) server.closeIdleConnections();
        const deadline = sleep(config.shutdownGraceMs).then(() => 'deadline' as const);
        if ((await Promise.race([closed.then(() => 'drained' as const), deadline])) === 'deadline') {
          log.warn('grace period over: closing remaining connections');
          if ('closeAllConnections' in server) server.closeAllConnections();
        }
        await clientAuth?.close();
        await core.close();
      })();
      return stopping;
    },
  };
}

/** `host:port`, with an IPv6 address in brackets (`[::1]:5000`), as URLs and the listen setting write it. */
function hostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * HTTP/1.1 over TLS when there is a certificate: registry clients speak HTTP/1.1, and setSecureContext is tls.Server's.
 * With a client CA every handshake asks for a certificate, none is required: only /admission/* looks at it.
 */
function listen(
  fetch: Parameters<typeof serve>[0]['fetch'],
  hostname: string,
  port: number,
  certificate?: CertificatePair,
  clientCa?: string,
): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const onListening = (): void => resolve(server);
    const mutual = clientCa === undefined ? {} : { ca: clientCa, requestCert: true, rejectUnauthorized: false };
    const server = certificate
      ? serve(
          { fetch, hostname, port, createServer: createHttpsServer, serverOptions: { cert: certificate.cert, key: certificate.key, ...mutual } },
          onListening,
        )
      : serve({ fetch, hostname, port }, onListening);
    server.once('error', reject);
  });
}
