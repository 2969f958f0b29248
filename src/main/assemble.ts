// Assembling the cache core with its adapters (stores, locks, upstream clients, the inventory store): what
// `serve` (main.ts) puts behind HTTP and what the CLI commands drive.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Keyv from 'keyv';
import type { InventoryStore } from '../cache/inventory-store.js';
import type { PullEventSink } from '../cache/pull-events.js';
import { FallbackMetadataStore } from '../cache/fallback-metadata-store.js';
import type { FlightLocks } from '../cache/flight-locks.js';
import { LayeredFlightLocks } from '../cache/layered-flight-locks.js';
import type { MetadataStore } from '../cache/metadata-store.js';
import type { Router } from '../cache/ports.js';
import { PullThrough } from '../cache/pull-through.js';
import type { Config } from '../config/config.js';
import { createLogger, type Logger } from '../log.js';
import { Metrics } from '../metrics.js';
import { describeError } from '../oci/errors.js';
import { FsBlobStore } from '../storage/fs-blob-store.js';
import { FsKeyvStore } from '../storage/fs-keyv-store.js';
import { KeyFiles } from '../storage/key-files.js';
import { RedisFlightLocks } from '../storage/redis-flight-locks.js';
import { RedisLeaseNews } from '../storage/redis-lease-news.js';
import { KeyvMetadataStore } from '../storage/keyv-metadata-store.js';
import { FileInventoryStore } from '../storage/file-inventory-store.js';
import { RedisInventoryStore } from '../storage/redis-inventory-store.js';
import { RegistryClient } from '../upstream/registry-client.js';
import { OfflineUpstream } from '../upstream/offline-upstream.js';
import { UpstreamRouter } from '../upstream/router.js';
import { HostFlightLocks } from '../workers/host-flight-locks.js';
import { HostNews } from '../workers/host-news.js';
import type { LockScope } from '../workers/messages.js';
import type { WorkerLink } from '../workers/worker-link.js';
import { commandReplicaId } from './command-replica.js';
import { coreOptions } from './core-options.js';

/** The cache core with its adapters: what `serve` puts behind HTTP and what the CLI commands drive. */
export interface Core {
  readonly router: Router;
  readonly pullThrough: PullThrough;
  /** Upstreams not working as configured (credentials held back after refusals). */
  upstreamProblems(): string[];
  close(): Promise<void>;
}

/**
 * Builds the cache core with its adapters; shared by `serve` and the seed/export/import commands. `clock`
 * (epoch ms) decides tag freshness; Date.now unless a test moves time. `events`: the pull audit (serve).
 * `worker`: this process is one of several on the host (the primary cleared tmp/ before forking it).
 */
export async function assemble(
  config: Config,
  log: Logger,
  metrics: Metrics,
  clock: () => number = Date.now,
  options: { events?: PullEventSink; writer?: string; watchKeys?: boolean; worker?: WorkerLink } = {},
): Promise<Core> {
  const worker = options.worker;
  metrics.initialize(config.upstreams.map((u) => u.name));
  const store = await FsBlobStore.open(config.cacheDir, { clearTemp: !worker, replicaId: config.replicaId, ...(worker ? { worker: worker.id } : {}) });
  const files = new FsKeyvStore(join(config.cacheDir, 'meta'));
  // Errors must reach the caller: keyv would otherwise answer "absent" and drop writes silently.
  const keyv = new Keyv({ store: files, namespace: 'tender', throwOnErrors: true });
  const local = new KeyvMetadataStore(keyv, (prefix) => files.entries(prefix));
  // The Redis client (~15 MiB of code) is loaded only by a tender that uses Redis.
  const shared = config.redis ? (await import('../storage/redis-connection.js')).connectRedis(config.redis.url, log, metrics) : undefined;
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
  // Workers of one host through the primary, replicas through Redis, both stacked when there are both.
  const lockFailure = (): void => void metrics.redisErrors.inc({ use: 'lock' });
  // Downloads' waiters are woken by pub/sub (a follower streams from the holder's first bytes); tags' poll.
  const flightNews = shared ? new RedisLeaseNews(shared.client, shared.subscriber, 'tender:flight:changes', log) : undefined;
  shared?.subscriber.on('ready', () => flightNews?.listen());
  const leases = (scope: LockScope, redisPrefix: string): FlightLocks | undefined => {
    const host = worker ? new HostFlightLocks(worker, scope) : undefined;
    const news = scope === 'flight' ? flightNews : undefined;
    const cluster = shared ? new RedisFlightLocks(shared.client, config.replicaId, config.flightLeaseMs, lockFailure, redisPrefix, news) : undefined;
    return host && cluster ? new LayeredFlightLocks(host, cluster, lockFailure) : (host ?? cluster);
  };
  const locks = leases('flight', 'tender:flight:');
  const revalidationLocks = leases('tag', 'tender:revalidate:');
  // Signature keys are re-read when their files change (Secret rotation); a command that runs once needs no watch.
  const keys = config.signatures ? new KeyFiles(config.signatures.policies, log) : undefined;
  if (options.watchKeys) keys?.watch();
  const inventory: InventoryStore = shared
    ? new RedisInventoryStore(shared.client, 'tender', clock)
    : new FileInventoryStore(join(config.cacheDir, 'inventory', 'records.jsonl'));
  const ports = {
    store,
    metadata,
    inventory,
    ...(keys ? { keys } : {}),
    ...(locks ? { locks } : {}),
    ...(revalidationLocks ? { revalidationLocks } : {}),
    ...(worker ? { news: new HostNews(worker) } : {}),
    ...(options.events ? { events: options.events } : {}),
  };
  // Each worker counts its own pulls (per-writer counts merge without loss, inventory-record.ts).
  const writer = options.writer ?? (worker ? `${config.replicaId}.w${worker.id}` : config.replicaId);
  const core = coreOptions(config, router, metrics, log, clock);
  const pullThrough = new PullThrough(ports, { ...core, inventory: { writer, ...config.inventory } }, metrics, log);
  const indexStarted = performance.now();
  const indexed = await pullThrough.open();
  log.info({ blobs: indexed.count, bytes: indexed.bytes, ms: Math.round(performance.now() - indexStarted) }, 'cache index rebuilt');
  return {
    router,
    pullThrough,
    upstreamProblems: () => clients.flatMap((c) => (c.upstream instanceof RegistryClient ? c.upstream.problems() : [])),
    close: async () => {
      // Before the stores close: what the inventory holds unwritten goes out now.
      await pullThrough.inventory.close();
      await keys?.close();
      pullThrough.close();
      await Promise.all(clients.map((c) => c.upstream.close()));
      // Closing the metadata store quits the Redis client too (keyv disconnects its adapter).
      await metadata.close();
      if (shared?.client.isOpen) shared.client.destroy();
      if (shared?.subscriber.isOpen) shared.subscriber.destroy();
    },
  };
}

/**
 * The core for one command (seed, export, import): its log on stderr (warnings and worse at the default level), no
 * process metrics, and temp files of its own (`<replicaId>-<command>`, command-replica.ts), so that run beside a
 * serving tender on the same cache directory it never clears that tender's downloads in progress.
 */
export function assembleForCommand(config: Config, options: { command: 'seed' | 'export' | 'import'; offline: boolean }): Promise<Core> {
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr);
  const own = { ...config, replicaId: commandReplicaId(config.replicaId, options.command), ...(options.offline ? { offline: true } : {}) };
  // Its own writer name: a command's counts (it pulls nothing) never overwrite the serving process's.
  return assemble(own, log, new Metrics({ processMetrics: false }), Date.now, { writer: `${config.replicaId}-cli` });
}
