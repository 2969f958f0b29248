// The provenance inventory (issue 15): one record per cached manifest or index, kept up to date by the core's
// events (stored, tag seen, pulled, evicted, adopted, judged) and written to its store in batches.
//
// Nothing here is on a request's critical path: every event changes the record in memory and marks it dirty (pulls
// are folded in once per turn, no I/O, no await); a timer writes the dirty records every flushInterval and reads what others wrote. A store that refuses is retried at the next flush (the records stay dirty),
// counted and logged once per interval. The config's labels are read once the config blob is cached (clients
// fetch it right after the manifest), bounded to 1 MiB. Records of evicted content are marked, kept for
// `retentionMs` (so a moved tag's history outlives the old digest for a while), then removed: the store is
// bounded by what the cache holds plus what it evicted within the retention.
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { describeError } from '../oci/errors.js';
import { InventoryIndex } from './inventory-index.js';
import {
  configLabels,
  describeManifest,
  mergeRecords,
  mergeTags,
  recordBounds,
  type InventoryRecord,
  type RecordSource,
  type TrustVerdict,
} from './inventory-record.js';
import { PendingPulls, withPull, withPulls } from './record-pulls.js';
import type { InventoryStore } from './inventory-store.js';
import type { PullEvent } from './pull-events.js';
import type { InventoryCache, InventoryOptions } from './inventory-ports.js';

/** Digests with something said of them before their manifest was stored, at most. */
const earlyDigests = 10_000;

export interface Placement {
  readonly upstream: string;
  readonly repository: string;
}

export class Inventory {
  private readonly records = new InventoryIndex();
  private readonly pulls = new PendingPulls((digest, batch) => this.fold(digest, batch));
  private readonly dirty = new Set<string>();
  private readonly removed = new Set<string>();
  /** Config digest → manifests waiting for its labels. */
  private readonly awaitingConfig = new Map<string, Set<string>>();
  /**
   * What was said of a digest before its manifest was stored: containerd HEADs a tag (the tag record and a pull
   * event name the digest) and only then GETs the manifest. Applied when it is stored; bounded, oldest dropped.
   */
  private readonly early = new Map<string, Array<(record: InventoryRecord) => InventoryRecord>>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private failedAt = Number.NEGATIVE_INFINITY;
  private unread = false;

