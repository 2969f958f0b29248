// The inventory's answers, as the API, the CLI and the web page show them: one shape each, JSON-ready.
// Cache state (pinned, bytes on disk, evictable) is computed when asked, from the blob index: it changes with
// every commit and eviction and is never stored.
import { parseAttachmentTag, type AttachmentKind } from '../trust/cosign-tags.js';
import type { InventoryCache } from './inventory-ports.js';
import type { InventoryIndex, ListFilter, TagState } from './inventory-index.js';
import { distinctClients, isEvicted, totalPulls, type InventoryRecord, type RecentPull, type TrustVerdict } from './inventory-record.js';

export type SignatureState = 'verified' | 'failed' | 'none';

export interface ImageSummary {
  readonly digest: string;
  readonly mediaType: string;
  readonly artifactType?: string;
  readonly size: number;
  readonly platforms?: readonly string[];
  readonly upstream: string;
  readonly repository: string;
  readonly source: string;
  readonly firstFetched: string;
  readonly lastVerified: string;
  /** Tags that point here now. */
  readonly tags: readonly string[];
  readonly signature: SignatureState;
  readonly state: 'cached' | 'evicted';
  readonly pinned: boolean;
  readonly bytesOnDisk: number;
  readonly pulls: number;
  readonly lastPulled?: string;
}

export interface PullSummary {
  readonly digest: string;
  readonly pulls: number;
  readonly hits: number;
  readonly lastPulled?: string;
  readonly lastHit?: string;
  readonly distinctClients24h: number;
  /** The client bound was reached: there may have been more. */
  readonly distinctClientsAtLeast: boolean;
  readonly recent: ReadonlyArray<Omit<RecentPull, 'at'> & { at: string }>;
}

export interface ImageDetail extends ImageSummary {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly config?: string;
  readonly bundle?: string;
  readonly subject?: string;
  readonly blobs: readonly string[];
  readonly manifests: readonly string[];
  readonly tagHistory: ReadonlyArray<Omit<TagState, 'firstSeen' | 'lastSeen'> & { firstSeen: string; lastSeen: string }>;
  readonly trust: { readonly signature: SignatureState; readonly verdicts: ReadonlyArray<Omit<TrustVerdict, 'at'> & { at: string }> };
  /** Signatures, attestations and SBOMs the cache holds for it: cosign's tags (`kind`) and OCI referrers (`artifactType`). */
  readonly referrers: ReadonlyArray<AttachedReferrer>;
  /** Indexes that list this manifest. */
  readonly parents: readonly string[];
  readonly cache: { readonly pinned: boolean; readonly evictable: boolean; readonly bytesOnDisk: number; readonly evictedAt?: string };
  readonly pullStats: PullSummary;
}

export interface AttachedReferrer {
  readonly digest: string;
  readonly mediaType: string;
  readonly artifactType?: string;
  /** `sig`, `att` or `sbom` when it came under cosign's `sha256-<hex>.<kind>` tag. */
  readonly kind?: AttachmentKind;
}

