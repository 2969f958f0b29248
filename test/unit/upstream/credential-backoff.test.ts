// Credentials a token realm keeps refusing are held back: after 3 refusals in a row, for the back-off, once
// logged; after it one try; a success or new credentials clear it.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.js';
import { Metrics } from '../../../src/metrics.js';
import { CredentialBackoff } from '../../../src/upstream/credential-backoff.js';

function setup(backoffMs = 60_000) {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const clock = { now: 1_800_000_000_000 };
  const metrics = new Metrics({ processMetrics: false });
  const backoff = new CredentialBackoff('hub.test', backoffMs, metrics, createLogger('info', sink), () => clock.now);
  const count = async () => (await metrics.credentialBackoffs.get()).values.reduce((sum, v) => sum + v.value, 0);
  const warnings = () => logs.filter((l) => String(l.msg).startsWith('the token realm refused the configured credentials repeatedly'));
  return { backoff, clock, count, warnings, logs };
}

describe('CredentialBackoff', () => {
  it('holds the credentials back after 3 refusals in a row, for the back-off, logged once and counted', async () => {
    const s = setup();
    s.backoff.refused(401);
    s.backoff.refused(401);
    expect(s.backoff.allowed()).toBe(true);
    s.backoff.refused(403);
    expect(s.backoff.allowed()).toBe(false);
    expect(s.backoff.problem()).toMatch(/^upstream hub\.test: the token realm refused the configured credentials 3 times in a row; not sent until 2027-/);
    expect(await s.count()).toBe(1);
    s.clock.now += 59_999;
    expect(s.backoff.allowed()).toBe(false);
    s.clock.now += 1;
    expect(s.backoff.allowed()).toBe(true);
    expect(s.backoff.problem()).toBeUndefined();
    // One try after the back-off: one more refusal holds them back again, counted but not logged again.
    s.backoff.refused(401);
    expect(s.backoff.allowed()).toBe(false);
    expect(await s.count()).toBe(2);
    expect(s.warnings()).toHaveLength(1);
  });

  it('starts over when the credentials are accepted, logging that once', () => {
    const s = setup();
    for (let i = 0; i < 3; i++) s.backoff.refused(401);
    s.clock.now += 60_000;
    s.backoff.accepted();
    expect(s.logs.filter((l) => l.msg === 'the token realm accepts the configured credentials again')).toHaveLength(1);
    s.backoff.refused(401);
    s.backoff.refused(401);
    expect(s.backoff.allowed()).toBe(true);
  });

  it('lets new credentials try at once, and never holds back with a back-off of 0', () => {
    const s = setup();
    for (let i = 0; i < 3; i++) s.backoff.refused(401);
    s.backoff.reset();
    expect(s.backoff.allowed()).toBe(true);
    const off = setup(0);
    for (let i = 0; i < 10; i++) off.backoff.refused(401);
    expect(off.backoff.allowed()).toBe(true);
  });
});
