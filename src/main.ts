// Composition root: the only place that builds concrete parts; also owns start-up and graceful shutdown.
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer as createHttpServer, type RequestListener, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https';
import { isIPv6, type AddressInfo } from 'node:net';
import { auditSettingsOf } from './audit/audit-file-path.js';
import { auditSinks } from './audit/audit-sinks.js';
import type { BlobStore } from './cache/blob-store.js';
import { admissionRoutes, httpsOptions, openImageCheckWith } from './main/admission.js';
import type { Config } from './config/config.js';
import { CertificateReloader, readCertificatePair } from './http/certificate-reloader.js';
import { ClientAuth } from './http/client-auth.js';
import { answerMalformedRequests } from './http/malformed-requests.js';
import { startMetricsServer } from './http/metrics-server.js';
import { createRequestListener } from './http/registry-listener.js';
import { BufferPool } from './http/send-file.js';
import { createLogger, type Logger } from './log.js';
import { assemble, type Core } from './main/assemble.js';
import { Metrics } from './metrics.js';
import { FsBlobStore } from './storage/fs-blob-store.js';
import { openInventoryReader, type InventoryReader } from './storage/inventory-reader.js';
import { probeUpstream, type ProbeReport } from './upstream/upstream-probe.js';
import { ListeningDrain } from './workers/listening-drain.js';
import type { WorkerLink } from './workers/worker-link.js';
import { workerSlot } from './workers/worker-slot.js';

export interface Running {
  readonly port: number;
  readonly url: string;
  /** Stops accepting, lets transfers finish up to the grace period, then releases everything. */
  stop(): Promise<void>;
}

export { assemble, assembleForCommand, type Core } from './main/assemble.js';
export type { ProbeReport };

export type { ImageDetail, ImageSummary, HistoryEntry, PullSummary } from './cache/inventory-queries.js';
export type { ListFilter } from './cache/inventory-index.js';

/**
 * The inventory of a tender that is not running (or of another replica's shared Redis), read directly for
 * `tender inventory`: its records, and the cache directory's sizes and pins for the cache state. Read-only.
 */
export async function openInventory(config: Config): Promise<InventoryReader> {
  const client = config.redis
    ? (await import('@keyv/redis')).createClient({
        url: config.redis.url,
        disableOfflineQueue: true,
        socket: { connectTimeout: 5000, reconnectStrategy: false },
      })
    : undefined;
  const log = createLogger('warn', process.stderr);
  return openInventoryReader(config.cacheDir, config.pinnedDigests, client, new Metrics({ processMetrics: false }), log);
}

export const openImageCheck = (config: Config) => openImageCheckWith(config, assemble); // `tender check`: main/admission.ts

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

export async function start(config: Config, options: { log?: Logger; metrics?: Metrics; clock?: () => number; worker?: WorkerLink } = {}): Promise<Running> {
  const log = options.log ?? createLogger(config.logLevel);
  const metrics = options.metrics ?? new Metrics();
  const worker = options.worker;
  // Before anything is opened: an unreadable or mismatched pair is a start-up error, not a half-started server.
  const certificate = config.tls ? await readCertificatePair(config.tls, AbortSignal.timeout(10_000)) : undefined;
  // With workers, each writes its own audit file (one writer per file: audit-file-path.ts says why).
  const audit = auditSinks(auditSettingsOf(config.audit, worker ? workerSlot(process.env) : undefined), config.port, log, metrics);
  let core: Core;
  try {
    core = await assemble(config, log, metrics, options.clock, { watchKeys: true, ...(worker ? { worker } : {}), ...(audit ? { events: audit } : {}) });
  } catch (err) {
    await audit?.close(0);
    throw err;
  }
  const { router, pullThrough } = core;
  const clientAuth = config.auth ? new ClientAuth(config.auth) : undefined;
  // With workers, one scrub for the host: the eviction owner's (scrubRate is the host's rate, not each worker's).
  if (worker) worker.onOwner(() => pullThrough.startScrub());
  else pullThrough.startScrub();
  const admission = config.admission && admissionRoutes(config, config.admission, core, metrics, log, certificate !== undefined);
  pullThrough.inventory.start();
  const listener = createRequestListener(
    {
      pullThrough,
      inventory: pullThrough.queries,
      router,
      buffers: new BufferPool(),
      ...(clientAuth && config.auth ? { clientAuth, protectOps: config.auth.protect } : {}),
      ...(admission ? { admission } : {}),
      metrics,
      log,
      metricsRegistry: worker ? clusterMetrics(worker, metrics) : metrics.registry,
      readiness: () => pullThrough.readiness(),
      warnings: () => core.upstreamProblems(),
    },
    config.host,
  );

  const clientCa = config.admission?.clientCa; // admission's mutual TLS: asked for in every handshake, kept on reload
  const server = await listen(listener, config.host, config.port, httpsOptions(certificate, clientCa));
  answerMalformedRequests(server as HttpServer, log);
  // A worker refuses new connections during its drain while still listening (listening-drain.ts says why).
  const workerDrain = worker ? new ListeningDrain(server as HttpServer) : undefined;
  const port = (server.address() as AddressInfo).port;
  const metricsServer = config.metricsListen
    ? await startMetricsServer(worker ? clusterMetrics(worker, metrics) : metrics.registry, config.metricsListen.host, config.metricsListen.port)
    : undefined;
  // listen() built an https.Server exactly when there is a certificate.
  const reloader = config.tls && certificate ? new CertificateReloader(config.tls, certificate, server as HttpsServer, log, { clientCa }) : undefined;
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
        const closed = workerDrain ? workerDrain.drain() : new Promise<void>((resolve) => server.close(() => resolve()));
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

/** `host:port`, with an IPv6 address in brackets (`[::1]:5000`), as URLs and the listen setting write it. */
function hostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** /metrics of a worker: every worker's registry, aggregated by the primary (prom-client's cluster support). */
function clusterMetrics(worker: WorkerLink, metrics: Metrics): { metrics(): Promise<string>; contentType: Metrics['registry']['contentType'] } {
  return { contentType: metrics.registry.contentType, metrics: async () => String(await worker.call({ op: 'metrics' })) };
}

/** HTTP/1.1 over TLS when there are TLS options: registry clients speak HTTP/1.1, and setSecureContext is tls.Server's. */
function listen(listener: RequestListener, hostname: string, port: number, tls: HttpsServerOptions | undefined): Promise<HttpServer | HttpsServer> {
  return new Promise((resolve, reject) => {
    const server = tls ? createHttpsServer(tls, listener) : createHttpServer({}, listener);
    server.once('error', reject);
    server.listen(port, hostname, () => resolve(server));
  });
}
