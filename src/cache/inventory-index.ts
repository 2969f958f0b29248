// The inventory's records in memory with the indexes its questions need, so each answers in milliseconds for
// 100,000 cached digests: by digest; in listing order (first fetched, newest first; a cursor is a position in it);
// blob → manifests naming it; child → indexes naming it; subject → referrers; repository → digests its tags
// pointed to; `upstream/repository:tag` → digests seen under it (the current one is the last confirmed).
// Every record is kept in memory (about 1 KiB each, estimated from the record shape, not measured).
import { repositoryMatcher } from '../oci/repository-pattern.js';
import { parseAttachmentTag } from '../trust/cosign-tags.js';
import { add, drop, holders, type Holders } from './digest-holders.js';
import { isEvicted, type InventoryRecord, type TagSighting } from './inventory-record.js';

export interface ListFilter {
  readonly upstream?: string;
  /** Patterns (`library/*`, `team/**`) matched against the repository and against `upstream/repository`. */
  readonly repository?: string;
  /** true: some policy verified it; false: none did. */
  readonly signed?: boolean;
  readonly pinned?: boolean;
  /** Epoch ms: pulled at or after. */
  readonly pulledSince?: number;
  /** Default `cached`: records whose content is in the cache. */
  readonly state?: 'cached' | 'evicted' | 'all';
}

/** Cache facts the index does not keep (they change with every commit and eviction): asked of the blob index. */
export type PinnedCheck = (digest: string) => boolean;

export interface TagState extends TagSighting {
  /** The tag's last confirmed digest is this one. */
  readonly current: boolean;
}

interface Key {
  readonly at: number;
  readonly digest: string;
}

/** A record's place in the listing order; the record is replaced in place when only its contents change. */
interface Entry extends Key {
  record: InventoryRecord;
}

const maxLimit = 1000;

export class InventoryIndex {
  private readonly records = new Map<string, Entry>();
  /**
   * The listing order, stored oldest first so that the common insert (a record just fetched) is an append;
   * listings walk it from the end. Ties of time are broken by digest.
   */
  private readonly order: Entry[] = [];
  private readonly byBlob = new Map<string, Holders>();
  private readonly byChild = new Map<string, Holders>();
  private readonly bySubject = new Map<string, Holders>();
  private readonly byRepository = new Map<string, Holders>();
  private readonly byTag = new Map<string, Holders>();

  get size(): number {
    return this.records.size;
  }

  get(digest: string): InventoryRecord | undefined {
    return this.records.get(digest)?.record;
  }

  *values(): IterableIterator<InventoryRecord> {
    for (const entry of this.records.values()) yield entry.record;
  }

  put(record: InventoryRecord): void {
    const entry = this.records.get(record.digest);
    const old = entry?.record;
    // A pull changes only counts: nothing any index is keyed by. That costs one assignment, not a re-index.
    if (entry && old!.what === record.what && old!.tags === record.tags && old!.from === record.from) {
      entry.record = record;
      return;
    }
    if (entry) {
      this.unindex(entry.record);
      if (entry.at === record.from.firstFetched) entry.record = record;
      else {
        this.unplace(entry);
        this.place({ at: record.from.firstFetched, digest: record.digest, record });
      }
    } else this.place({ at: record.from.firstFetched, digest: record.digest, record });
    this.index(record);
  }

  /** Records (each digest once) into an empty index, as start-up loads them: one sort for the order, one pass for the maps. */
  load(records: readonly InventoryRecord[]): void {
    if (this.records.size > 0) throw new Error('InventoryIndex.load: the index is not empty');
    const entries: Entry[] = records.map((record) => ({ at: record.from.firstFetched, digest: record.digest, record }));
    // A log is mostly in time order already (appended as fetched): the sort then costs one pass.
    entries.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
    for (const entry of entries) {
      this.records.set(entry.digest, entry);
      this.order.push(entry);
      this.index(entry.record);
    }
  }

  remove(digest: string): void {
    const entry = this.records.get(digest);
    if (!entry) return;
    this.unindex(entry.record);
    this.unplace(entry);
  }

