// An in-memory MetadataStore for unit tests of the core, with switches that make reads or writes fail
// the way a broken disk (EIO) or a broken Redis answer does.
import type { ListingRecord } from '../../../src/cache/listing-records.js';
import type { AdmissionRecord, ManifestInfo, MetadataStore, TagRecord, VerdictRecord } from '../../../src/cache/metadata-store.js';

export function eio(): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error('EIO: i/o error, read');
  err.code = 'EIO';
  return err;
}

export class MemoryMetadataStore implements MetadataStore {
  readonly tags = new Map<string, TagRecord>();
  readonly manifests = new Map<string, ManifestInfo>();
  readonly links = new Set<string>();
  readonly verdicts = new Map<string, VerdictRecord>();
  readonly admissions = new Map<string, AdmissionRecord>();
  readonly listings = new Map<string, ListingRecord>();
  /** When set, every read (getTag, getManifest, hasLink) rejects with it. */
  readFailure: unknown;
  /** When set, every write rejects with it. */
  writeFailure: unknown;
  /** Reads made, by method: what the core asked the store rather than its own memory. */
  readonly reads = { tag: 0, manifest: 0, link: 0, listing: 0, verdict: 0, admission: 0 };

  async getTag(upstream: string, repository: string, tag: string): Promise<TagRecord | undefined> {
    this.reads.tag += 1;
    this.failRead();
    return this.tags.get(`${upstream}/${repository}:${tag}`);
  }

  async setTag(upstream: string, repository: string, tag: string, record: TagRecord): Promise<void> {
    this.failWrite();
    this.tags.set(`${upstream}/${repository}:${tag}`, record);
  }

  async deleteTag(upstream: string, repository: string, tag: string): Promise<void> {
    this.failWrite();
    this.tags.delete(`${upstream}/${repository}:${tag}`);
  }

  async *listTags(): AsyncGenerator<{ upstream: string; repository: string; tag: string; record: TagRecord }> {
    for (const [key, record] of this.tags) {
      const slash = key.indexOf('/');
      const colon = key.lastIndexOf(':');
      yield { upstream: key.slice(0, slash), repository: key.slice(slash + 1, colon), tag: key.slice(colon + 1), record };
    }
  }

  async getManifest(digest: string): Promise<ManifestInfo | undefined> {
    this.reads.manifest += 1;
    this.failRead();
    return this.manifests.get(digest);
  }

  async setManifest(digest: string, info: ManifestInfo): Promise<void> {
    this.failWrite();
    this.manifests.set(digest, info);
  }

  async deleteManifest(digest: string): Promise<void> {
    this.failWrite();
    this.manifests.delete(digest);
  }

  async removeLinks(digest: string): Promise<void> {
    this.failWrite();
    for (const link of [...this.links]) if (link.endsWith(`@${digest}`)) this.links.delete(link);
  }

  async removeLink(link: string): Promise<void> {
    this.failWrite();
    this.links.delete(link);
  }

  async *listLinks(): AsyncGenerator<string> {
    yield* [...this.links];
  }

  async hasLink(link: string): Promise<boolean> {
    this.reads.link += 1;
    this.failRead();
    return this.links.has(link);
  }

  async addLink(link: string): Promise<void> {
    this.failWrite();
    this.links.add(link);
  }

  async getListing(key: string): Promise<ListingRecord | undefined> {
    this.reads.listing += 1;
    this.failRead();
    return this.listings.get(key);
  }

  async setListing(key: string, record: ListingRecord): Promise<void> {
    this.failWrite();
    // Stored as a copy, as a real store serializes it: the core must not rely on keeping its own object.
    this.listings.set(key, structuredClone(record));
  }

  async deleteListing(key: string): Promise<void> {
    this.failWrite();
    this.listings.delete(key);
  }

  async getVerdict(key: string): Promise<VerdictRecord | undefined> {
    this.reads.verdict += 1;
    this.failRead();
    return this.verdicts.get(key);
  }

  async setVerdict(key: string, record: VerdictRecord): Promise<void> {
    this.failWrite();
    this.verdicts.set(key, record);
  }

  async getAdmission(key: string): Promise<AdmissionRecord | undefined> {
    this.reads.admission += 1;
    this.failRead();
    return this.admissions.get(key);
  }

  async setAdmission(key: string, record: AdmissionRecord): Promise<void> {
    this.failWrite();
    this.admissions.set(key, record);
  }

  async probe(): Promise<void> {
    this.failWrite();
  }

  async close(): Promise<void> {}

  private failRead(): void {
    if (this.readFailure !== undefined) throw this.readFailure;
  }

  private failWrite(): void {
    if (this.writeFailure !== undefined) throw this.writeFailure;
  }
}
