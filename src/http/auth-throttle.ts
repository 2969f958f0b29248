// Failed logins per user and per client address in a sliding window: past the limit, attempts are refused without a bcrypt.
import { isIPv6 } from 'node:net';
import { LRUCache } from 'lru-cache';

export interface AuthThrottleOptions {
  /** Failures (plus attempts still being checked) per key within the window before attempts are refused; 0 disables. */
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly clock?: () => number;
}

export type ThrottleScope = 'user' | 'address';

export interface Throttled {
  readonly scope: ThrottleScope;
  /** Whole seconds until the oldest failure in the window ages out (at least 1). */
  readonly retryAfterSeconds: number;
}

/** How long an address that logged in as a user keeps logging in as that user while the user is throttled. */
const trustedForMs = 24 * 3_600_000;
/** Keys remembered at once: bounded memory whatever names and addresses a flood uses. */
const maxKeys = 10_000;

/**
 * The state is small and bounded: at most `maxFailures` timestamps per key, for at most 10,000 keys
 * (least recently used dropped). Attempts in progress count against the limit too, so 200 concurrent
 * wrong passwords start at most `maxFailures` bcrypt checks, not 200.
 *
 * A user throttled by someone else's guessing would lock out every node that logs in as that user;
 * so an address that logged in successfully as a user is exempt from that user's limit (its own
 * address limit still applies) for a day.
 */
export class AuthThrottle {
  private readonly failures: LRUCache<string, number[]>;
  private readonly pending = new Map<string, number>();
  private readonly trusted = new LRUCache<string, true>({ max: maxKeys, ttl: trustedForMs });
  private readonly clock: () => number;

  constructor(private readonly options: AuthThrottleOptions) {
    this.clock = options.clock ?? Date.now;
    this.failures = new LRUCache<string, number[]>({ max: maxKeys, ttl: Math.max(1, options.windowMs) });
  }

  /** Whether an attempt may run now; undefined when it may. */
  check(user: string | undefined, address: string): Throttled | undefined {
    if (this.options.maxFailures <= 0) return undefined;
    const byAddress = this.over(addressKey(address));
    if (byAddress !== undefined) return { scope: 'address', retryAfterSeconds: byAddress };
    if (user === undefined || this.trusted.has(pairKey(user, address))) return undefined;
    const byUser = this.over(userKey(user));
    return byUser === undefined ? undefined : { scope: 'user', retryAfterSeconds: byUser };
  }

  /** Whether this user or address failed lately or has a check running: its bcrypt waits behind other clients'. */
  suspect(user: string, address: string): boolean {
    return [userKey(user), addressKey(address)].some((key) => this.recent(key).length > 0 || (this.pending.get(key) ?? 0) > 0);
  }

  /** Marks an attempt as being checked; call the returned function once it is decided. */
  begin(user: string, address: string): () => void {
    const keys = [userKey(user), addressKey(address)];
    for (const key of keys) this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      for (const key of keys) {
        const left = (this.pending.get(key) ?? 1) - 1;
        if (left > 0) this.pending.set(key, left);
        else this.pending.delete(key);
      }
    };
  }

  /** A wrong password (for a known user) or wrong credentials of any kind (user undefined). */
  failed(user: string | undefined, address: string): void {
    if (this.options.maxFailures <= 0) return;
    this.record(addressKey(address));
    if (user !== undefined) this.record(userKey(user));
  }

  succeeded(user: string, address: string): void {
    this.trusted.set(pairKey(user, address), true);
  }

  private record(key: string): void {
    const kept = this.recent(key);
    kept.push(this.clock());
    // Only the newest maxFailures matter for the limit.
    this.failures.set(key, kept.slice(-this.options.maxFailures));
  }

  /** Failure times still inside the window, oldest first. */
  private recent(key: string): number[] {
    const since = this.clock() - this.options.windowMs;
    return (this.failures.get(key) ?? []).filter((at) => at > since);
  }

  /** Seconds until an attempt under this key may run, or undefined when it may now. */
  private over(key: string): number | undefined {
    const recent = this.recent(key);
    if (recent.length + (this.pending.get(key) ?? 0) < this.options.maxFailures) return undefined;
    const oldest = recent[0];
    // Over the limit through attempts still running: their outcome is a second or so away.
    if (oldest === undefined || recent.length < this.options.maxFailures) return 1;
    return Math.max(1, Math.ceil((oldest + this.options.windowMs - this.clock()) / 1000));
  }
}

function userKey(user: string): string {
  return `u:${user}`;
}

/** IPv6 clients are counted by their /64: one host can use every address of its prefix. */
function addressKey(address: string): string {
  return `a:${clientNetwork(address)}`;
}

function pairKey(user: string, address: string): string {
  return `${clientNetwork(address)}\0${user}`;
}

/** An IPv4 address as is (also when IPv4-mapped), an IPv6 address as its /64 prefix. */
export function clientNetwork(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::') as [string, string?];
  const left = head ? head.split(':') : [];
  const right = address.includes('::') && tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
