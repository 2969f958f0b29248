// A counter counted in plain numbers on the hot path must scrape exactly as prom-client's own `inc` would: every
// increment once, in the right series, across scrapes, and beyond its slot bound.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { TalliedCounter } from '../../../src/metrics/tallied-counter.js';

async function values(registry: Registry, name: string): Promise<Array<{ labels: Record<string, string | number>; value: number }>> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return ((metric?.values ?? []) as Array<{ labels: Record<string, string | number>; value: number }>).map(({ labels, value }) => ({ labels, value }));
}

describe('TalliedCounter', () => {
  it('hands its increments to prom-client at collection, each once, per label set', async () => {
    const registry = new Registry();
    const requests = new TalliedCounter({ name: 't_requests_total', help: 'h', registers: [registry] }, ['kind', 'method', 'status'] as const);
    for (let i = 0; i < 5; i++) requests.add('manifest', 'GET', 200);
    requests.add('blob', 'HEAD', 404);
    expect(await values(registry, 't_requests_total')).toEqual([
      { labels: { kind: 'manifest', method: 'GET', status: 200 }, value: 5 },
      { labels: { kind: 'blob', method: 'HEAD', status: 404 }, value: 1 },
    ]);
    requests.add('manifest', 'GET', 200);
    // Collected again: what came since is added, nothing twice.
    expect((await values(registry, 't_requests_total'))[0]!.value).toBe(6);
    expect(await registry.metrics()).toContain('t_requests_total{kind="manifest",method="GET",status="200"} 6');
  });

  it('counts a two-label series with an amount, and label sets past its bound straight into prom-client', async () => {
    const registry = new Registry();
    const bytes = new TalliedCounter({ name: 't_bytes_total', help: 'h', registers: [registry] }, ['upstream', 'source'] as const);
    bytes.add('docker.io', 'cache', '', 600);
    bytes.add('docker.io', 'cache', '', 400);
    expect(await values(registry, 't_bytes_total')).toEqual([{ labels: { upstream: 'docker.io', source: 'cache' }, value: 1000 }]);
    const many = new TalliedCounter({ name: 't_many_total', help: 'h', registers: [registry] }, ['a', 'b', 'c'] as const);
    for (let i = 0; i < 5000; i++) many.add('x', 'y', i);
    many.add('x', 'y', 4999);
    const series = await values(registry, 't_many_total');
    expect(series).toHaveLength(5000);
    expect(series.reduce((sum, s) => sum + s.value, 0)).toBe(5001);
  });
});
