// The inventory's record of one cached manifest or index (issue 15): what it is, where it came from, which tags
// pointed at it, who pulled it, what vouches for it. Pure: the shape, how it is read from a manifest and a config
// blob (bounded: every input is hostile, the upstream's included), and how two copies of it merge.
//
// Records are written by several processes (replicas sharing Redis, `tender seed`/`import` beside a serving
// tender), so a record merges rather than overwrites: facts are unions (tags, verdicts), times are min/max, and
// pull counts are per writer (a grow-only counter: each writer raises only its own entry, the total is the sum),
// so two writers never lose each other's counts whatever order their writes land in.
import { referencesOf } from '../oci/manifest.js';

export type RecordSource = 'pull-through' | 'seed' | 'import';

/** A tag seen pointing at this digest: from when tender first saw it there to when upstream last confirmed it. */
export interface TagSighting {
  readonly upstream: string;
  readonly repository: string;
  readonly tag: string;
  readonly firstSeen: number;
  readonly lastSeen: number;
}

/** One signature policy's verdict on this digest (filled by the signature code through Inventory.verdict). */
export interface TrustVerdict {
  /** The policy that judged (`cosign-keys`, …). */
  readonly policy: string;
  readonly verified: boolean;
  /** Which key or identity verified it, when one did. */
  readonly key?: string;
  readonly at: number;
  readonly detail?: string;
}

export interface RecentPull {
  readonly at: number;
  readonly client: string;
  readonly userAgent?: string;
  readonly tag?: string;
  readonly result: string;
  readonly method: string;
}

export interface PullCounts {
  readonly pulls: number;
  readonly hits: number;
}

export interface InventoryRecord {
  readonly digest: string;
  readonly what: {
    readonly mediaType: string;
    readonly artifactType?: string;
    readonly size: number;
    /** `os/arch[/variant]` of an index's children. */
    readonly platforms?: readonly string[];
    /** The config's OCI labels (Config.Labels), once the config blob is cached; bounded. */
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly config?: string;
    /** Config and layers (or an artifact's blobs). */
    readonly blobs: readonly string[];
    /** An index's child manifests. */
    readonly manifests: readonly string[];
    /** The manifest this one refers to (a signature, an SBOM), from its `subject`. */
    readonly subject?: string;
  };
  readonly from: {
    readonly upstream: string;
    readonly repository: string;
    readonly firstFetched: number;
    readonly lastVerified: number;
    readonly source: RecordSource;
    /** sha256 of the bundle an imported image came in. */
    readonly bundle?: string;
  };
  readonly tags: readonly TagSighting[];
  readonly trust: { readonly verdicts: readonly TrustVerdict[] };
  readonly pulls: {
    /** Per writer (replica id or process): its own counts only. */
    readonly counts: Readonly<Record<string, PullCounts>>;
    readonly lastPulled?: number;
    readonly lastHit?: number;
    /** Client (identity, else address) → last pull; bounded, for "distinct clients in the last 24 h". */
    readonly clients: Readonly<Record<string, number>>;
    /** The newest pulls, newest first; bounded. */
    readonly recent: readonly RecentPull[];
  };
  /** When its content was last stored, and when it was last evicted: evicted while evictedAt > storedAt. */
  readonly storedAt: number;
  readonly evictedAt?: number;
}

export const recordBounds = {
  tags: 100,
  verdicts: 16,
  clients: 256,
  recent: 20,
  labels: 64,
  labelBytes: 1024,
  references: 2048,
  /** Config blobs read for labels, at most (a config with a long history is still far below this). */
  configBytes: 1024 * 1024,
} as const;

export const dayMs = 24 * 60 * 60 * 1000;

