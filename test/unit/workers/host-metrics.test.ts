// The host's /metrics with workers: one scrape sums the serving workers, and a worker that does not answer
// (still starting, stuck) is left out of that scrape instead of failing it (it failed with a 500 before).
import type { Worker } from 'node:cluster';
import { Writable } from 'node:stream';
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.js';
import { HostMetrics } from '../../../src/workers/host-metrics.js';

/** A worker whose registry counted `requests`; `silent` never answers. */
function fakeWorker(id: number, hostMetrics: () => HostMetrics, requests: number | 'silent' | 'nonsense'): Worker {
  const registry = new Registry();
  new Counter({ name: 'tender_requests_total', help: 'requests', registers: [registry] }).inc(requests === 'silent' || requests === 'nonsense' ? 0 : requests);
  const worker = {
    id,
    isConnected: () => true,
    send: (message: { id: number }) => {
      if (requests === 'silent') return true;
      const reply = requests === 'nonsense' ? Promise.resolve({ not: 'metrics' }) : registry.getMetricsAsJSON();
      void reply.then((value) => hostMetrics().answered(worker as unknown as Worker, { id: message.id, value }));
      return true;
    },
  };
  return worker as unknown as Worker;
}

const quietLog = createLogger('warn', new Writable({ write: (_chunk, _enc, done) => done() }));

describe('HostMetrics', () => {
  it('sums the workers that answer', async () => {
    const host = new HostMetrics(quietLog);
    const text = await host.collect([fakeWorker(1, () => host, 3), fakeWorker(2, () => host, 4)]);
    expect(text).toMatch(/^tender_requests_total 7$/m);
    expect(text).not.toContain('did not answer');
  });

  it('leaves out a worker that does not answer in time, and says so in the scrape', async () => {
    const host = new HostMetrics(quietLog);
    const text = await host.collect([fakeWorker(1, () => host, 3), fakeWorker(2, () => host, 'silent'), fakeWorker(3, () => host, 'nonsense')]);
    expect(text).toMatch(/^tender_requests_total 3$/m);
    expect(text).toContain('# tender: workers 2, 3 did not answer');
  }, 10_000);

  it('ignores an answer from another worker than the one asked', async () => {
    const host = new HostMetrics(quietLog);
    const honest = fakeWorker(1, () => host, 5);
    const liar = { id: 9 } as unknown as Worker;
    const asked = {
      ...fakeWorker(2, () => host, 'silent'),
      send: (m: { id: number }) => (host.answered(liar, { id: m.id, value: [] }), true),
    } as unknown as Worker;
    const text = await host.collect([honest, asked]);
    expect(text).toMatch(/^tender_requests_total 5$/m);
    expect(text).toContain('workers 2 did not answer');
  }, 10_000);

  it('fails when no worker answers (the scrape is then a 503)', async () => {
    const host = new HostMetrics(quietLog);
    await expect(host.collect([fakeWorker(1, () => host, 'silent')])).rejects.toThrow(/no worker answered/);
  }, 10_000);
});
