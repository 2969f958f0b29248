// One of the workers (`workers: n > 1`): serves until the primary says stop (or SIGTERM reaches this worker
// alone); exits at once when the primary is gone. Loaded by main/serve.ts in the worker processes only.
import cluster from 'node:cluster';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import { start } from '../main.js';
import { Metrics } from '../metrics.js';
import { answerMetricsRequests } from '../workers/worker-metrics.js';
import { WorkerLink, type Channel } from '../workers/worker-link.js';

export async function serveAsWorker(config: Config, log: Logger): Promise<number> {
  const link = new WorkerLink(cluster.worker!.id, process as unknown as Channel);
  process.on('disconnect', () => process.exit(1));
  // Ctrl-C reaches the whole process group: the primary decides, and tells every worker.
  process.on('SIGINT', () => undefined);
  const stopped = new Promise<void>((resolve) => {
    link.onStop(resolve);
    process.once('SIGTERM', resolve);
  });
  const metrics = new Metrics({ processMetrics: true, worker: String(link.id) });
  answerMetricsRequests(link, metrics.registry);
  const running = await start(config, { log, metrics, worker: link });
  link.ready();
  await stopped;
  await running.stop();
  return 0;
}
