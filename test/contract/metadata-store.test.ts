// One contract for every MetadataStore (the embedded file store, Redis, and the fallback pair over them), and one
// for every InventoryStore (the embedded log, Redis).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import KeyvRedis, { createClient } from '@keyv/redis';
import Keyv from 'keyv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FallbackMetadataStore } from '../../src/cache/fallback-metadata-store.js';
import type { MetadataStore, TagRecord } from '../../src/cache/metadata-store.js';
import { FsKeyvStore } from '../../src/storage/fs-keyv-store.js';
import { KeyvMetadataStore } from '../../src/storage/keyv-metadata-store.js';
import { describeWithBinaries } from '../helpers/binaries.js';
import { startRedis, type RedisHandle } from '../helpers/redis.js';

const record = (n: number): TagRecord => ({
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  size: 100 + n,
  checkedAt: 1_000 + n,
});

async function fileStore(): Promise<{ store: MetadataStore; dispose(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tender-meta-'));
  const files = new FsKeyvStore(dir);
  const store = new KeyvMetadataStore(new Keyv({ store: files, namespace: 'tender', throwOnErrors: true }), (prefix) => files.entries(prefix));
  return { store, dispose: () => rm(dir, { recursive: true, force: true }) };
}

async function redisStore(url: string, namespace: string): Promise<{ store: MetadataStore; dispose(): Promise<void> }> {
  const client = createClient({ url, disableOfflineQueue: true });
  client.on('error', () => undefined); // the fallback test kills Redis on purpose
  await client.connect();
  const keyv = new Keyv({ store: new KeyvRedis(client, { throwOnConnectError: false, throwOnErrors: true }), namespace, throwOnErrors: true });
  // close() of the store already quits the client (keyv disconnects its adapter).
  return { store: new KeyvMetadataStore(keyv, async function* () {}), dispose: async () => void (client.isOpen ? client.destroy() : undefined) };
}

/** The contract: what the core relies on from any metadata store. */
function contract(open: () => Promise<{ store: MetadataStore; dispose(): Promise<void> }>, listsTags: boolean): void {
  it('keeps tag records per upstream, repository and tag, and forgets them on delete', async () => {
    const { store, dispose } = await open();
    try {
      expect(await store.getTag('docker.io', 'library/nginx', 'latest')).toBeUndefined();
      await store.setTag('docker.io', 'library/nginx', 'latest', record(1));
      await store.setTag('ghcr.io', 'library/nginx', 'latest', record(2));
      await store.setTag('docker.io', 'library/nginx', '1.27', record(3));
      expect(await store.getTag('docker.io', 'library/nginx', 'latest')).toEqual(record(1));
      expect(await store.getTag('ghcr.io', 'library/nginx', 'latest')).toEqual(record(2));
      await store.setTag('docker.io', 'library/nginx', 'latest', record(4));
      expect(await store.getTag('docker.io', 'library/nginx', 'latest')).toEqual(record(4));
      await store.deleteTag('docker.io', 'library/nginx', 'latest');
      expect(await store.getTag('docker.io', 'library/nginx', 'latest')).toBeUndefined();
      expect(await store.getTag('docker.io', 'library/nginx', '1.27')).toEqual(record(3));
    } finally {
      await store.close();
      await dispose();
    }
  });

  it('keeps manifest media types and visibility links', async () => {
    const { store, dispose } = await open();
    try {
      const digest = `sha256:${'a'.repeat(64)}`;
      expect(await store.getManifest(digest)).toBeUndefined();
      await store.setManifest(digest, { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 42 });
      expect(await store.getManifest(digest)).toEqual({ mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 42 });
      expect(await store.hasLink(`public@${digest}`)).toBe(false);
      await store.addLink(`public@${digest}`);
      expect(await store.hasLink(`public@${digest}`)).toBe(true);
      expect(await store.hasLink(`private.test/team/app@${digest}`)).toBe(false);
    } finally {
      await store.close();
      await dispose();
    }
  });

  it('forgets a manifest record and every link of a digest when its content is evicted, and nothing else', async () => {
    const { store, dispose } = await open();
    try {
      const digest = `sha256:${'c'.repeat(64)}`;
      const other = `sha256:${'d'.repeat(64)}`;
      await store.setManifest(digest, { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 7 });
      await store.setManifest(other, { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 8 });
      for (const link of [`public@${digest}`, `private.test/team/a@${digest}`, `private.test/team/b@${digest}`, `public@${other}`]) await store.addLink(link);
      await store.deleteManifest(digest);
      await store.removeLinks(digest);
      expect(await store.getManifest(digest)).toBeUndefined();
      for (const link of [`public@${digest}`, `private.test/team/a@${digest}`, `private.test/team/b@${digest}`]) expect(await store.hasLink(link)).toBe(false);
      expect(await store.getManifest(other)).toEqual({ mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 8 });
      expect(await store.hasLink(`public@${other}`)).toBe(true);
      // Absent is fine.
      await store.deleteManifest(digest);
      await store.removeLinks(digest);
    } finally {
      await store.close();
      await dispose();
    }
  });

  it('lists its links (the embedded store) and removes one', async () => {
    const { store, dispose } = await open();
    try {
      const digest = `sha256:${'e'.repeat(64)}`;
      const links = [`public@${digest}`, `private.test/team/a@${digest}`];
      for (const link of links) await store.addLink(link);
      const listed: string[] = [];
      for await (const link of store.listLinks()) listed.push(link);
      // A shared store (Redis) lists none: its links serve other replicas' caches too.
      expect(listed.sort()).toEqual(listsTags ? links.sort() : []);
      await store.removeLink(links[1]!);
      expect(await store.hasLink(links[1]!)).toBe(false);
      expect(await store.hasLink(links[0]!)).toBe(true);
    } finally {
      await store.close();
      await dispose();
    }
  });

  it('keeps signature verdicts and admissions by key', async () => {
    const { store, dispose } = await open();
    try {
      const key = `platform:0123abcd:${record(1).digest}`;
      const verdict = { keyId: 'ab'.repeat(32), format: 'simple-signing' as const, evidence: [record(2).digest, record(3).digest], at: 1_234 };
      expect(await store.getVerdict(key)).toBeUndefined();
      await store.setVerdict(key, verdict);
      expect(await store.getVerdict(key)).toEqual(verdict);
      expect(await store.getVerdict(`platform:other:${record(1).digest}`)).toBeUndefined();
      const admitted = { kind: 'admitted' as const, root: record(1).digest, policy: 'platform' };
      const evidence = { kind: 'evidence' as const, policy: 'platform' };
      await store.setAdmission(`ghcr.io/org/app@${record(4).digest}`, admitted);
      await store.setAdmission(`ghcr.io/org/app@${record(5).digest}`, evidence);
      expect(await store.getAdmission(`ghcr.io/org/app@${record(4).digest}`)).toEqual(admitted);
      expect(await store.getAdmission(`ghcr.io/org/app@${record(5).digest}`)).toEqual(evidence);
      expect(await store.getAdmission(`ghcr.io/org/other@${record(4).digest}`)).toBeUndefined();
    } finally {
      await store.close();
      await dispose();
    }
  });

  it('keeps listing records (tags lists, referrers) by key, none of them a tag record', async () => {
    const { store, dispose } = await open();
    try {
      const referrers = {
        kind: 'referrers' as const,
        source: 'tag' as const,
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'b'.repeat(64)}`, size: 7, annotations: { 'org.example.kept': 'yes' } },
        ],
        checkedAt: 5,
      };
      const tags = { kind: 'tags' as const, tags: Array.from({ length: 5_000 }, (_, i) => `v${i}`), checkedAt: 6 };
      expect(await store.getListing('tags:docker.io/library/nginx')).toBeUndefined();
      await store.setListing('tags:docker.io/library/nginx', tags);
      await store.setListing(`referrers:docker.io/library/nginx@sha256:${'a'.repeat(64)}`, referrers);
      expect(await store.getListing('tags:docker.io/library/nginx')).toEqual(tags);
      expect(await store.getListing(`referrers:docker.io/library/nginx@sha256:${'a'.repeat(64)}`)).toEqual(referrers);
      await store.deleteListing('tags:docker.io/library/nginx');
      expect(await store.getListing('tags:docker.io/library/nginx')).toBeUndefined();
      if (listsTags) {
        const listed = [];
        for await (const entry of store.listTags()) listed.push(entry);
        expect(listed).toEqual([]);
      }
    } finally {
      await store.close();
      await dispose();
    }
  });

  it('takes a write probe, which records no tag', async () => {
    const { store, dispose } = await open();
    try {
      await store.probe();
      await store.probe();
      if (listsTags) {
        const listed = [];
        for await (const entry of store.listTags()) listed.push(entry);
        expect(listed).toEqual([]);
      }
    } finally {
      await store.close();
      await dispose();
    }
  });

  if (listsTags) {
    it('lists every tag record with its name (for exports)', async () => {
      const { store, dispose } = await open();
      try {
        await store.setTag('registry.local:5000', 'team/app/api', 'v1', record(5));
        await store.setTag('docker.io', 'library/nginx', '1.27', record(6));
        const listed = [];
        for await (const entry of store.listTags()) listed.push(entry);
        expect(listed.sort((a, b) => a.tag.localeCompare(b.tag))).toEqual([
          { upstream: 'docker.io', repository: 'library/nginx', tag: '1.27', record: record(6) },
          { upstream: 'registry.local:5000', repository: 'team/app/api', tag: 'v1', record: record(5) },
        ]);
      } finally {
        await store.close();
        await dispose();
      }
    });
  }
}

describe('MetadataStore contract: embedded file store', () => contract(fileStore, true));

describe('embedded file store on a directory that takes no writes', () => {
  it('fails the probe and writes, reads as absent, and recovers when the directory is back', async () => {
    const root = await mkdtemp(join(tmpdir(), 'tender-meta-broken-'));
    const dir = join(root, 'meta');
    const files = new FsKeyvStore(dir);
    const store = new KeyvMetadataStore(new Keyv({ store: files, namespace: 'tender', throwOnErrors: true }), (prefix) => files.entries(prefix));
    try {
      await store.setTag('docker.io', 'library/nginx', 'latest', record(1));
      // meta/ replaced by a file (root ignores permissions, so this is how a test makes writes fail)
      await rm(dir, { recursive: true });
      await writeFile(dir, 'not a directory');
      await expect(store.probe()).rejects.toThrow(/ENOTDIR|EEXIST/);
      await expect(store.setTag('docker.io', 'library/nginx', '1.27', record(2))).rejects.toThrow();
      expect(await store.getTag('docker.io', 'library/nginx', 'latest')).toBeUndefined();
      expect(await store.getManifest(`sha256:${'b'.repeat(64)}`)).toBeUndefined();
      // And it works again once the directory is back.
      await rm(dir);
      await mkdir(dir);
      await store.probe();
      await store.setTag('docker.io', 'library/nginx', 'latest', record(3));
      expect(await store.getTag('docker.io', 'library/nginx', 'latest')).toEqual(record(3));
    } finally {
      await store.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

describeWithBinaries(['redis-server'], 'MetadataStore contract: Redis and the fallback pair', () => {
  let redis: RedisHandle;
  let n = 0;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  describe('Redis', () => contract(() => redisStore(redis.url, `contract${n++}`), false));

  describe('fallback (Redis over the file store)', () =>
    contract(async () => {
      const shared = await redisStore(redis.url, `contract${n++}`);
      const local = await fileStore();
      const store = new FallbackMetadataStore(shared.store, local.store, { onFailure: () => undefined, onRecovery: () => undefined });
      return { store, dispose: async () => (await shared.dispose(), await local.dispose()) };
    }, true));

  it('falls back to the local store when Redis is gone, and back to Redis when it returns', async () => {
    const shared = await redisStore(redis.url, `contract${n++}`);
    const local = await fileStore();
    const failures: boolean[] = [];
    const store = new FallbackMetadataStore(shared.store, local.store, { onFailure: (_err, first) => failures.push(first), onRecovery: () => undefined });
    await store.setTag('docker.io', 'library/a', 'v1', record(7));
    await redis.kill();
    expect(await store.getTag('docker.io', 'library/a', 'v1')).toEqual(record(7));
    await store.setTag('docker.io', 'library/b', 'v1', record(8));
    expect(await store.getTag('docker.io', 'library/b', 'v1')).toEqual(record(8));
    expect(failures[0]).toBe(true);
    expect(store.healthy).toBe(false);
    await redis.restart();
    await store.close();
    await shared.dispose();
    await local.dispose();
  });
});
