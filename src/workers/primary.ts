// The primary process of `workers: n > 1`: forks the workers that serve, and is the one place they meet.
//
// It serves no request itself. It holds the host's lease tables (lock-table.ts) for downloads and tag
// revalidations, relays cache news (commits and evictions to every worker, reads to the eviction owner),
// names the eviction owner, answers /metrics with prom-client's aggregation over all workers, replaces a
// worker that dies (dropping its leases at once so a waiting worker takes its downloads over, and removing its
// temp files), and on SIGTERM/SIGINT tells every worker to drain and waits for them.
//
// The listening socket: node:cluster's round-robin (the primary accepts and hands connections to workers in
// turn), the default on Linux; bench/README.md has the measurement against the kernel's scheduling.
import cluster, { type Worker } from 'node:cluster';
import { describeError } from '../oci/errors.js';
import type { Logger } from '../log.js';
import { HostMetrics } from './host-metrics.js';
import { LockTable } from './lock-table.js';
import { isTenderMessage, type Call, type LockScope, type News, type PrimaryMessage, type WorkerMessage } from './messages.js';
import { workerSlotVariable } from './worker-slot.js';

export interface PrimaryOptions {
  readonly workers: number;
  /** How long workers may drain on SIGTERM before they are killed (shutdownGrace, plus a margin). */
  readonly shutdownGraceMs: number;
  readonly log: Logger;
  /** Removes the temp files a worker that died left behind (`<replicaId>.w<id>.`). */
  readonly clearWorkerTemp: (id: number) => Promise<void>;
  /**
   * node/V8 flags for the workers (the setting workerV8Flags), put before the primary's own execArgv: a flag given
   * on the primary's command line still wins (V8 takes the last), and `--import tsx` and the like carry over.
   */
  readonly workerV8Flags?: readonly string[];
}

const digestPattern = /^sha(256:[a-f0-9]{64}|512:[a-f0-9]{128})$/;
/** Lease keys are digests or tag keys (registry, repository and tag): longer is not one of ours. */
const maxKeyLength = 1024;
/** A worker that dies sooner than this after its start is crash-looping: its replacement waits, doubling up to 30 s. */
const healthyAfterMs = 10_000;

