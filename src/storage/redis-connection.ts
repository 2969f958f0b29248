// The Redis connection replicas share: metadata through keyv, the client for flight leases, and a subscriber for their news.
import Keyv from 'keyv';
import KeyvRedis, { createClient } from '@keyv/redis';
import { describeError } from '../oci/errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { KeyvMetadataStore } from './keyv-metadata-store.js';

/**
 * A Redis connection that fails fast while Redis is away (no offline queue), so every caller can fall
 * back at once, and reconnects in the background.
 */
export function connectRedis(url: string, log: Logger, metrics: Metrics) {
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: { connectTimeout: 1000, reconnectStrategy: (retries: number) => Math.min(200 * (retries + 1), 2000) },
  });
  let reported = false;
  client.on('error', (err: unknown) => {
    if (!reported) log.warn({ err: describeError(err) }, 'Redis connection error');
    reported = true;
  });
  client.on('ready', () => {
    reported = false;
    log.info({ url: new URL(url).host }, 'connected to Redis');
  });
  client.connect().catch(() => metrics.redisErrors.inc({ use: 'metadata' }));
  // Lease news between replicas (redis-lease-news.ts): a subscribed connection takes no other commands. Its
  // errors are the main connection's (same server), reported there; it reconnects and resubscribes by itself.
  const subscriber = client.duplicate();
  subscriber.on('error', () => undefined);
  subscriber.connect().catch(() => metrics.redisErrors.inc({ use: 'lock' }));
  const keyv = new Keyv({ store: new KeyvRedis(client, { throwOnConnectError: false, throwOnErrors: true }), namespace: 'tender', throwOnErrors: true });
  return { client, subscriber, metadata: new KeyvMetadataStore(keyv, async function* () {}) };
}
