// A pull event applied to an inventory record: counts (this writer's own), last pulled, clients, recent pulls.
import { recordBounds, type InventoryRecord } from './inventory-record.js';
import type { PullEvent } from './pull-events.js';

/**
 * A client's last-pull time is kept to this resolution: the record only counts distinct clients over 24 h, and a
 * node pulling again within it changes nothing, so a warm hit does not copy the client map (up to 256 entries).
 */
const clientTimeResolutionMs = 60_000;

/** The record with one more pull: this writer's counts, last pulled (and hit), the client, the recent list. */
export function withPull(record: InventoryRecord, event: PullEvent, writer: string): InventoryRecord {
  const client = event.identity ?? event.clientAddress;
  const mine = record.pulls.counts[writer] ?? { pulls: 0, hits: 0 };
  const hit = event.cacheResult === 'hit';
  const clients = withClient(record.pulls.clients, client, event.time);
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
      clients,
      recent,
    },
  };
}

/**
 * The client map with `client` seen at `time`: the same object when that changes nothing at the resolution; a new
 * client over the bound replaces the one seen longest ago (one pass, no sort: this runs on every pull of a rollout).
 */
function withClient(clients: Readonly<Record<string, number>>, client: string, time: number): Readonly<Record<string, number>> {
  const seen = clients[client];
  if (seen !== undefined && time - seen < clientTimeResolutionMs && time >= seen) return clients;
  const next: Record<string, number> = { ...clients, [client]: time };
  if (seen !== undefined) return next;
  let count = 0;
  let oldest: string | undefined;
  for (const key in next) {
    count += 1;
    if (key !== client && (oldest === undefined || next[key]! < next[oldest]!)) oldest = key;
  }
  if (count > recordBounds.clients && oldest !== undefined) delete next[oldest];
  return next;
}
