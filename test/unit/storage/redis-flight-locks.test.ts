// Flight leases in Redis: what goes on the connection, and in which order, when a holder announces and lets go.
// (The protocol against a real redis-server is in test/integration/scale-out.test.ts.)
import { describe, expect, it } from 'vitest';
import { RedisFlightLocks, type RedisCommands } from '../../../src/storage/redis-flight-locks.js';
import { RedisLeaseNews } from '../../../src/storage/redis-lease-news.js';
import { createLogger } from '../../../src/log.js';

/** One connection's command stream; EVAL replies only when the test lets them. */
class Connection implements RedisCommands {
  readonly sent: string[] = [];
  private readonly held: Array<() => void> = [];

  async set(key: string): Promise<string | null> {
    this.sent.push(`SET ${key}`);
    return 'OK';
  }

  async get(key: string): Promise<string | null> {
    this.sent.push(`GET ${key}`);
    return null;
  }

  eval(script: string): Promise<unknown> {
    this.sent.push(script.includes("'del'") ? 'EVAL release' : script.includes("'set'") ? 'EVAL announce' : 'EVAL renew');
    return new Promise((resolve) => this.held.push(() => resolve(1)));
  }

  async publish(channel: string, message: string): Promise<unknown> {
    this.sent.push(`PUBLISH ${channel} ${message}`);
    return 1;
  }

  async subscribe(): Promise<unknown> {
    return undefined;
  }

  reply(): void {
    for (const resolve of this.held.splice(0)) resolve();
  }
}

function locksOn(connection: Connection): RedisFlightLocks {
  const news = new RedisLeaseNews(connection, connection, 'tender:flight:changes', createLogger('silent'));
  return new RedisFlightLocks(connection, 'a', 60_000, () => undefined, 'tender:flight:', news);
}

describe('RedisFlightLocks', () => {
  it('publishes an announcement right behind its EVAL, before the reply (a waiting replica starts a round trip sooner)', async () => {
    const connection = new Connection();
    const lease = (await locksOn(connection).acquire('sha256:abc'))!;
    const announced = lease.announce({ name: 'a.w1.abc', size: 10 });
    // The holder has not had the reply yet, and the waiters are already told.
    expect(connection.sent).toEqual(['SET tender:flight:sha256:abc', 'EVAL announce', 'PUBLISH tender:flight:changes sha256:abc']);
    let settled = false;
    void announced.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    connection.reply();
    await announced;

    const released = lease.release();
    expect(connection.sent.slice(-2)).toEqual(['EVAL release', 'PUBLISH tender:flight:changes sha256:abc']);
    connection.reply();
    await released;
  });

  it('says nothing after it let go', async () => {
    const connection = new Connection();
    const lease = (await locksOn(connection).acquire('sha256:abc'))!;
    const released = lease.release();
    connection.reply();
    await released;
    const before = connection.sent.length;
    await lease.announce({ name: 'a.w1.abc', size: 10 });
    lease.grew?.();
    await lease.release();
    expect(connection.sent.length).toBe(before);
  });
});