/** What a manifest body says about itself; a body that does not parse says little (it was verified, not trusted). */
export function describeManifest(body: Buffer, mediaType: string): InventoryRecord['what'] {
  let parsed: { artifactType?: unknown; annotations?: unknown; config?: { digest?: unknown; mediaType?: unknown }; subject?: { digest?: unknown } } = {};
  try {
    parsed = (JSON.parse(body.toString('utf8')) as typeof parsed) ?? {};
  } catch {
    // Kept as bytes of this media type; nothing more to say.
  }
  const refs = referencesOf(body);
  const configDigest = typeof parsed.config?.digest === 'string' ? parsed.config.digest : undefined;
  // An artifact's type is its artifactType, or (older artifacts) its config's media type when that is not an image config.
  const configType = typeof parsed.config?.mediaType === 'string' ? parsed.config.mediaType : undefined;
  const artifactType =
    typeof parsed.artifactType === 'string'
      ? parsed.artifactType
      : configType && !/^application\/vnd\.(oci\.image\.config\.v1\+json|docker\.container\.image\.v1\+json)$/.test(configType)
        ? configType
        : undefined;
  const platforms = refs.manifests
    .map((m) => m.platform)
    .filter((p): p is NonNullable<typeof p> => p !== undefined && typeof p.os === 'string' && typeof p.architecture === 'string')
    .map((p) => clip(`${p.os}/${p.architecture}${typeof p.variant === 'string' && p.variant ? `/${p.variant}` : ''}`));
  const annotations = stringMap(parsed.annotations);
  return {
    mediaType,
    size: body.length,
    ...(artifactType ? { artifactType: clip(artifactType) } : {}),
    ...(platforms.length > 0 ? { platforms: [...new Set(platforms)].slice(0, recordBounds.references) } : {}),
    ...(annotations ? { annotations } : {}),
    ...(configDigest && refs.blobs.some((b) => b.digest === configDigest) ? { config: configDigest } : {}),
    blobs: [...new Set(refs.blobs.map((b) => b.digest))].slice(0, recordBounds.references),
    manifests: [...new Set(refs.manifests.map((m) => m.digest))].slice(0, recordBounds.references),
    ...(typeof parsed.subject?.digest === 'string' ? { subject: parsed.subject.digest } : {}),
  };
}

/** The OCI labels of an image config (`config.Labels`), bounded; undefined when it has none or does not parse. */
export function configLabels(body: Buffer): Record<string, string> | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { config?: { Labels?: unknown } } | null;
    return stringMap(parsed?.config?.Labels);
  } catch {
    return undefined;
  }
}

/** Whether a stored value has a record's shape (a store's content is checked before the indexes trust it). */
export function isInventoryRecord(value: unknown): value is InventoryRecord {
  const r = value as Partial<InventoryRecord> | null | undefined;
  return (
    typeof r?.digest === 'string' &&
    typeof r.what?.mediaType === 'string' &&
    Array.isArray(r.what.blobs) &&
    Array.isArray(r.what.manifests) &&
    typeof r.from?.upstream === 'string' &&
    typeof r.from.repository === 'string' &&
    typeof r.from.firstFetched === 'number' &&
    typeof r.from.lastVerified === 'number' &&
    Array.isArray(r.tags) &&
    Array.isArray(r.trust?.verdicts) &&
    typeof r.pulls?.counts === 'object' &&
    typeof r.pulls.clients === 'object' &&
    Array.isArray(r.pulls.recent) &&
    typeof r.storedAt === 'number'
  );
}

/** A record's state: whether its content is in the cache now. */
export function isEvicted(record: InventoryRecord): boolean {
  return record.evictedAt !== undefined && record.evictedAt > record.storedAt;
}

export function totalPulls(record: InventoryRecord): PullCounts {
  let pulls = 0;
  let hits = 0;
  for (const count of Object.values(record.pulls.counts)) {
    pulls += count.pulls;
    hits += count.hits;
  }
  return { pulls, hits };
}

/** Distinct clients whose last pull is within 24 h of `now`; `atLeast` when the bound may have hidden some. */
export function distinctClients(record: InventoryRecord, now: number): { count: number; atLeast: boolean } {
  const times = Object.values(record.pulls.clients);
  const count = times.filter((t) => now - t < dayMs).length;
  return { count, atLeast: times.length >= recordBounds.clients && count === times.length };
}

