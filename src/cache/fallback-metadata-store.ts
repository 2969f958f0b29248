// Shared metadata (Redis) with the local store behind it: Redis trouble never fails a pull.
//
// Writes go to both (local first); reads try the shared store within a short deadline and fall back
// to the local one. After a failure the shared store is left alone for a few seconds, then tried again.
import type { ListingRecord } from './listing-records.js';
import type { AdmissionRecord, ManifestInfo, MetadataStore, TagRecord, VerdictRecord } from './metadata-store.js';

export interface FallbackHooks {
  /** The shared store failed (counted and logged by the caller, once per outage). */
  onFailure(err: unknown, first: boolean): void;
  onRecovery(): void;
}

const deadlineMs = 500;
const retryAfterMs = 5_000;

export class FallbackMetadataStore implements MetadataStore {
  private downUntil = 0;
  private down = false;

  constructor(
    private readonly shared: MetadataStore,
    private readonly local: MetadataStore,
    private readonly hooks: FallbackHooks,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Whether the shared store answered last time it was asked. */
  get healthy(): boolean {
    return !this.down;
  }

  getTag(upstream: string, repository: string, tag: string): Promise<TagRecord | undefined> {
    return this.read((s) => s.getTag(upstream, repository, tag));
  }

  setTag(upstream: string, repository: string, tag: string, record: TagRecord): Promise<void> {
    return this.write((s) => s.setTag(upstream, repository, tag, record));
  }

  deleteTag(upstream: string, repository: string, tag: string): Promise<void> {
    return this.write((s) => s.deleteTag(upstream, repository, tag));
  }

  listTags(): AsyncIterable<{ upstream: string; repository: string; tag: string; record: TagRecord }> {
    return this.local.listTags();
  }

  getManifest(digest: string): Promise<ManifestInfo | undefined> {
    return this.read((s) => s.getManifest(digest));
  }

  setManifest(digest: string, info: ManifestInfo): Promise<void> {
    return this.write((s) => s.setManifest(digest, info));
  }

  deleteManifest(digest: string): Promise<void> {
    return this.write((s) => s.deleteManifest(digest));
  }

  removeLinks(digest: string): Promise<void> {
    return this.write((s) => s.removeLinks(digest));
  }

  removeLink(link: string): Promise<void> {
    return this.write((s) => s.removeLink(link));
  }

  /** The local store's: the shared store's links serve other replicas too (see the port). */
  listLinks(): AsyncIterable<string> {
    return this.local.listLinks();
  }

  async hasLink(link: string): Promise<boolean> {
    return (await this.read(async (s) => ((await s.hasLink(link)) ? true : undefined))) === true;
  }

  addLink(link: string): Promise<void> {
    return this.write((s) => s.addLink(link));
  }

  getListing(key: string): Promise<ListingRecord | undefined> {
    return this.read((s) => s.getListing(key));
  }

  setListing(key: string, record: ListingRecord): Promise<void> {
    return this.write((s) => s.setListing(key, record));
  }

  deleteListing(key: string): Promise<void> {
    return this.write((s) => s.deleteListing(key));
  }

  getVerdict(key: string): Promise<VerdictRecord | undefined> {
    return this.read((s) => s.getVerdict(key));
  }

  setVerdict(key: string, record: VerdictRecord): Promise<void> {
    return this.write((s) => s.setVerdict(key, record));
  }

  getAdmission(key: string): Promise<AdmissionRecord | undefined> {
    return this.read((s) => s.getAdmission(key));
  }

  setAdmission(key: string, record: AdmissionRecord): Promise<void> {
    return this.write((s) => s.setAdmission(key, record));
  }

  /** The local store only: Redis trouble is handled by falling back, it does not make a replica unready. */
  probe(): Promise<void> {
    return this.local.probe();
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.shared.close(), this.local.close()]);
  }

  /** The shared answer when it has one, else the local one. */
  private async read<T>(op: (store: MetadataStore) => Promise<T | undefined>): Promise<T | undefined> {
    if (this.available()) {
      try {
        const value = await withDeadline(op(this.shared));
        this.recovered();
        if (value !== undefined) return value;
      } catch (err) {
        this.failed(err);
      }
    }
    return op(this.local);
  }

  private async write(op: (store: MetadataStore) => Promise<void>): Promise<void> {
    await op(this.local);
    if (!this.available()) return;
    try {
      await withDeadline(op(this.shared));
      this.recovered();
    } catch (err) {
      this.failed(err);
    }
  }

  private available(): boolean {
    return !this.down || this.clock() >= this.downUntil;
  }

  private failed(err: unknown): void {
    const first = !this.down;
    this.down = true;
    this.downUntil = this.clock() + retryAfterMs;
    this.hooks.onFailure(err, first);
  }

  private recovered(): void {
    if (!this.down) return;
    this.down = false;
    this.hooks.onRecovery();
  }
}

async function withDeadline<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`shared metadata store did not answer within ${deadlineMs} ms`)), deadlineMs);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
