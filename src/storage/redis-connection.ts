// The Redis connection replicas share: metadata through keyv, and the client for flight leases.
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
  const keyv = new Keyv({ store: new KeyvRedis(client, { throwOnConnectError: false, throwOnErrors: true }), namespace: 'tender', throwOnErrors: true });
  return { client, metadata: new KeyvMetadataStore(keyv, async function* () {}) };
}