/** Runs until every worker has exited after a stop (resolves 0), or the first start failed (resolves the exit code). */
export function runPrimary(options: PrimaryOptions): Promise<number> {
  const { log } = options;
  const table = new LockTable();
  const hostMetrics = new HostMetrics(log);
  const ready = new Set<number>();
  const startedAt = new Map<number, number>();
  let owner: number | undefined;
  let stopping = false;
  let everReady = false;
  let allReadyLogged = false;
  let crashes = 0;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));

  const send = (worker: Worker | undefined, message: PrimaryMessage): void => {
    if (worker?.isConnected()) worker.send(message);
  };
  /**
   * Worker id → its slot (1…workers): a replacement takes the dead worker's slot, so what is named per worker
   * (the audit file, audit-file-path.ts) has one writer at a time and the set of names stays fixed.
   */
  const slots = new Map<number, number>();
  const fork = (slot: number): void => {
    const worker = cluster.fork({ [workerSlotVariable]: String(slot) });
    slots.set(worker.id, slot);
    startedAt.set(worker.id, Date.now());
  };
  const nameOwner = (): void => {
    if (owner !== undefined || stopping) return;
    const next = [...ready].sort((a, b) => a - b)[0];
    if (next === undefined) return;
    owner = next;
    send(cluster.workers?.[next], { tender: 'owner' });
    log.info({ worker: next }, 'worker owns eviction for the cache directory');
  };

  /** Every worker but `from` looks at the lease again now (a push: it would otherwise poll; lease-watch.ts). */
  const leaseChanged = (scope: LockScope, key: string, from: number | undefined): void => {
    if (scope !== 'flight' && scope !== 'tag') return;
    if (typeof key !== 'string' || key.length > maxKeyLength) return;
    for (const worker of Object.values(cluster.workers ?? {}))
      if (worker && worker.id !== from) send(worker, { tender: 'news', news: { kind: 'lease', scope, key } });
  };

  const answer = async (call: Call, worker: Worker): Promise<unknown> => {
    switch (call.op) {
      case 'acquire':
        return table.acquire(worker.id, call.scope, String(call.key)) ?? null;
      case 'announce':
        table.announce(call.scope, String(call.key), String(call.token), call.file);
        leaseChanged(call.scope, String(call.key), worker.id);
        return null;
      case 'release':
        table.release(call.scope, String(call.key), String(call.token));
        leaseChanged(call.scope, String(call.key), worker.id);
        return null;
      case 'holder': {
        const key = String(call.key);
        // The holder's worker sends growth news only once someone follows (unfollowed downloads cost no IPC).
        const holderWorker = table.followedBy(call.scope, key, worker.id);
        if (holderWorker !== undefined) send(cluster.workers?.[holderWorker], { tender: 'news', news: { kind: 'lease', scope: call.scope, key } });
        return table.holder(call.scope, key) ?? null;
      }
      case 'metrics': {
        // The serving workers and the asking one (its metrics listener answers before it says ready).
        const asked = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && (ready.has(w.id) || w === worker));
        return hostMetrics.collect(asked);
      }
      default:
        throw new Error(`unknown call ${(call as { op?: unknown }).op as string}`);
    }
  };

  const relay = (news: News, from: Worker): void => {
    if (news.kind === 'lease') return leaseChanged(news.scope, news.key, from.id);
    if (news.kind === 'committed') {
      if (!digestPattern.test(news.digest) || !Number.isSafeInteger(news.size) || news.size < 0) return;
      for (const worker of Object.values(cluster.workers ?? {})) if (worker && worker !== from) send(worker, { tender: 'news', news });
      return;
    }
    const digests = Array.isArray(news.digests) ? news.digests.filter((d): d is string => typeof d === 'string' && digestPattern.test(d)) : [];
    if (digests.length === 0) return;
    if (news.kind === 'evicted') {
      for (const worker of Object.values(cluster.workers ?? {}))
        if (worker && worker !== from) send(worker, { tender: 'news', news: { kind: 'evicted', digests } });
    } else if (news.kind === 'touched' && owner !== undefined && owner !== from.id) {
      send(cluster.workers?.[owner], { tender: 'news', news: { kind: 'touched', digests } });
    }
  };

  cluster.on('message', (worker: Worker, raw: unknown) => {
    if (!isTenderMessage(raw)) return; // prom-client's own messages, among others
    const message = raw as WorkerMessage;
    if (message.tender === 'call') {
      answer(message.call, worker).then(
        (value) => send(worker, { tender: 'reply', id: message.id, value }),
        (err: unknown) => send(worker, { tender: 'reply', id: message.id, error: describeError(err) }),
      );
    } else if (message.tender === 'news') {
      relay(message.news, worker);
    } else if (message.tender === 'metrics') {
      hostMetrics.answered(worker, message);
    } else if (message.tender === 'ready') {
      ready.add(worker.id);
      if (!allReadyLogged && ready.size === options.workers) {
        allReadyLogged = true;
        log.info({ workers: options.workers }, 'all workers serving');
      }
      everReady = true;
      nameOwner();
    }
  });

  cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => {
    ready.delete(worker.id);
    const slot = slots.get(worker.id) ?? 1;
    slots.delete(worker.id);
    const dropped = table.drop(worker.id);
    // Whoever waits for these downloads takes them over now, not at its next poll.
    for (const lease of dropped) leaseChanged(lease.scope, lease.key, undefined);
    void options
      .clearWorkerTemp(worker.id)
      .catch((err: unknown) => log.warn({ worker: worker.id, err: describeError(err) }, 'could not remove a dead worker’s temp files'));
    if (owner === worker.id) owner = undefined;
    const alive = Object.values(cluster.workers ?? {}).filter((w) => w && !w.isDead()).length;
    if (stopping) {
      if (alive === 0) finish(0);
      return;
    }
    if (!everReady) {
      // The first start failed (a configuration the worker refused, the port taken): no crash loop, exit.
      log.error({ worker: worker.id, code, signal }, 'a worker exited before serving; stopping');
      stopping = true;
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGTERM');
      if (alive === 0) finish(code || 1);
      else cluster.once('exit', () => finish(code || 1));
      return;
    }
    const lived = Date.now() - (startedAt.get(worker.id) ?? 0);
    crashes = lived < healthyAfterMs ? crashes + 1 : 0;
    const delay = crashes === 0 ? 0 : Math.min(30_000, 500 * 2 ** crashes);
    log.warn({ worker: worker.id, code, signal, leasesDropped: dropped.length, restartInMs: delay }, 'worker exited; starting a new one');
    setTimeout(() => {
      if (!stopping) fork(slot);
    }, delay).unref();
    nameOwner();
  });

  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: why, workers: ready.size }, 'shutting down: workers drain their transfers');
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
    if (workers.length === 0) finish(0);
    for (const worker of workers) send(worker, { tender: 'stop' });
    // A worker that does not finish its drain in time is killed: the grace period is the operator's bound.
    setTimeout(() => {
      for (const worker of Object.values(cluster.workers ?? {})) if (worker && !worker.isDead()) worker.process.kill('SIGKILL');
    }, options.shutdownGraceMs + 5_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  cluster.setupPrimary({ execArgv: [...(options.workerV8Flags ?? []), ...process.execArgv] });
  log.info({ workers: options.workers, pid: process.pid, v8Flags: options.workerV8Flags?.join(' ') || undefined }, 'starting workers');
  for (let slot = 1; slot <= options.workers; slot++) fork(slot);
  return finished;
}
