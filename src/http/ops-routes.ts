// Operator endpoints: liveness, readiness (cache writable, metadata reachable), Prometheus metrics.
import type { Hono } from 'hono';
import type { Registry } from 'prom-client';
import type { AppEnv } from './request-state.js';

export interface OpsDeps {
  /** This process's registry, or with workers the primary's aggregation over all of them. */
  readonly metricsRegistry: Pick<Registry, 'metrics' | 'contentType'>;
  /** Problems that make this instance unfit for traffic; empty when ready. */
  readonly readiness: () => Promise<string[]>;
  /**
   * Conditions an operator must hear about that do not make this instance unfit (upstream credentials held
   * back after refusals: anonymous pulls still work, and every replica shares them, so failing readiness
   * would take the whole mirror out of service). Reported by /readyz beside the problems, with 200.
   */
  readonly warnings?: () => string[];
}

export function mountOpsRoutes(app: Hono<AppEnv>, deps: OpsDeps): void {
  app.get('/healthz', (c) => {
    c.get('state').kind = 'ops';
    return c.json({ status: 'ok' });
  });
  app.get('/readyz', async (c) => {
    c.get('state').kind = 'ops';
    const problems = await deps.readiness();
    const warnings = deps.warnings?.() ?? [];
    return c.json({ status: problems.length === 0 ? 'ready' : 'not ready', problems, warnings }, problems.length === 0 ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    c.get('state').kind = 'ops';
    let text: string;
    try {
      text = await deps.metricsRegistry.metrics();
    } catch (err) {
      // With workers the primary collects them; a primary that cannot (no worker answered) is an outage: 503.
      return c.text(`metrics could not be collected: ${String(err)}\n`, 503);
    }
    return c.body(text, 200, { 'content-type': deps.metricsRegistry.contentType });
  });
}
