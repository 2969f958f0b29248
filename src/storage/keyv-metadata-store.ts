// MetadataStore over keyv: the embedded file store by default, Redis when configured.
import Keyv from 'keyv';
import type { ListingRecord } from '../cache/listing-records.js';
import type { AdmissionRecord, ManifestInfo, MetadataStore, TagRecord, VerdictRecord } from '../cache/metadata-store.js';

/** Lists raw stored entries by key prefix; keyv itself can iterate only some of its adapters. */
export type EntryLister = (prefix: string) => AsyncIterable<[string, string]>;

export class KeyvMetadataStore implements MetadataStore {
  constructor(
    private readonly keyv: Keyv,
    private readonly lister: EntryLister,
  ) {}

  async *listTags(): AsyncGenerator<{ upstream: string; repository: string; tag: string; record: TagRecord }> {
    const prefix = `${this.keyv.namespace ? `${this.keyv.namespace}:` : ''}tag:`;
    for await (const [key, raw] of this.lister(prefix)) {
      const name = key.slice(prefix.length);
      const slash = name.indexOf('/');
      const colon = name.lastIndexOf(':');
      const parsed = JSON.parse(raw) as { value?: TagRecord; expires?: number };
      if (slash < 0 || colon < slash || !parsed.value) continue;
      yield { upstream: name.slice(0, slash), repository: name.slice(slash + 1, colon), tag: name.slice(colon + 1), record: parsed.value };
    }
  }

  async getTag(upstream: string, repository: string, tag: string): Promise<TagRecord | undefined> {
    return (await this.keyv.get<TagRecord>(tagKey(upstream, repository, tag))) ?? undefined;
  }

  async setTag(upstream: string, repository: string, tag: string, record: TagRecord): Promise<void> {
    await this.keyv.set(tagKey(upstream, repository, tag), record);
  }

  async deleteTag(upstream: string, repository: string, tag: string): Promise<void> {
    await this.keyv.delete(tagKey(upstream, repository, tag));
  }

  async getManifest(digest: string): Promise<ManifestInfo | undefined> {
    return (await this.keyv.get<ManifestInfo>(`manifest:${digest}`)) ?? undefined;
  }

  async setManifest(digest: string, info: ManifestInfo): Promise<void> {
    await this.keyv.set(`manifest:${digest}`, info);
  }

  async deleteManifest(digest: string): Promise<void> {
    await this.keyv.delete(`manifest:${digest}`);
  }

  async hasLink(link: string): Promise<boolean> {
    return (await this.keyv.get<boolean>(`link:${link}`)) === true;
  }

  async addLink(link: string): Promise<void> {
    await this.keyv.set(`link:${link}`, true);
    // Every link of a digest, listed under the digest, so eviction can remove them (keys are hashed file
    // names in the embedded store: they cannot be found by digest otherwise). Written after the link: a
    // crash between the two leaves a link eviction misses, never a list naming a link that is not there.
    const digest = link.slice(link.lastIndexOf('@') + 1);
    const scopes = (await this.keyv.get<string[]>(`links:${digest}`)) ?? [];
    if (!scopes.includes(link)) await this.keyv.set(`links:${digest}`, [...scopes, link].slice(-256));
  }

  async removeLink(link: string): Promise<void> {
    await this.keyv.delete(`link:${link}`);
  }

  async *listLinks(): AsyncGenerator<string> {
    const prefix = `${this.keyv.namespace ? `${this.keyv.namespace}:` : ''}link:`;
    for await (const [key] of this.lister(prefix)) yield key.slice(prefix.length);
  }

  async removeLinks(digest: string): Promise<void> {
    const listed = (await this.keyv.get<string[]>(`links:${digest}`)) ?? [];
    // The public link is always named the same: removed even when a cache from before the list has it.
    for (const link of new Set([...listed, `public@${digest}`])) await this.keyv.delete(`link:${link}`);
    await this.keyv.delete(`links:${digest}`);
  }

  async getListing(key: string): Promise<ListingRecord | undefined> {
    return (await this.keyv.get<ListingRecord>(`listing:${key}`)) ?? undefined;
  }

  async setListing(key: string, record: ListingRecord): Promise<void> {
    await this.keyv.set(`listing:${key}`, record);
  }

  async deleteListing(key: string): Promise<void> {
    await this.keyv.delete(`listing:${key}`);
  }

  async getVerdict(key: string): Promise<VerdictRecord | undefined> {
    return (await this.keyv.get<VerdictRecord>(`verdict:${key}`)) ?? undefined;
  }

  async setVerdict(key: string, record: VerdictRecord): Promise<void> {
    await this.keyv.set(`verdict:${key}`, record);
  }

  async getAdmission(key: string): Promise<AdmissionRecord | undefined> {
    return (await this.keyv.get<AdmissionRecord>(`admission:${key}`)) ?? undefined;
  }

  async setAdmission(key: string, record: AdmissionRecord): Promise<void> {
    await this.keyv.set(`admission:${key}`, record);
  }

  async probe(): Promise<void> {
    await this.keyv.set('probe', Date.now());
  }

  async close(): Promise<void> {
    await this.keyv.disconnect();
  }
}

function tagKey(upstream: string, repository: string, tag: string): string {
  return `tag:${upstream}/${repository}:${tag}`;
}