export interface HistoryEntry {
  readonly tag: string;
  readonly digest: string;
  readonly firstSeen: string;
  readonly lastSeen: string;
  readonly current: boolean;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export class InventoryQueries {
  /** `source.index` is read per query: the inventory folds its pending pulls in when asked for it. */
  constructor(
    private readonly source: { readonly index: InventoryIndex },
    private readonly cache: InventoryCache,
    private readonly clock: () => number,
  ) {}

  private get index(): InventoryIndex {
    return this.source.index;
  }

  get count(): number {
    return this.index.size;
  }

  list(filter: ListFilter, cursor: string | undefined, limit: number): { images: ImageSummary[]; next?: string } {
    const page = this.index.list(filter, (digest) => this.cache.pinned(digest), cursor, limit);
    return { images: page.items.map((record) => this.summary(record)), ...(page.next ? { next: page.next } : {}) };
  }

  show(digest: string): ImageDetail | undefined {
    const record = this.index.get(digest);
    if (!record) return undefined;
    const summary = this.summary(record);
    return {
      ...summary,
      labels: record.what.labels ?? {},
      annotations: record.what.annotations ?? {},
      ...(record.what.config ? { config: record.what.config } : {}),
      ...(record.from.bundle ? { bundle: record.from.bundle } : {}),
      ...(record.what.subject ? { subject: record.what.subject } : {}),
      blobs: record.what.blobs,
      manifests: record.what.manifests,
      tagHistory: this.index
        .tags(record)
        .sort((a, b) => b.lastSeen - a.lastSeen)
        .map((t) => ({
          upstream: t.upstream,
          repository: t.repository,
          tag: t.tag,
          current: t.current,
          firstSeen: iso(t.firstSeen),
          lastSeen: iso(t.lastSeen),
        })),
      trust: { signature: summary.signature, verdicts: record.trust.verdicts.map((v) => ({ ...v, at: iso(v.at) })) },
      referrers: this.index.referrers(digest).map((r) => attached(r, digest)),
      parents: this.index.parents(digest).map((r) => r.digest),
      cache: {
        pinned: summary.pinned,
        evictable: !summary.pinned && summary.state === 'cached',
        bytesOnDisk: summary.bytesOnDisk,
        ...(isEvicted(record) ? { evictedAt: iso(record.evictedAt!) } : {}),
      },
      pullStats: this.pullsOf(record),
    };
  }

  contains(blob: string): ImageSummary[] {
    return this.index.containing(blob).map((record) => this.summary(record));
  }

  history(upstream: string, repository: string): HistoryEntry[] {
    return this.index
      .history(upstream, repository)
      .map((h) => ({ tag: h.tag, digest: h.digest, firstSeen: iso(h.firstSeen), lastSeen: iso(h.lastSeen), current: h.current }));
  }

  pulls(digest: string): PullSummary | undefined {
    const record = this.index.get(digest);
    return record ? this.pullsOf(record) : undefined;
  }

  private summary(record: InventoryRecord): ImageSummary {
    const pinned = this.cache.pinned(record.digest);
    const lastPulled = record.pulls.lastPulled;
    return {
      digest: record.digest,
      mediaType: record.what.mediaType,
      ...(record.what.artifactType ? { artifactType: record.what.artifactType } : {}),
      size: record.what.size,
      ...(record.what.platforms ? { platforms: record.what.platforms } : {}),
      upstream: record.from.upstream,
      repository: record.from.repository,
      source: record.from.source,
      firstFetched: iso(record.from.firstFetched),
      lastVerified: iso(record.from.lastVerified),
      tags: this.index
        .tags(record)
        .filter((t) => t.current)
        .map((t) => (t.upstream === record.from.upstream && t.repository === record.from.repository ? t.tag : `${t.upstream}/${t.repository}:${t.tag}`)),
      signature: signatureOf(record),
      state: isEvicted(record) ? 'evicted' : 'cached',
      pinned,
      bytesOnDisk: this.bytesOnDisk(record, 0),
      pulls: totalPulls(record).pulls,
      ...(lastPulled !== undefined ? { lastPulled: iso(lastPulled) } : {}),
    };
  }

  /** The manifest, its blobs in the cache, and (for an index) its children's, each blob once. */
  private bytesOnDisk(record: InventoryRecord, depth: number, seen = new Set<string>()): number {
    let bytes = 0;
    const count = (digest: string): void => {
      if (seen.has(digest)) return;
      seen.add(digest);
      bytes += this.cache.size(digest) ?? 0;
    };
    count(record.digest);
    for (const blob of record.what.blobs) count(blob);
    if (depth < 2) {
      for (const child of record.what.manifests) {
        const childRecord = this.index.get(child);
        if (childRecord && !seen.has(child)) bytes += this.bytesOnDisk(childRecord, depth + 1, seen);
        else count(child);
      }
    }
    return bytes;
  }

  private pullsOf(record: InventoryRecord): PullSummary {
    const totals = totalPulls(record);
    const clients = distinctClients(record, this.clock());
    return {
      digest: record.digest,
      pulls: totals.pulls,
      hits: totals.hits,
      ...(record.pulls.lastPulled !== undefined ? { lastPulled: iso(record.pulls.lastPulled) } : {}),
      ...(record.pulls.lastHit !== undefined ? { lastHit: iso(record.pulls.lastHit) } : {}),
      distinctClients24h: clients.count,
      distinctClientsAtLeast: clients.atLeast,
      recent: record.pulls.recent.map((p) => ({ ...p, at: iso(p.at) })),
    };
  }
}

function signatureOf(record: InventoryRecord): SignatureState {
  if (record.trust.verdicts.length === 0) return 'none';
  return record.trust.verdicts.some((v) => v.verified) ? 'verified' : 'failed';
}

function attached(record: InventoryRecord, subject: string): AttachedReferrer {
  const kind = record.tags.map((t) => parseAttachmentTag(t.tag)).find((a) => a?.digest === subject)?.kind;
  return {
    digest: record.digest,
    mediaType: record.what.mediaType,
    ...(record.what.artifactType ? { artifactType: record.what.artifactType } : {}),
    ...(kind ? { kind } : {}),
  };
}
