// AuthThrottle: failures per user and per address in a sliding window, attempts in progress counted, trusted pairs.
import { describe, expect, it } from 'vitest';
import { AuthThrottle, clientNetwork } from '../../../src/http/auth-throttle.js';

function throttle(maxFailures = 3, windowMs = 60_000) {
  const clock = { now: 1_000_000 };
  return { clock, t: new AuthThrottle({ maxFailures, windowMs, clock: () => clock.now }) };
}

describe('AuthThrottle', () => {
  it('refuses an address after maxFailures failures, until the oldest leaves the window', () => {
    const { clock, t } = throttle(3, 60_000);
    for (let i = 0; i < 3; i++) {
      expect(t.check(undefined, '10.1.1.1')).toBeUndefined();
      t.failed(undefined, '10.1.1.1');
      clock.now += 1_000;
    }
    expect(t.check(undefined, '10.1.1.1')).toEqual({ scope: 'address', retryAfterSeconds: 57 });
    // Other addresses are not affected.
    expect(t.check(undefined, '10.1.1.2')).toBeUndefined();
    clock.now += 57_000;
    expect(t.check(undefined, '10.1.1.1')).toBeUndefined();
  });

  it('refuses a user after failures from many addresses, except from an address that logged in as that user', () => {
    const { t } = throttle(3);
    t.succeeded('alice', '10.0.0.9');
    for (let i = 0; i < 3; i++) t.failed('alice', `192.0.2.${i}`);
    expect(t.check('alice', '192.0.2.77')).toMatchObject({ scope: 'user' });
    expect(t.check('alice', '10.0.0.9')).toBeUndefined();
    expect(t.check('bob', '192.0.2.77')).toBeUndefined();
  });

  it('counts attempts still being checked, so a burst starts at most maxFailures checks', () => {
    const { t } = throttle(3);
    const ends: Array<() => void> = [];
    let started = 0;
    for (let i = 0; i < 200; i++) {
      if (t.check('alice', '10.1.1.1')) continue;
      started += 1;
      ends.push(t.begin('alice', '10.1.1.1'));
    }
    expect(started).toBe(3);
    expect(t.check('alice', '10.1.1.1')).toEqual({ scope: 'address', retryAfterSeconds: 1 });
    for (const end of ends) end();
    expect(t.check('alice', '10.1.1.1')).toBeUndefined();
  });

  it('marks users and addresses with recent failures or running checks as suspects', () => {
    const { t } = throttle(3);
    expect(t.suspect('alice', '10.1.1.1')).toBe(false);
    const end = t.begin('alice', '10.1.1.1');
    expect(t.suspect('alice', '10.9.9.9')).toBe(true);
    end();
    end(); // a second call changes nothing
    expect(t.suspect('alice', '10.9.9.9')).toBe(false);
    t.failed(undefined, '10.1.1.1');
    expect(t.suspect('bob', '10.1.1.1')).toBe(true);
  });

  it('never refuses with maxFailures 0', () => {
    const { t } = throttle(0);
    for (let i = 0; i < 100; i++) t.failed('alice', '10.1.1.1');
    expect(t.check('alice', '10.1.1.1')).toBeUndefined();
  });
});

describe('clientNetwork', () => {
  it('keeps IPv4 (also IPv4-mapped) and groups IPv6 by /64', () => {
    expect(clientNetwork('192.0.2.1')).toBe('192.0.2.1');
    expect(clientNetwork('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(clientNetwork('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(clientNetwork('2001:db8:1:2::9')).toBe('2001:db8:1:2::/64');
    expect(clientNetwork('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientNetwork('::1')).toBe('0:0:0:0::/64');
  });
});
