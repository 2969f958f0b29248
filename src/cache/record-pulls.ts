// A pull event applied to an inventory record: counts (this writer's own), last pulled, clients, recent pulls.
import { boundClients, recordBounds, type InventoryRecord } from './inventory-record.js';
import type { PullEvent } from './pull-events.js';

/** The record with one more pull: this writer's counts, last pulled (and hit), the client, the recent list. */
export function withPull(record: InventoryRecord, event: PullEvent, writer: string): InventoryRecord {
  const client = event.identity ?? event.clientAddress;
  const mine = record.pulls.counts[writer] ?? { pulls: 0, hits: 0 };
  const hit = event.cacheResult === 'hit';
  const clients = { ...record.pulls.clients, [client]: event.time };
  const recent = [
    {
      at: event.time,
      client,
      result: event.cacheResult,
      method: event.method,
      ...(event.userAgent ? { userAgent: event.userAgent.slice(0, 256) } : {}),
      ...(event.tag ? { tag: event.tag } : {}),
    },
    ...record.pulls.recent,
  ].slice(0, recordBounds.recent);
  return {
    ...record,
    pulls: {
      counts: { ...record.pulls.counts, [writer]: { pulls: mine.pulls + 1, hits: mine.hits + (hit ? 1 : 0) } },
      lastPulled: event.time,
      ...(hit ? { lastHit: event.time } : record.pulls.lastHit !== undefined ? { lastHit: record.pulls.lastHit } : {}),
      clients: Object.keys(clients).length > recordBounds.clients ? boundClients(clients) : clients,
      recent,
    },
  };
}
