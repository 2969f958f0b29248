// Flight leases in Redis: SET NX PX, renewed by the holder, released only by it (compare-and-delete).
//
// The value is the holder's token, and once the download streams, the token, a space and the temp file it
// writes (JSON: name and size), so that waiting replicas on the shared volume can follow it. The scripts
// compare the token prefix, so announcing does not change who may renew or release.
import { checkedFlightFile, type FlightHolder, type FlightLease, type FlightLocks } from '../cache/flight-locks.js';
import type { RedisLeaseNews } from './redis-lease-news.js';

/** The part of a @redis/client client this needs. */
export interface RedisCommands {
  set(key: string, value: string, options: { NX: true; PX: number }): Promise<string | null>;
  get(key: string): Promise<string | null>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

const owns = "local v = redis.call('get', KEYS[1]) if v and (v == ARGV[1] or string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. ' ') then";
const renewScript = `${owns} return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const releaseScript = `${owns} return redis.call('del', KEYS[1]) else return 0 end`;
const announceScript = `${owns} return redis.call('set', KEYS[1], ARGV[1] .. ' ' .. ARGV[2], 'KEEPTTL') else return 0 end`;

/** The fewest ms between two growth messages of one download between replicas. */
const growthPublishMs = 10;

export class RedisFlightLocks implements FlightLocks {
  constructor(
    private readonly redis: RedisCommands,
    private readonly replicaId: string,
    private readonly leaseMs: number,
    private readonly onRenewFailure: (err: unknown) => void,
    /** Keys are `<prefix><digest>`: flights by default; tag revalidations use their own prefix. */
    private readonly prefix = 'tender:flight:',
    /**
     * Pub/sub for the waiters (announce, growth, release); without it they poll the lease. It must publish on
     * the `redis` connection itself: a message is sent right behind the command whose effect it announces.
     */
    private readonly news?: RedisLeaseNews,
  ) {}

  async acquire(digest: string): Promise<FlightLease | undefined> {
    const key = this.prefix + digest;
    // The token names the holder and this attempt, so only this holder can renew or release it.
    const token = `${this.replicaId}:${process.pid}:${Date.now()}:${Math.random().toString(36).slice(2)}`;
    const won = await this.redis.set(key, token, { NX: true, PX: this.leaseMs });
    if (won !== 'OK') return undefined;
    const renew = setInterval(
      () => {
        this.redis.eval(renewScript, { keys: [key], arguments: [token, String(this.leaseMs)] }).catch(this.onRenewFailure);
      },
      Math.max(100, Math.floor(this.leaseMs / 3)),
    );
    renew.unref();
    let released = false;
    let lastGrew = Number.NEGATIVE_INFINITY;
    return {
      // The PUBLISH goes right behind the EVAL, not after its reply: on one connection Redis runs them in order,
      // so a waiter woken by the message reads the new value. Waiting for the reply first cost the waiting
      // replica 40-60 ms of a cold herd: the holder's event loop is busiest just as it announces (its joiners'
      // response heads, its first chunk), and the PUBLISH left only once it got to the reply (bench/PROFILE.md).
      announce: async (file) => {
        if (released) return;
        const announced = this.redis.eval(announceScript, { keys: [key], arguments: [token, JSON.stringify(file)] }).catch(this.onRenewFailure);
        this.news?.publish(digest);
        await announced;
      },
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(renew);
        const gone = this.redis.eval(releaseScript, { keys: [key], arguments: [token] }).catch(() => undefined);
        this.news?.publish(digest);
        await gone;
      },
      // Bounded per lease: a PUBLISH per growth of every download would load Redis for little (the waiters'
      // own look at the file comes within 20 ms anyway).
      grew: () => {
        const now = performance.now();
        if (released || now - lastGrew < growthPublishMs) return;
        lastGrew = now;
        this.news?.publish(digest);
      },
    };
  }

  watch(digest: string, changed: () => void): () => void {
    return this.news ? this.news.watch(digest, changed) : () => undefined;
  }

  async holder(digest: string): Promise<FlightHolder | undefined> {
    const value = await this.redis.get(this.prefix + digest);
    if (value === null) return undefined;
    const space = value.indexOf(' ');
    if (space < 0) return { file: undefined };
    // Whatever else is in Redis is not trusted: a value that does not parse is a holder without a file.
    try {
      return { file: checkedFlightFile(JSON.parse(value.slice(space + 1))) };
    } catch {
      return { file: undefined };
    }
  }
}
