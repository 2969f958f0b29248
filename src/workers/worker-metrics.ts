// A worker's side of the host's /metrics: its registry as prom-client's JSON, sent when the primary asks.
import type { Registry } from 'prom-client';
import type { WorkerLink } from './worker-link.js';

export function answerMetricsRequests(link: WorkerLink, registry: Registry): void {
  link.answerMetrics(() => registry.getMetricsAsJSON());
}
