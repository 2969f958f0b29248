// Composition root: the only place that builds concrete parts; also owns start-up and graceful shutdown.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import Keyv from 'keyv';
import { createClient } from '@keyv/redis';
import { auditSinks } from './audit/audit-sinks.js';
import type { InventoryStore } from './cache/inventory-store.js';
import type { PullEventSink } from './cache/pull-events.js';
import type { BlobStore } from './cache/blob-store.js';
import { FallbackMetadataStore } from './cache/fallback-metadata-store.js';
import type { MetadataStore } from './cache/metadata-store.js';
import type { Router } from './cache/ports.js';
import { PullThrough, type CoreOptions } from './cache/pull-through.js';
import { Sanctioned, type SanctionedImage } from './cache/sanctioned.js';
import { TagPolicies } from './cache/tag-policy.js';
import { describeError } from './oci/errors.js';
import { parseImageReference } from './oci/image-reference.js';
import type { Config } from './config/config.js';
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
import { connectRedis } from './storage/redis-connection.js';
import { RedisFlightLocks } from './storage/redis-flight-locks.js';
import { KeyvMetadataStore } from './storage/keyv-metadata-store.js';
import { FileInventoryStore } from './storage/file-inventory-store.js';
import { RedisInventoryStore } from './storage/redis-inventory-store.js';
import { openInventoryReader, type InventoryReader } from './storage/inventory-reader.js';
import { RegistryClient } from './upstream/registry-client.js';
import { OfflineUpstream } from './upstream/offline-upstream.js';
import { UpstreamRouter } from './upstream/router.js';

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
  close(): Promise<void>;
}

/**
 * Builds the cache core with its adapters; shared by `serve` and the seed/export/import commands. `clock`
 * (epoch ms) decides tag freshness; Date.now unless a test moves time. `events`: the pull audit (serve).
 */
export async function assemble(
  config: Config,
  log: Logger,
  metrics: Metrics,
  clock: () => number = Date.now,
  options: { events?: PullEventSink; writer?: string } = {},
): Promise<Core> {
  metrics.initialize(config.upstreams.map((u) => u.name));
  const store = await FsBlobStore.open(config.cacheDir, { clearTemp: true, replicaId: config.replicaId });
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
  const inventory: InventoryStore = shared
    ? new RedisInventoryStore(shared.client, 'tender', clock)
    : new FileInventoryStore(join(config.cacheDir, 'inventory', 'records.jsonl'));
  const ports = { store, metadata, inventory, ...(locks ? { locks } : {}), ...(options.events ? { events: options.events } : {}) };
  const core = coreOptions(config, router, metrics, log, clock);
  const writer = options.writer ?? config.replicaId;
  const pullThrough = new PullThrough(ports, { ...core, inventory: { writer, ...config.inventory } }, metrics, log);
  const indexStarted = performance.now();
  const indexed = await pullThrough.open();
  log.info({ blobs: indexed.count, bytes: indexed.bytes, ms: Math.round(performance.now() - indexStarted) }, 'cache index rebuilt');
  return {
    router,
    pullThrough,
    close: async () => {
      // Before the stores close: what the inventory holds unwritten goes out now.
      await pullThrough.inventory.close();
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
    new Map(config.upstreams.map((u) => [u.name, { immutableTags: u.immutableTags, immutableTagsMode: u.immutableTagsMode, pins: u.pins }] as const)),
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
    tags: { ttlMs: config.tagTtlMs, staleTimeoutMs: config.staleTimeoutMs, upstreamTimeoutMs, policies: tagPolicies, clock },
    listings: { upstreamTimeoutMs },
    policies: sanctioned ? [sanctioned] : [],
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
  // Its own writer name: a command's counts (it pulls nothing) never overwrite the serving process's.
  return assemble(options.offline ? { ...config, offline: true } : config, log, new Metrics({ processMetrics: false }), Date.now, {
    writer: `${config.replicaId}-cli`,
  });
}

export type { ImageDetail, ImageSummary, HistoryEntry, PullSummary } from './cache/inventory-queries.js';
export type { ListFilter } from './cache/inventory-index.js';

/**
 * The inventory of a tender that is not running (or of another replica's shared Redis), read directly for
 * `tender inventory`: its records, and the cache directory's sizes and pins for the cache state. Read-only.
 */
export async function openInventory(config: Config): Promise<InventoryReader> {
  const client = config.redis
    ? createClient({ url: config.redis.url, disableOfflineQueue: true, socket: { connectTimeout: 5000, reconnectStrategy: false } })
    : undefined;
  const log = createLogger('warn', process.stderr);
  return openInventoryReader(config.cacheDir, config.pinnedDigests, client, new Metrics({ processMetrics: false }), log);
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
  const audit = auditSinks(config.audit, config.port, log, metrics);
  let core: Core;
  try {
    core = await assemble(config, log, metrics, options.clock, audit ? { events: audit } : {});
  } catch (err) {
    await audit?.close(0);
    throw err;
  }
  const { router, pullThrough } = core;
  const clientAuth = config.auth ? new ClientAuth(config.auth) : undefined;
  pullThrough.startScrub();
  pullThrough.inventory.start();
  const app = createApp({
    pullThrough,
    inventory: pullThrough.queries,
    router,
    buffers: new BufferPool(),
    ...(clientAuth && config.auth ? { clientAuth, protectOps: config.auth.protect } : {}),
    metrics,
    log,
    metricsRegistry: metrics.registry,
    readiness: () => pullThrough.readiness(),
  });

  const server = await listen(nodeFetch(app), config.host, config.port, certificate);
  answerMalformedRequests(server as HttpServer, log);
  const port = (server.address() as AddressInfo).port;
  const metricsServer = config.metricsListen ? await startMetricsServer(metrics.registry, config.metricsListen.host, config.metricsListen.port) : undefined;
  // listen() built an https.Server exactly when there is a certificate.
  const reloader = config.tls && certificate ? new CertificateReloader(config.tls, certificate, server as HttpsServer, log) : undefined;
  reloader?.start();
  if (certificate) log.info({ ...certificate.summary, ...config.tls }, 'serving certificate loaded');
  const scheme = certificate ? 'https' : 'http';
  log.info(
    {
      listen: `${config.host}:${port}`,
      scheme,
      cacheDir: config.cacheDir,
      upstreams: config.upstreams.map((u) => u.name),
      defaultUpstream: config.defaultUpstream,
      metricsListen: metricsServer ? `${config.metricsListen!.host}:${(metricsServer.address() as AddressInfo).port}` : undefined,
    },
    'tender is serving',
  );

  let stopping: Promise<void> | undefined;
  return {
    port,
    url: `${scheme}://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`,
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
        // What the sinks still hold is delivered within a few seconds more (counted as dropped after).
        await audit?.close(Math.min(5_000, config.shutdownGraceMs));
        await core.close();
      })();
      return stopping;
    },
  };
}

/** HTTP/1.1 over TLS when there is a certificate: registry clients speak HTTP/1.1, and setSecureContext is tls.Server's. */
function listen(fetch: Parameters<typeof serve>[0]['fetch'], hostname: string, port: number, certificate: CertificatePair | undefined): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const onListening = (): void => resolve(server);
    const server = certificate
      ? serve({ fetch, hostname, port, createServer: createHttpsServer, serverOptions: { cert: certificate.cert, key: certificate.key } }, onListening)
      : serve({ fetch, hostname, port }, onListening);
    server.once('error', reject);
  });
}
