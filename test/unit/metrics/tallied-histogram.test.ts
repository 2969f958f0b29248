// The tallied histogram must scrape exactly as prom-client's own Histogram does for the same observations, alone
// and aggregated across workers (AggregatorRegistry), since dashboards and alerts read its buckets.
import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { TalliedHistogram } from '../../../src/metrics/tallied-histogram.js';

const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const observations: Array<[string, string, number]> = [
  ['manifest', 'hit', 0.0004],
  ['manifest', 'hit', 0.001],
  ['manifest', 'hit', 0.0011],
  ['blob', 'miss', 0.3],
  ['blob', 'miss', 42],
  ['tag', 'stale', 0.05],
  ['manifest', 'hit', 7],
];

function both(): { ours: Registry; theirs: Registry } {
  const ours = new Registry();
  const theirs = new Registry();
  const tallied = new TalliedHistogram('t_ttfb_seconds', 'help text', ['kind', 'result'], buckets, ours);
  const reference = new Histogram({ name: 't_ttfb_seconds', help: 'help text', labelNames: ['kind', 'result'], buckets, registers: [theirs] });
  for (const [kind, result, value] of observations) {
    tallied.observe(kind, result, value);
    reference.observe({ kind, result }, value);
  }
  return { ours, theirs };
}

describe('TalliedHistogram', () => {
  it('renders the exposition text prom-client’s Histogram renders for the same observations', async () => {
    const { ours, theirs } = both();
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
  });

  it('aggregates across workers as prom-client’s does', async () => {
    const a = both();
    const b = both();
    const ours = AggregatorRegistry.aggregate([await a.ours.getMetricsAsJSON(), await b.ours.getMetricsAsJSON()]);
    const theirs = AggregatorRegistry.aggregate([await a.theirs.getMetricsAsJSON(), await b.theirs.getMetricsAsJSON()]);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.metrics()).toContain('t_ttfb_seconds_count{kind="manifest",result="hit"} 8');
  });
});