  /** One page of records matching `filter`, after `cursor`; `next` when there may be more. */
  list(filter: ListFilter, pinned: PinnedCheck, cursor: string | undefined, limit: number): { items: InventoryRecord[]; next?: string } {
    const size = Math.max(1, Math.min(maxLimit, Math.floor(limit) || 1));
    const matches = this.matcher(filter, pinned);
    const after = cursor ? decodeCursor(cursor) : undefined;
    // Walking down from the newest; after a cursor, from the entry just older than it.
    let i = (after ? this.position(after) : this.order.length) - 1;
    const items: InventoryRecord[] = [];
    for (; i >= 0 && items.length < size; i--) {
      const record = this.order[i]!.record;
      if (matches(record)) items.push(record);
    }
    const last = items[items.length - 1];
    return i >= 0 && last ? { items, next: encodeCursor({ at: last.from.firstFetched, digest: last.digest }) } : { items };
  }

  /** Manifests naming `blob` (config or layer), and the indexes naming those, each once. */
  containing(blob: string): InventoryRecord[] {
    const found = new Map<string, InventoryRecord>();
    const visit = (digest: string, depth: number): void => {
      if (depth > 4) return; // an index of indexes of …: deep enough for anything real, bounded for anything hostile
      for (const parent of holders(this.byChild, digest)) {
        const record = this.get(parent);
        if (record && !found.has(parent)) {
          found.set(parent, record);
          visit(parent, depth + 1);
        }
      }
    };
    for (const digest of holders(this.byBlob, blob)) {
      const record = this.get(digest);
      if (!record) continue;
      found.set(digest, record);
      visit(digest, 0);
    }
    // A manifest digest asked for: the indexes naming it.
    if (found.size === 0) visit(blob, 0);
    return [...found.values()];
  }

  /** Indexes naming `digest` as a child. */
  parents(digest: string): InventoryRecord[] {
    return [...holders(this.byChild, digest)].flatMap((d) => this.get(d) ?? []);
  }

  /** Signatures, attestations, SBOMs attached to `digest`: by their `subject`, or by cosign's `sha256-<hex>.sig|att|sbom` tags. */
  referrers(digest: string): InventoryRecord[] {
    return [...new Set(holders(this.bySubject, digest))].flatMap((d) => this.get(d) ?? []);
  }

  /** Every tag → digest a repository's tags pointed to, by tag and then time. */
  history(upstream: string, repository: string): Array<TagState & { digest: string }> {
    const out: Array<TagState & { digest: string }> = [];
    for (const digest of holders(this.byRepository, `${upstream}/${repository}`)) {
      const record = this.get(digest);
      if (!record) continue;
      for (const sighting of record.tags) {
        if (sighting.upstream === upstream && sighting.repository === repository) out.push({ ...sighting, digest, current: this.isCurrent(sighting, digest) });
      }
    }
    return out.sort((a, b) => a.tag.localeCompare(b.tag) || a.firstSeen - b.firstSeen || a.digest.localeCompare(b.digest));
  }

  /** A record's tags, each said to be current or not. */
  tags(record: InventoryRecord): TagState[] {
    return record.tags.map((sighting) => ({ ...sighting, current: this.isCurrent(sighting, record.digest) }));
  }

  /** Records whose content was evicted before `before` (retention). */
  evictedBefore(before: number): string[] {
    const out: string[] = [];
    for (const record of this.values()) if (isEvicted(record) && record.evictedAt! < before) out.push(record.digest);
    return out;
  }

  private isCurrent(sighting: TagSighting, digest: string): boolean {
    let best: { digest: string; lastSeen: number; firstSeen: number } | undefined;
    for (const holder of holders(this.byTag, tagKey(sighting))) {
      const found = this.get(holder)?.tags.find((t) => t.upstream === sighting.upstream && t.repository === sighting.repository && t.tag === sighting.tag);
      if (!found) continue;
      if (!best || found.lastSeen > best.lastSeen || (found.lastSeen === best.lastSeen && found.firstSeen > best.firstSeen))
        best = { digest: holder, lastSeen: found.lastSeen, firstSeen: found.firstSeen };
    }
    return best?.digest === digest;
  }

