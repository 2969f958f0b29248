// A pull event applied to an inventory record: counts (this writer's own), last pulled, clients, recent pulls.
import { recordBounds, type InventoryRecord } from './inventory-record.js';
import type { PullEvent } from './pull-events.js';

/**
 * A client's last-pull time is kept to this resolution: the record only counts distinct clients over 24 h, and a
 * node pulling again within it changes nothing, so a warm hit does not copy the client map (up to 256 entries).
 */
const clientTimeResolutionMs = 60_000;

/** Pulls of one digest kept unfolded, at most: a long batch is folded at once, whatever a turn holds. */
const pullsPerFold = 256;

/**
 * Pulls of stored records, per digest, oldest first, until they are folded into their records: at the end of the
 * turn (setImmediate), or at once when anything reads the records (`settle`). A warm rollout pulls one digest
 * thousands of times a second; a record copy per pull was 5-9 % of a warm hit's CPU (bench/PROFILE.md).
 */
export class PendingPulls {
  private readonly batches = new Map<string, PullEvent[]>();
  private scheduled: NodeJS.Immediate | undefined;

  constructor(private readonly fold: (digest: string, batch: readonly PullEvent[]) => void) {}

  add(event: PullEvent): void {
    let batch = this.batches.get(event.digest);
    if (!batch) this.batches.set(event.digest, (batch = []));
    batch.push(event);
    if (batch.length >= pullsPerFold) {
      this.batches.delete(event.digest);
      this.fold(event.digest, batch);
    }
    this.scheduled ??= setImmediate(() => this.settle());
  }

  /** Folds every kept pull now. */
  settle(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    for (const [digest, batch] of this.batches) {
      this.batches.delete(digest);
      this.fold(digest, batch);
    }
  }
}

/** The record with one more pull: this writer's counts, last pulled (and hit), the client, the recent list. */
export function withPull(record: InventoryRecord, event: PullEvent, writer: string): InventoryRecord {
  return withPulls(record, [event], writer);
}

/**
 * The record with a batch of pulls (oldest first) applied in one copy: the inventory folds a turn's pulls of one
 * digest at once, so a rollout's warm hits cost a push each, not a record copy each (bench/PROFILE.md).
 */
export function withPulls(record: InventoryRecord, events: readonly PullEvent[], writer: string): InventoryRecord {
  const last = events[events.length - 1];
  if (last === undefined) return record;
  const mine = record.pulls.counts[writer] ?? { pulls: 0, hits: 0 };
  let hits = 0;
  let lastHit = record.pulls.lastHit;
  let clients: Record<string, number> | undefined;
  let added = false;
  for (const event of events) {
    if (event.cacheResult === 'hit') {
      hits += 1;
      lastHit = event.time;
    }
    const client = clientOf(event);
    const seen = (clients ?? record.pulls.clients)[client];
    if (seen !== undefined && event.time - seen < clientTimeResolutionMs && event.time >= seen) continue;
    clients ??= { ...record.pulls.clients };
    clients[client] = event.time;
    if (seen === undefined) added = true;
  }
  if (clients && added) trimClients(clients, clientOf(last));
  const fresh = events.length > recordBounds.recent ? events.slice(-recordBounds.recent) : events;
  const recent = fresh.map(recentOf).reverse();
  for (const old of record.pulls.recent) {
    if (recent.length >= recordBounds.recent) break;
    recent.push(old);
  }
  return {
    ...record,
    pulls: {
      counts: { ...record.pulls.counts, [writer]: { pulls: mine.pulls + events.length, hits: mine.hits + hits } },
      lastPulled: last.time,
      ...(lastHit !== undefined ? { lastHit } : {}),
      clients: clients ?? record.pulls.clients,
      recent,
    },
  };
}

const clientOf = (event: PullEvent): string => event.identity ?? event.clientAddress;

function recentOf(event: PullEvent): InventoryRecord['pulls']['recent'][number] {
  return {
    at: event.time,
    client: clientOf(event),
    result: event.cacheResult,
    method: event.method,
    ...(event.userAgent ? { userAgent: event.userAgent.slice(0, 256) } : {}),
    ...(event.tag ? { tag: event.tag } : {}),
  };
}

/**
 * Keeps the clients seen most recently within the bound (never `newest`, the last pull's client). One pass per
 * client over the bound: a batch adds at most a turn's new clients, and a full map gains one at a time.
 */
function trimClients(clients: Record<string, number>, newest: string): void {
  let count = Object.keys(clients).length;
  while (count > recordBounds.clients) {
    let oldest: string | undefined;
    for (const key in clients) if (key !== newest && (oldest === undefined || clients[key]! < clients[oldest]!)) oldest = key;
    if (oldest === undefined) return;
    delete clients[oldest];
    count -= 1;
  }
}
