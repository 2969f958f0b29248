// Lease changes between replicas over Redis pub/sub: the holder publishes the key when it announces its temp
// file, as the file grows (throttled by the caller) and when it lets go; a waiting replica looks again at once.
//
// One channel per lease kind (`<prefix>changes`), the message is the key. Pub/sub is at most once: while this
// replica's subscriber reconnects, messages are lost and not replayed, which is why waiters keep a bounded poll
// (cache/lease-watch.ts). The subscriber is its own connection (a subscribed Redis connection takes no other
// commands); @redis/client subscribes again by itself after a reconnect.
import type { Logger } from '../log.js';
import { describeError } from '../oci/errors.js';

/** The part of a @redis/client client this needs: publishing on the shared client, subscribing on its own. */
export interface RedisPubSub {
  publish(channel: string, message: string): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
}

/** Keys are digests or tag keys; a longer message is nobody's and is dropped unread. */
const maxKeyLength = 1024;

export class RedisLeaseNews {
  private readonly watchers = new Map<string, Set<() => void>>();
  private subscribed: Promise<unknown> | undefined;

  constructor(
    private readonly publisher: Pick<RedisPubSub, 'publish'>,
    private readonly subscriber: Pick<RedisPubSub, 'subscribe'>,
    private readonly channel: string,
    private readonly log: Logger,
  ) {}

  /** Tells the other replicas that the lease of `key` changed; never throws (the waiters' poll covers a loss). */
  publish(key: string): void {
    this.publisher.publish(this.channel, key).catch(() => undefined);
  }

  /**
   * Subscribes (once: @redis/client subscribes again by itself after a reconnect). Called when the subscriber
   * connection is ready, so the first download's news is heard; a failure is retried at the next watch.
   */
  listen(): void {
    this.subscribed ??= this.subscriber
      .subscribe(this.channel, (message) => this.receive(message))
      .catch((err: unknown) => {
        // Without the subscription waiters poll, as before pub/sub.
        this.subscribed = undefined;
        this.log.warn({ err: describeError(err), channel: this.channel }, 'Redis subscription failed: replicas poll leases instead');
      });
  }

  /** Calls `changed` at each message for `key` until the returned function is called. */
  watch(key: string, changed: () => void): () => void {
    this.listen();
    let watchers = this.watchers.get(key);
    if (!watchers) this.watchers.set(key, (watchers = new Set()));
    const own = watchers;
    const entry = (): void => changed();
    own.add(entry);
    return () => {
      own.delete(entry);
      if (own.size === 0 && this.watchers.get(key) === own) this.watchers.delete(key);
    };
  }

  private receive(message: string): void {
    if (typeof message !== 'string' || message.length > maxKeyLength) return;
    for (const changed of this.watchers.get(message) ?? []) changed();
  }
}