  private matcher(filter: ListFilter, pinned: PinnedCheck): (record: InventoryRecord) => boolean {
    const repository = filter.repository ? repositoryMatcher([filter.repository]) : undefined;
    const state = filter.state ?? 'cached';
    return (record) => {
      if (state !== 'all' && isEvicted(record) !== (state === 'evicted')) return false;
      if (filter.upstream !== undefined && record.from.upstream !== filter.upstream) return false;
      if (repository && !repository(record.from.repository) && !repository(`${record.from.upstream}/${record.from.repository}`)) return false;
      if (filter.signed !== undefined && record.trust.verdicts.some((v) => v.verified) !== filter.signed) return false;
      if (filter.pulledSince !== undefined && (record.pulls.lastPulled ?? -1) < filter.pulledSince) return false;
      if (filter.pinned !== undefined && pinned(record.digest) !== filter.pinned) return false;
      return true;
    };
  }

  private place(entry: Entry): void {
    this.records.set(entry.digest, entry);
    const at = this.position(entry);
    if (at === this.order.length) this.order.push(entry);
    else this.order.splice(at, 0, entry);
  }

  private unplace(entry: Entry): void {
    this.records.delete(entry.digest);
    const at = this.position(entry);
    if (this.order[at] === entry) this.order.splice(at, 1);
  }

  private index(record: InventoryRecord): void {
    for (const blob of record.what.blobs) add(this.byBlob, blob, record.digest);
    for (const child of record.what.manifests) add(this.byChild, child, record.digest);
    if (record.what.subject) add(this.bySubject, record.what.subject, record.digest);
    add(this.byRepository, `${record.from.upstream}/${record.from.repository}`, record.digest);
    for (const sighting of record.tags) {
      add(this.byRepository, `${sighting.upstream}/${sighting.repository}`, record.digest);
      add(this.byTag, tagKey(sighting), record.digest);
      const attached = parseAttachmentTag(sighting.tag);
      if (attached) add(this.bySubject, attached.digest, record.digest);
    }
  }

  private unindex(record: InventoryRecord): void {
    for (const blob of record.what.blobs) drop(this.byBlob, blob, record.digest);
    for (const child of record.what.manifests) drop(this.byChild, child, record.digest);
    if (record.what.subject) drop(this.bySubject, record.what.subject, record.digest);
    drop(this.byRepository, `${record.from.upstream}/${record.from.repository}`, record.digest);
    for (const sighting of record.tags) {
      drop(this.byRepository, `${sighting.upstream}/${sighting.repository}`, record.digest);
      drop(this.byTag, tagKey(sighting), record.digest);
      const attached = parseAttachmentTag(sighting.tag);
      if (attached && attached.digest !== record.what.subject) drop(this.bySubject, attached.digest, record.digest);
    }
  }

  /** Where `key` is or would go in the (oldest first) order: the first entry not before it (binary search). */
  private position(key: Key): number {
    let lo = 0;
    let hi = this.order.length;
    // The common case, a record newer than all: no search.
    const last = this.order[hi - 1];
    if (!last || before(last, key)) return hi;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(this.order[mid]!, key)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Stored order: oldest first, ties by digest descending (so a listing, walked backwards, is newest first, then by digest). */
function before(a: Key, b: Key): boolean {
  return a.at !== b.at ? a.at < b.at : a.digest > b.digest;
}

function tagKey(sighting: Pick<TagSighting, 'upstream' | 'repository' | 'tag'>): string {
  return `${sighting.upstream}/${sighting.repository}:${sighting.tag}`;
}

function encodeCursor(key: Key): string {
  return Buffer.from(`${key.at}:${key.digest}`).toString('base64url');
}

/** A cursor that does not decode starts from the top (it came from a client: never trusted to be ours). */
function decodeCursor(cursor: string): Key | undefined {
  const text = Buffer.from(cursor.slice(0, 400), 'base64url').toString('utf8');
  const colon = text.indexOf(':');
  const at = Number(text.slice(0, colon));
  if (colon < 1 || !Number.isFinite(at)) return undefined;
  return { at, digest: text.slice(colon + 1) };
}
