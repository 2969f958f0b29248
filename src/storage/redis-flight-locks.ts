// Flight leases in Redis: SET NX PX, renewed by the holder, released only by it (compare-and-delete).
import type { FlightLease, FlightLocks } from '../cache/flight-locks.js';

/** The part of a @redis/client client this needs. */
export interface RedisCommands {
  set(key: string, value: string, options: { NX: true; PX: number }): Promise<string | null>;
  exists(key: string): Promise<number>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

const renewScript = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
const releaseScript = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

export class RedisFlightLocks implements FlightLocks {
  constructor(
    private readonly redis: RedisCommands,
    private readonly replicaId: string,
    private readonly leaseMs: number,
    private readonly onRenewFailure: (err: unknown) => void,
  ) {}

  async acquire(digest: string): Promise<FlightLease | undefined> {
    const key = keyOf(digest);
    // The value names the holder and this attempt, so only this holder can renew or release it.
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
    return {
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(renew);
        await this.redis.eval(releaseScript, { keys: [key], arguments: [token] }).catch(() => undefined);
      },
    };
  }

  async held(digest: string): Promise<boolean> {
    return (await this.redis.exists(keyOf(digest))) === 1;
  }
}

function keyOf(digest: string): string {
  return `tender:flight:${digest}`;
}
