// `tender serve`: one process, or a primary and its workers (the setting `workers`).
//
// Why a module of its own: the primary serves nothing (it forks, holds the lease tables, relays news, aggregates
// /metrics and logs), so it must not load what serves (hono, undici, the core, sigstore: ~90 MiB of a worker's
// heap and code, issue 17). This module imports only what the primary runs; a worker or a single process loads
// the serving graph (main.ts) when it gets there.
import cluster from 'node:cluster';
import type { Config } from '../config/config.js';
import { createLogger } from '../log.js';
import { FsBlobStore } from '../storage/fs-blob-store.js';
import { runPrimary } from '../workers/primary.js';
import { workerCount } from '../workers/worker-count.js';

/** Resolves with the exit code once stopped (SIGTERM/SIGINT drain first). */
export async function serve(config: Config): Promise<number> {
  const log = createLogger(config.logLevel);
  if (cluster.isWorker) {
    const { serveAsWorker } = await import('./worker-process.js');
    return serveAsWorker(config, log.child({ worker: cluster.worker!.id, pid: process.pid }));
  }
  const workers = workerCount(config.workers);
  if (workers <= 1) {
    const { start } = await import('../main.js');
    const running = await start(config, { log });
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    await running.stop();
    return 0;
  }
  // Downloads a crash left behind, before any worker starts one; a worker that dies later leaves its own (w<id>).
  const store = await FsBlobStore.open(config.cacheDir, { clearTemp: true, replicaId: config.replicaId });
  return runPrimary({
    workers,
    shutdownGraceMs: config.shutdownGraceMs,
    log,
    clearWorkerTemp: (id) => store.clearTemp(`${config.replicaId}.w${id}.`),
    workerV8Flags: config.workerV8Flags,
  });
}
