// The real core (PullThrough and every part behind it) over in-memory ports, a scripted upstream and a
// clock the test moves: the core's policies in milliseconds, without sleeps or servers.
import { Writable } from 'node:stream';
import type { FlightLocks } from '../../../src/cache/flight-locks.js';
import type { InventoryStore } from '../../../src/cache/inventory-store.js';
import type { Route } from '../../../src/cache/ports.js';
import { PullThrough, type CoreOptions } from '../../../src/cache/pull-through.js';
import type { PullClient, PullEvent } from '../../../src/cache/pull-events.js';
import type { ServePolicy } from '../../../src/cache/serve-policy.js';
import type { SignaturePolicyOptions } from '../../../src/cache/signature-policy.js';
import type { TrustedKeys } from '../../../src/cache/trusted-keys.js';
import { TagPolicies, type TagPolicyInput, type TagTtlRule } from '../../../src/cache/tag-policy.js';
import { createLogger } from '../../../src/log.js';
import { Metrics } from '../../../src/metrics.js';
import { MemoryBlobStore } from './memory-blob-store.js';
import { MemoryMetadataStore } from './memory-metadata-store.js';
import { ScriptedUpstream } from './scripted-upstream.js';

export interface CoreSettings {
  readonly tagTtlMs?: number;
  readonly missingTagTtlMs?: number;
  readonly tagTtls?: readonly TagTtlRule[];
  readonly staleTimeoutMs?: number;
  readonly maxCacheBytes?: number;
  readonly smallBlobBytes?: number;
  readonly pinnedRepositories?: readonly string[];
  readonly pinnedDigests?: readonly string[];
  readonly tagPolicies?: ReadonlyMap<string, TagPolicyInput>;
  readonly policies?: readonly ServePolicy[];
  readonly locks?: FlightLocks;
  /** Tag revalidation leases shared with other cores (workers or replicas). */
  readonly revalidationLocks?: FlightLocks;
  readonly maxBlobBytes?: number;
  readonly signatures?: SignaturePolicyOptions;
  readonly keys?: TrustedKeys;
  /** Bounds on the lists read from upstream (tags lists, referrers). */
  readonly listingLimits?: CoreOptions['listings']['limits'];
  /** Shares the store and metadata of another core (a second replica on the same volume). */
  readonly shareWith?: CoreUnderTest;
  /** Where inventory records persist (in memory only when absent). */
  readonly inventory?: InventoryStore;
  readonly inventoryRetentionMs?: number;
}

export interface CoreUnderTest {
  readonly pullThrough: PullThrough;
  readonly store: MemoryBlobStore;
  readonly metadata: MemoryMetadataStore;
  readonly metrics: Metrics;
  readonly logs: Array<Record<string, unknown>>;
  readonly events: PullEvent[];
  /** The injected clock: epoch ms the test moves with advance(). */
  now: number;
  advance(ms: number): void;
  /** Closes the core (aborts its flights). */
  close(): void;
}

