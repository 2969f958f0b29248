// The InventoryStore in Redis, shared by replicas: a key per record and a sorted set of changes, so each replica
// reads only what others wrote since it last looked.
//
// `<ns>:inv:r:<digest>` holds the record as JSON; `<ns>:inv:changes` scores each written or removed digest by
// the time it was written. A save reads the stored copies (MGET), merges (mergeRecords: per-writer counts, so
// a replica's counts survive another's write) and writes each back only if it is still the copy it read: a Lua
// script compares and sets atomically (no WATCH, which would need a connection of its own), and the records
// another replica wrote in between are read, merged and tried again. So two replicas saving one digest at the
// same moment never lose each other's increments. Changes older than an hour are trimmed; a replica that has not
// looked for that long reads everything again.
import { isInventoryRecord, mergeRecords, type InventoryRecord } from '../cache/inventory-record.js';
import type { InventoryChanges, InventoryStore } from '../cache/inventory-store.js';

/** The part of a @redis/client client this needs. */
export interface RedisRaw {
  sendCommand(args: string[]): Promise<unknown>;
  /** A transaction of its own (a MULTI sent through sendCommand would take in other callers' commands on the shared connection). */
  multi(): { addCommand(args: string[]): unknown; exec(): Promise<unknown> };
}

const batch = 500;
/** A record written over by other replicas this many times in a row: the save fails and is retried at the next flush. */
const maxAttempts = 8;

/**
 * KEYS[1] the changes set, KEYS[1+i] record i; ARGV[1] the time, then per record: the value read ('' for none),
 * the merged value, the digest. Sets each record whose stored value is still the one read; returns the 1-based
 * positions of those that changed in between (to be read, merged and tried again).
 */
const compareAndSetScript = `
local stale = {}
for i = 2, #KEYS do
  local base = 2 + (i - 2) * 3
  local current = redis.call('GET', KEYS[i])
  if (current == false and ARGV[base] == '') or current == ARGV[base] then
    redis.call('SET', KEYS[i], ARGV[base + 1])
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[base + 2])
  else
    stale[#stale + 1] = i - 1
  end
end
return stale`;
/** Keys a SCAN step returns, about: one round trip (and one MGET) per this many records at start. */
const scanBatch = 5000;
const changesKeptMs = 3_600_000;
/** Looks this far back beyond the last check: clocks of replicas differ a little. */
const overlapMs = 10_000;

export class RedisInventoryStore implements InventoryStore {
  private lastCheck: number | undefined;

  constructor(
    private readonly redis: RedisRaw,
    private readonly namespace: string,
    private readonly clock: () => number = Date.now,
  ) {}

  async load(): Promise<InventoryRecord[]> {
    // Changes are read from the start of this load only once it is complete: a load cut short (Redis not yet
    // connected at start) leaves lastCheck unset, so the next changes() loads everything again.
    const started = this.clock();
    const records: InventoryRecord[] = [];
    let cursor = '0';
    do {
      const [next, keys] = (await this.redis.sendCommand(['SCAN', cursor, 'MATCH', `${this.prefix}*`, 'COUNT', String(scanBatch)])) as [string, string[]];
      cursor = next;
      if (keys.length > 0) for (const record of await this.read(keys)) if (record) records.push(record);
    } while (cursor !== '0');
    this.lastCheck = started;
    // SCAN may return a key twice.
    return records.length > 1 ? [...new Map(records.map((r) => [r.digest, r])).values()] : records;
  }

  async changes(): Promise<InventoryChanges> {
    const now = this.clock();
    if (this.lastCheck === undefined || now - this.lastCheck > changesKeptMs - overlapMs) return { records: await this.load(), removed: [], complete: true };
    const digests = (await this.redis.sendCommand(['ZRANGEBYSCORE', this.changesKey, String(this.lastCheck - overlapMs), '+inf'])) as string[];
    this.lastCheck = now;
    const records: InventoryRecord[] = [];
    const removed: string[] = [];
    for (let i = 0; i < digests.length; i += batch) {
      const part = digests.slice(i, i + batch);
      const found = await this.read(part.map((d) => this.prefix + d));
      part.forEach((digest, j) => (found[j] ? records.push(found[j]) : removed.push(digest)));
    }
    return { records, removed, complete: false };
  }

  async save(records: readonly InventoryRecord[], removed: readonly string[]): Promise<void> {
    const now = this.clock();
    for (let i = 0; i < records.length; i += batch) await this.compareAndSet(records.slice(i, i + batch), now);
    for (let i = 0; i < removed.length; i += batch) {
      const part = removed.slice(i, i + batch);
      await this.transaction([
        ['DEL', ...part.map((d) => this.prefix + d)],
        ['ZADD', this.changesKey, ...part.flatMap((d) => [String(now), d])],
      ]);
    }
    await this.redis.sendCommand(['ZREMRANGEBYSCORE', this.changesKey, '-inf', String(now - changesKeptMs)]);
  }

  async close(): Promise<void> {}

  private get prefix(): string {
    return `${this.namespace}:inv:r:`;
  }

  private get changesKey(): string {
    return `${this.namespace}:inv:changes`;
  }

  /** Each record merged with the stored copy and written if that copy is still there; those written over meanwhile again. */
  private async compareAndSet(records: readonly InventoryRecord[], now: number): Promise<void> {
    let pending = records;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > maxAttempts) throw new Error(`inventory records kept changing under this save (${pending.length} after ${maxAttempts} attempts)`);
      const raw = (await this.redis.sendCommand(['MGET', ...pending.map((r) => this.prefix + r.digest)])) as Array<string | null>;
      const args = [String(now)];
      pending.forEach((record, j) => {
        const stored = parseRecord(raw[j] ?? null);
        args.push(raw[j] ?? '', JSON.stringify(stored ? mergeRecords(stored, record) : record), record.digest);
      });
      const keys = [this.changesKey, ...pending.map((r) => this.prefix + r.digest)];
      const stale = (await this.redis.sendCommand(['EVAL', compareAndSetScript, String(keys.length), ...keys, ...args])) as number[];
      pending = stale.map((j) => pending[j - 1]!);
    }
  }

  /** The records at `keys`, undefined where there is none or it is not a record. */
  private async read(keys: readonly string[]): Promise<Array<InventoryRecord | undefined>> {
    const values = (await this.redis.sendCommand(['MGET', ...keys])) as Array<string | null>;
    return values.map(parseRecord);
  }

  private async transaction(commands: readonly string[][]): Promise<void> {
    const multi = this.redis.multi();
    for (const command of commands) multi.addCommand(command);
    await multi.exec();
  }
}

function parseRecord(value: string | null): InventoryRecord | undefined {
  if (value === null) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    return isInventoryRecord(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}
