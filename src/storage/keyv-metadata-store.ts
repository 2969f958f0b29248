// MetadataStore over keyv: the embedded file store by default, Redis when configured.
import Keyv from 'keyv';
import type { ManifestInfo, MetadataStore, TagRecord } from '../cache/ports.js';

export class KeyvMetadataStore implements MetadataStore {
  constructor(private readonly keyv: Keyv) {}

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

  async hasLink(link: string): Promise<boolean> {
    return (await this.keyv.get<boolean>(`link:${link}`)) === true;
  }

  async addLink(link: string): Promise<void> {
    await this.keyv.set(`link:${link}`, true);
  }

  async close(): Promise<void> {
    await this.keyv.disconnect();
  }
}

function tagKey(upstream: string, repository: string, tag: string): string {
  return `tag:${upstream}/${repository}:${tag}`;
}