export async function coreUnderTest(settings: CoreSettings = {}): Promise<CoreUnderTest> {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const metrics = new Metrics({ processMetrics: false });
  const store = settings.shareWith?.store ?? new MemoryBlobStore();
  const metadata = settings.shareWith?.metadata ?? new MemoryMetadataStore();
  const events: PullEvent[] = [];
  const core = {
    now: 1_800_000_000_000,
    advance(ms: number) {
      core.now += ms;
    },
  };
  const options: CoreOptions = {
    stored: {
      maxCacheBytes: settings.maxCacheBytes ?? 0,
      blobMemoryBytes: 1024 * 1024,
      pinnedDigests: settings.pinnedDigests ?? [],
      pinnedRepositories: settings.pinnedRepositories ?? [],
      readTimeoutMs: 5_000,
      scrubBytesPerSecond: 0,
      evictionGraceMs: 0,
    },
    blobs: {
      smallBlobBytes: settings.smallBlobBytes ?? 1024,
      flightTimeoutMs: 10_000,
      upstreamTimeoutMs: 5_000,
      maxBlobBytes: settings.maxBlobBytes ?? 1024 * 1024 * 1024,
    },
    cluster: { flightTimeoutMs: 10_000, onLockFailure: () => undefined, pollMs: 1 },
    manifests: { memoryBytes: 1024 * 1024, upstreamTimeoutMs: 5_000 },
    tags: {
      ttlMs: settings.tagTtlMs ?? 60_000,
      missingTtlMs: settings.missingTagTtlMs ?? 0,
      staleTimeoutMs: settings.staleTimeoutMs ?? 5_000,
      upstreamTimeoutMs: 5_000,
      policies: new TagPolicies(settings.tagPolicies ?? new Map(), settings.tagTtls ?? []),
      clock: () => core.now,
    },
    listings: { upstreamTimeoutMs: 5_000, ...(settings.listingLimits ? { limits: settings.listingLimits } : {}) },
    policies: settings.policies ?? [],
    inventory: { writer: 'test', flushIntervalMs: 60_000, retentionMs: settings.inventoryRetentionMs ?? 7 * 86_400_000 },
    ...(settings.signatures ? { signatures: settings.signatures } : {}),
  };
  const pullThrough = new PullThrough(
    {
      store,
      metadata,
      ...(settings.locks ? { locks: settings.locks } : {}),
      ...(settings.inventory ? { inventory: settings.inventory } : {}),
      events: { emit: (event) => void events.push(event) },
      ...(settings.keys ? { keys: settings.keys } : {}),
      ...(settings.revalidationLocks ? { revalidationLocks: settings.revalidationLocks } : {}),
    },
    options,
    metrics,
    createLogger('info', sink),
  );
  await pullThrough.open();
  return Object.assign(core, { pullThrough, store, metadata, metrics, logs, events, close: () => pullThrough.close() });
}

export function routeTo(upstream: ScriptedUpstream, repository: string): Route {
  return { upstream, repository };
}

/** A counter's value for exactly these labels (0 when never incremented). */
export async function counter(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const wanted = Object.entries(labels);
  return values.filter((v) => wanted.every(([k, value]) => v.labels[k] === value)).reduce((sum, v) => sum + v.value, 0);
}

/** Reads a blob answer whole, as the HTTP layer sends it: from memory, or through `file` in chunks. */
export async function bodyOf(
  answer: {
    size: number | undefined;
    bytes?: Buffer;
    file?: (start: number, end: number) => Promise<{ access: { read(b: Buffer, p: number): Promise<number>; close(): Promise<void> }; done(): void }>;
  },
  start = 0,
  end?: number,
): Promise<Buffer> {
  if (answer.bytes && start === 0 && end === undefined) return answer.bytes;
  const last = end ?? (answer.size === undefined ? Number.POSITIVE_INFINITY : answer.size - 1);
  const opened = await answer.file!(start, last);
  const parts: Buffer[] = [];
  try {
    for (let position = start; position <= last;) {
      const buffer = Buffer.alloc(Math.min(64 * 1024, last - position + 1 === Infinity ? 64 * 1024 : last - position + 1));
      const got = await opened.access.read(buffer, position);
      if (got === 0) break;
      parts.push(buffer.subarray(0, got));
      position += got;
    }
  } finally {
    await opened.access.close();
    opened.done();
  }
  return Buffer.concat(parts);
}

/** Lets the event loop turn until `condition` holds (no timers: a bounded number of turns). */
export async function until(condition: () => boolean | Promise<boolean>, turns = 10_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('condition not reached');
}

/** A client as the HTTP layer names one in a manifest request. */
export const testClient: PullClient = { address: '192.0.2.7', userAgent: 'containerd/2.0', identity: 'alice', requestId: 'req-1', host: 'mirror.test' };