/** Two copies of one digest's record as one: commutative, associative and idempotent (see the header). */
export function mergeRecords(a: InventoryRecord, b: InventoryRecord): InventoryRecord {
  const older = a.from.firstFetched <= b.from.firstFetched ? a : b;
  const newer = older === a ? b : a;
  const counts: Record<string, PullCounts> = { ...a.pulls.counts };
  for (const [writer, count] of Object.entries(b.pulls.counts)) {
    const mine = counts[writer];
    counts[writer] = mine ? { pulls: Math.max(mine.pulls, count.pulls), hits: Math.max(mine.hits, count.hits) } : count;
  }
  const labels = a.what.labels ?? b.what.labels;
  const bundle = older.from.bundle ?? newer.from.bundle;
  const evictedAt = maxOf(a.evictedAt, b.evictedAt);
  const lastPulled = maxOf(a.pulls.lastPulled, b.pulls.lastPulled);
  const lastHit = maxOf(a.pulls.lastHit, b.pulls.lastHit);
  return {
    digest: a.digest,
    what: { ...older.what, ...(labels ? { labels } : {}) },
    // An import's bundle digest is kept whichever copy carries it.
    from: { ...older.from, lastVerified: Math.max(a.from.lastVerified, b.from.lastVerified), ...(bundle ? { bundle } : {}) },
    tags: mergeTags(a.tags, b.tags),
    trust: { verdicts: mergeVerdicts(a.trust.verdicts, b.trust.verdicts) },
    pulls: {
      counts,
      ...(lastPulled !== undefined ? { lastPulled } : {}),
      ...(lastHit !== undefined ? { lastHit } : {}),
      clients: boundClients({ ...a.pulls.clients, ...maxEntries(a.pulls.clients, b.pulls.clients) }),
      recent: mergeRecent(a.pulls.recent, b.pulls.recent),
    },
    storedAt: Math.max(a.storedAt, b.storedAt),
    ...(evictedAt !== undefined ? { evictedAt } : {}),
  };
}

export function mergeTags(a: readonly TagSighting[], b: readonly TagSighting[]): TagSighting[] {
  const byKey = new Map<string, TagSighting>();
  for (const sighting of [...a, ...b]) {
    const key = `${sighting.upstream}/${sighting.repository}:${sighting.tag}`;
    const seen = byKey.get(key);
    byKey.set(
      key,
      seen ? { ...seen, firstSeen: Math.min(seen.firstSeen, sighting.firstSeen), lastSeen: Math.max(seen.lastSeen, sighting.lastSeen) } : sighting,
    );
  }
  // Bounded: the sightings confirmed longest ago go first.
  return [...byKey.values()].sort((x, y) => y.lastSeen - x.lastSeen).slice(0, recordBounds.tags);
}

function mergeVerdicts(a: readonly TrustVerdict[], b: readonly TrustVerdict[]): TrustVerdict[] {
  const byPolicy = new Map<string, TrustVerdict>();
  for (const verdict of [...a, ...b]) {
    const seen = byPolicy.get(verdict.policy);
    if (!seen || seen.at < verdict.at) byPolicy.set(verdict.policy, verdict);
  }
  return [...byPolicy.values()].sort((x, y) => y.at - x.at).slice(0, recordBounds.verdicts);
}

function mergeRecent(a: readonly RecentPull[], b: readonly RecentPull[]): RecentPull[] {
  const seen = new Set<string>();
  const out: RecentPull[] = [];
  for (const pull of [...a, ...b].sort((x, y) => y.at - x.at)) {
    const key = `${pull.at}|${pull.client}|${pull.method}|${pull.tag ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(pull);
    if (out.length >= recordBounds.recent) break;
  }
  return out;
}

function maxEntries(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [client, at] of Object.entries(b)) out[client] = Math.max(at, a[client] ?? 0);
  return out;
}

/** Keeps the clients seen most recently, at most the bound. */
export function boundClients(clients: Record<string, number>): Record<string, number> {
  const entries = Object.entries(clients);
  if (entries.length <= recordBounds.clients) return clients;
  return Object.fromEntries(entries.sort((x, y) => y[1] - x[1]).slice(0, recordBounds.clients));
}

/** String values only, keys and values clipped, at most `recordBounds.labels` entries. */
function stringMap(value: unknown): Record<string, string> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const out: Record<string, string> = {};
  let n = 0;
  for (const [key, entry] of Object.entries(value as Record<string, unknown>)) {
    if (typeof entry !== 'string') continue;
    out[clip(key)] = clip(entry);
    if (++n >= recordBounds.labels) break;
  }
  return n > 0 ? out : undefined;
}

function clip(text: string): string {
  return text.length > recordBounds.labelBytes ? `${text.slice(0, recordBounds.labelBytes)}…` : text;
}

function maxOf(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b);
}
