// The host's /metrics with workers: each serving worker's registry, summed by prom-client's aggregation rules.
//
// Asked of the workers that are serving (and the one whose scrape this is), not of every forked process as
// prom-client's AggregatorRegistry.clusterMetrics() does: a worker still starting, or just replaced, never
// answers that request, and the whole scrape then failed (a 500 to Prometheus) until it did.
import type { Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from '../log.js';

/** A worker that has not answered in this time is left out of this scrape (Prometheus' own timeout is 10 s). */
const answerWithinMs = 3_000;
/** A worker left out is logged at most this often. */
const logEveryMs = 60_000;

export class HostMetrics {
  private nextId = 1;
  private readonly pending = new Map<number, { readonly worker: number; readonly done: (value: object[] | undefined) => void }>();
  private loggedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly log: Logger) {}

  /** A worker's answer; anything but prom-client's JSON (an array of metrics) counts as no answer. */
  answered(from: Worker, message: { readonly id?: unknown; readonly value?: unknown; readonly error?: unknown }): void {
    const waiting = typeof message.id === 'number' ? this.pending.get(message.id) : undefined;
    if (!waiting || waiting.worker !== from.id) return;
    waiting.done(Array.isArray(message.value) ? (message.value as object[]) : undefined);
  }

  /** The aggregated exposition text; workers that did not answer are named in a comment line and left out. */
  async collect(workers: readonly Worker[]): Promise<string> {
    const answers = await Promise.all(workers.map((worker) => this.ask(worker)));
    const got = answers.filter((answer): answer is object[] => answer !== undefined);
    const missing = workers.filter((_, i) => answers[i] === undefined).map((worker) => worker.id);
    if (got.length === 0) throw new Error(`no worker answered for metrics within ${answerWithinMs} ms`);
    const text = await AggregatorRegistry.aggregate(got).metrics();
    if (missing.length === 0) return text;
    const now = Date.now();
    if (now - this.loggedAt >= logEveryMs) {
      this.loggedAt = now;
      this.log.warn({ workers: missing }, 'workers did not answer for metrics in time: left out of this scrape');
    }
    return `# tender: workers ${missing.join(', ')} did not answer within ${answerWithinMs} ms; their series are missing from this scrape\n${text}`;
  }

  private ask(worker: Worker): Promise<object[] | undefined> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), answerWithinMs);
      const done = (value: object[] | undefined): void => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(value);
      };
      this.pending.set(id, { worker: worker.id, done });
      try {
        if (!worker.isConnected()) return done(undefined);
        worker.send({ tender: 'metrics', id });
      } catch {
        done(undefined);
      }
    });
  }
}
