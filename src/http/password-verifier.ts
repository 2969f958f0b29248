// bcrypt comparisons on worker threads, in two lanes and a bounded queue, so no login can stall the event loop.
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import type { PasswordTask } from './password-worker.js';

export interface PasswordVerifierOptions {
  /** Comparisons waiting for a thread, both lanes together; beyond this, verify() answers 'busy' at once. */
  readonly queue: number;
  /** Worker threads; default: one less than the cores (at least one, at most four), so the event loop keeps a core. */
  readonly threads?: number;
}

export type Verdict = 'match' | 'mismatch' | 'busy';

interface Job {
  readonly task: PasswordTask;
  readonly resolve: (verdict: Verdict) => void;
  readonly reject: (err: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/**
 * bcrypt is slow by design (bcryptjs, pure JavaScript: tens of milliseconds per check at cost 10), and
 * on the event loop every check stalls every client. The checks run on a piscina pool instead (pure
 * JS in workers: no native addon to build). The queue is tender's own rather than piscina's, for two
 * lanes: checks for users and addresses with recent failures wait behind everyone else's, so a flood
 * of wrong passwords delays nobody but itself; and a full queue answers at once instead of growing.
 */
export class PasswordVerifier {
  private pool: Piscina<PasswordTask, boolean> | undefined;
  private readonly threads: number;
  private readonly lanes: { readonly clean: Job[]; readonly suspect: Job[] } = { clean: [], suspect: [] };
  private running = 0;
  private closed = false;

  constructor(private readonly options: PasswordVerifierOptions) {
    this.threads = Math.max(1, options.threads ?? Math.min(4, availableParallelism() - 1));
  }

  /** Compares on a worker thread; 'busy' when the queue is full; a job whose signal aborts while queued is dropped. */
  verify(password: string, hash: string, options: { suspect: boolean; signal?: AbortSignal }): Promise<Verdict> {
    if (this.closed) return Promise.resolve('busy');
    if (options.signal?.aborted) return Promise.resolve('busy');
    if (this.running >= this.threads && this.lanes.clean.length + this.lanes.suspect.length >= this.options.queue) return Promise.resolve('busy');
    return new Promise<Verdict>((resolve, reject) => {
      const lane = options.suspect ? this.lanes.suspect : this.lanes.clean;
      const job: Job = {
        task: { password, hash },
        resolve,
        reject,
        signal: options.signal,
        onAbort: () => {
          const at = lane.indexOf(job);
          if (at === -1) return;
          lane.splice(at, 1);
          resolve('busy');
        },
      };
      options.signal?.addEventListener('abort', job.onAbort, { once: true });
      lane.push(job);
      this.next();
    });
  }

  /** Comparisons waiting for a thread. */
  get queued(): number {
    return this.lanes.clean.length + this.lanes.suspect.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of [...this.lanes.clean.splice(0), ...this.lanes.suspect.splice(0)]) job.resolve('busy');
    await this.pool?.destroy();
    this.pool = undefined;
  }

  private next(): void {
    while (this.running < this.threads) {
      const job = this.lanes.clean.shift() ?? this.lanes.suspect.shift();
      if (!job) return;
      job.signal?.removeEventListener('abort', job.onAbort);
      this.running += 1;
      this.workers()
        .run(job.task)
        .then(
          (matched) => job.resolve(matched ? 'match' : 'mismatch'),
          (err: unknown) => job.reject(err),
        )
        .finally(() => {
          this.running -= 1;
          this.next();
        });
    }
  }

  /** Started on the first check: a mirror without htpasswd users never starts a thread. */
  private workers(): Piscina<PasswordTask, boolean> {
    this.pool ??= new Piscina<PasswordTask, boolean>({ ...workerEntry(), minThreads: 0, maxThreads: this.threads, idleTimeout: 60_000 });
    return this.pool;
  }
}

/**
 * The worker's file: compiled JavaScript next to this module in dist/; from the TypeScript sources (tsx,
 * vitest) the .ts file, which the worker loads through tsx's loader, resolved from here rather than
 * from the working directory.
 */
function workerEntry(): { filename: string; execArgv: string[] } {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { filename: new URL('./password-worker.js', here).href, execArgv: [] };
  const tsx = pathToFileURL(createRequire(here).resolve('tsx')).href;
  return { filename: new URL('./password-worker.ts', here).href, execArgv: ['--import', tsx] };
}
