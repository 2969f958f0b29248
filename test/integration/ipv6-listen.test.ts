// tender listens on IPv6 (`[::1]:port`) and dual-stack (`[::]:port`) addresses, and its metrics listener too.
// Loopback ::1 exists on the CI runners and here; without it the suite is skipped, and says so.
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { http } from '../helpers/http-client.js';
import { startTender } from '../helpers/tender.js';

const hasIpv6Loopback = Object.values(networkInterfaces()).some((addresses) => addresses?.some((a) => a.address === '::1'));

describe.runIf(hasIpv6Loopback)('listening on IPv6 (loopback ::1)', () => {
  let upstream: FaultUpstream;
  beforeAll(async () => {
    upstream = await startFaultUpstream();
  });
  afterAll(async () => {
    await upstream?.stop();
  });

  it('serves on [::1] only, and says so in its URL and start-up line', async () => {
    const tender = await startTender({ upstreams: { 'fault.test': upstream.url }, settings: { listen: '[::1]:0', metricsListen: '[::1]:0' } });
    try {
      expect(tender.url).toBe(`http://[::1]:${tender.port}`);
      expect((await http(`http://[::1]:${tender.port}/v2/`)).status).toBe(200);
      await expect(http(`http://127.0.0.1:${tender.port}/v2/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      const started = tender.logs.find((l) => l.msg === 'tender is serving') as { listen: string; metricsListen: string };
      expect(started.listen).toBe(`[::1]:${tender.port}`);
      const metricsPort = Number(/\]:(\d+)$/.exec(started.metricsListen)?.[1]);
      expect((await http(`http://[::1]:${metricsPort}/metrics`)).status).toBe(200);
    } finally {
      await tender.stop();
    }
  });

  it('serves both families on [::] (dual stack)', async () => {
    const tender = await startTender({ upstreams: { 'fault.test': upstream.url }, settings: { listen: '[::]:0' } });
    try {
      expect(tender.url).toBe(`http://[::1]:${tender.port}`);
      for (const host of ['[::1]', '127.0.0.1']) expect((await http(`http://${host}:${tender.port}/v2/`)).status, host).toBe(200);
    } finally {
      await tender.stop();
    }
  });
});