  constructor(
    private readonly store: InventoryStore | undefined,
    readonly cache: InventoryCache,
    private readonly options: InventoryOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** The records with every pull folded in: what queries read. */
  get index(): InventoryIndex {
    this.pulls.settle();
    return this.records;
  }

  get now(): number {
    return this.options.clock();
  }

  /** Loads every record from the store; a store that cannot be read starts the inventory empty (logged). */
  async open(): Promise<void> {
    if (!this.store) return;
    const started = performance.now();
    try {
      this.absorb(await this.store.load());
    } catch (err) {
      this.unread = true;
      this.log.warn({ err: describeError(err) }, 'inventory store unreadable: starting with what this process sees');
    }
    this.log.info({ records: this.records.size, ms: Math.round(performance.now() - started) }, 'inventory loaded');
    this.report();
  }

  /** Writes dirty records every flushInterval until close(). For processes that live (serve). */
  start(): void {
    if (!this.store || this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.timer.unref();
    // A store unread at open (Redis still connecting at start): its records are read by a flush soon, not in flushInterval.
    if (this.unread) setTimeout(() => void this.flush(), 250).unref();
  }

  /** Brings in others' writes, prunes, writes what changed; one at a time; never rejects. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  async close(): Promise<void> {
    this.pulls.settle();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flushing;
    await this.flush();
  }

  // ---- events from the core ------------------------------------------------------------------

  /** A manifest verified and stored (fetched from upstream, or seeded through the pull path). */
  stored(at: Placement, digest: string, mediaType: string, body: Buffer, source: RecordSource = 'pull-through', bundle?: string): void {
    const now = this.now;
    const what = describeManifest(body, mediaType);
    const existing = this.records.get(digest);
    const fresh: InventoryRecord = {
      digest,
      what,
      from: { upstream: at.upstream, repository: at.repository, firstFetched: now, lastVerified: now, source, ...(bundle ? { bundle } : {}) },
      tags: [],
      trust: { verdicts: [] },
      pulls: { counts: {}, clients: {}, recent: [] },
      storedAt: now,
    };
    // Stored again after an eviction: the old record's history is kept, its state is "cached" again.
    let record = existing ? mergeRecords(existing, fresh) : fresh;
    for (const apply of this.early.get(digest) ?? []) record = apply(record);
    this.early.delete(digest);
    this.put(record);
    // Read once per record: a record whose config was read (labels or none, `{}`) never reads it again.
    if (what.config && !record.what.labels) this.wantLabels(what.config, digest);
  }

  /** Content already in the cache recorded by other means (`tender import`): its manifest read from the cache. */
  async adopted(at: Placement, manifests: ReadonlyArray<{ digest: string; mediaType: string }>, source: RecordSource, bundle?: string): Promise<void> {
    for (const manifest of manifests) {
      const body = await this.cache.read(manifest.digest, 4 * 1024 * 1024);
      if (body) this.stored(at, manifest.digest, manifest.mediaType, body, source, bundle);
    }
  }

  /** Marks records first fetched at or after `since` as brought in by `source` (seed's walk). */
  sourced(digests: readonly string[], source: RecordSource, since: number): void {
    for (const digest of digests) {
      const record = this.records.get(digest);
      if (record && record.from.firstFetched >= since && record.from.source !== source) this.put({ ...record, from: { ...record.from, source } });
    }
  }

  /** Upstream said (or an import recorded) that `tag` points at `digest`: a sighting, and a verification. */
  tagSeen(at: Placement, tag: string, digest: string, when = this.now): void {
    const sighting = { upstream: at.upstream, repository: at.repository, tag, firstSeen: when, lastSeen: when };
    this.change(digest, (record) => ({
      ...record,
      tags: mergeTags(record.tags, [sighting]),
      from: { ...record.from, lastVerified: Math.max(record.from.lastVerified, when) },
    }));
  }

  /** A client pulled it: counts, clients, recent pulls, in memory; folded with the turn's other pulls of it (PendingPulls). */
  pulled(event: PullEvent): void {
    this.pulls.add(event);
  }

  private fold(digest: string, batch: readonly PullEvent[]): void {
    const record = this.records.get(digest);
    if (record) this.put(withPulls(record, batch, this.options.writer));
    else for (const event of batch) this.change(digest, (r) => withPull(r, event, this.options.writer));
  }

  /** Changes a digest's record now, or once its manifest is stored (see `early`). */
  private change(digest: string, apply: (record: InventoryRecord) => InventoryRecord): void {
    const record = this.records.get(digest);
    if (record) return this.put(apply(record));
    let pending = this.early.get(digest);
    if (!pending) {
      if (this.early.size >= earlyDigests) this.early.delete(this.early.keys().next().value!);
      this.early.set(digest, (pending = []));
    }
    if (pending.length < recordBounds.recent) pending.push(apply);
  }

  /** A blob was committed: a config some manifest waits on gives its labels now. */
  committed(digest: string): void {
    if (this.awaitingConfig.has(digest)) void this.readLabels(digest);
  }

  /** Content left the cache: its record (if it is a manifest) is marked; removed after the retention. */
  evicted(digest: string): void {
    const record = this.records.get(digest);
    if (record) this.put({ ...record, evictedAt: Math.max(this.now, record.storedAt + 1) });
  }

  /**
   * A signature policy's fresh verdict on a digest (SignaturePolicy's onVerdict): the newest per policy is kept.
   * A verdict may come before the manifest is stored (a platform manifest its index admits): applied then.
   */
  verdict(digest: string, verdict: TrustVerdict): void {
    this.change(digest, (record) => mergeRecords(record, { ...record, trust: { verdicts: [verdict] } }));
  }

  // ---- internals -----------------------------------------------------------------------------

  private put(record: InventoryRecord): void {
    this.records.put(record);
    this.dirty.add(record.digest);
    this.removed.delete(record.digest);
  }

  /** Records read from the store: into an empty index in one pass (one sort, no per-record await), else merged one by one. */
  private absorb(records: readonly InventoryRecord[]): void {
    if (this.records.size === 0) this.records.load(records);
    else
      for (const theirs of records) {
        const mine = this.records.get(theirs.digest);
        this.records.put(mine ? mergeRecords(mine, theirs) : theirs);
      }
    for (const record of records) if (record.what.config && !record.what.labels) this.wantLabels(record.what.config, record.digest);
  }

  private wantLabels(config: string, manifest: string): void {
    let waiting = this.awaitingConfig.get(config);
    if (!waiting) this.awaitingConfig.set(config, (waiting = new Set()));
    waiting.add(manifest);
    if (this.cache.size(config) !== undefined) void this.readLabels(config);
  }

  private async readLabels(config: string): Promise<void> {
    const waiting = this.awaitingConfig.get(config);
    if (!waiting) return;
    this.awaitingConfig.delete(config);
    const size = this.cache.size(config);
    // Too large to be a config worth reading: the record goes without labels rather than reading it into memory.
    const body =
      size !== undefined && size <= recordBounds.configBytes ? await this.cache.read(config, recordBounds.configBytes).catch(() => undefined) : undefined;
    // None found is remembered as {}: the config is not read again for this record.
    const labels = body ? (configLabels(body) ?? {}) : undefined;
    if (!labels) return;
    for (const digest of waiting) {
      const record = this.records.get(digest);
      if (record) this.put({ ...record, what: { ...record.what, labels } });
    }
  }

  private async write(): Promise<void> {
    if (!this.store) return;
    this.pulls.settle();
    try {
      const changes = await this.store.changes();
      if (changes.complete) {
        const present = new Set(changes.records.map((r) => r.digest));
        for (const record of [...this.records.values()]) if (!present.has(record.digest) && !this.dirty.has(record.digest)) this.records.remove(record.digest);
      }
      this.absorb(changes.records);
      for (const digest of changes.removed) if (!this.dirty.has(digest)) this.records.remove(digest);
      for (const digest of this.records.evictedBefore(this.now - this.options.retentionMs)) {
        this.records.remove(digest);
        this.dirty.delete(digest);
        this.removed.add(digest);
      }
      const dirty = [...this.dirty];
      const removed = [...this.removed];
      if (dirty.length === 0 && removed.length === 0) return;
      this.dirty.clear();
      this.removed.clear();
      try {
        await this.store.save(
          dirty.flatMap((digest) => this.records.get(digest) ?? []),
          removed,
        );
      } catch (err) {
        // Written next time: marked dirty again unless something newer replaced them meanwhile (same digests anyway).
        for (const digest of dirty) this.dirty.add(digest);
        for (const digest of removed) if (!this.records.get(digest)) this.removed.add(digest);
        throw err;
      }
    } catch (err) {
      this.metrics.inventoryWriteErrors.inc();
      if (this.now - this.failedAt >= 60_000) {
        this.failedAt = this.now;
        this.log.warn({ err: describeError(err), dirty: this.dirty.size }, 'cannot write the inventory; kept in memory and retried');
      }
    } finally {
      this.report();
    }
  }

  private report(): void {
    this.metrics.inventoryRecords.set(this.records.size);
  }
}
