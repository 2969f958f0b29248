// Synthetic inventory records at scale (100,000 for the API, UI and start-up measurements): shaped like real ones,
// with layers shared the way base images share them and tags per repository.
import type { InventoryRecord } from '../../src/cache/inventory-record.js';

export const syntheticDigest = (n: number, salt: string): string => `sha256:${(salt + n.toString(16)).padStart(64, '0')}`;
/** Every record has its own layer and one of 100 base layers. */
export const baseLayer = (i: number): string => syntheticDigest(i % 100, 'ba5e');

/** Record `i` of `count`, first fetched `count - i` seconds before `now` (so a higher `i` is newer). */
export function syntheticRecord(i: number, now: number, count: number): InventoryRecord {
  const at = now - (count - i) * 1000;
  const upstream = i % 3 === 0 ? 'ghcr.io' : 'docker.io';
  const repository = `team${i % 20}/svc${i % 500}`;
  return {
    digest: syntheticDigest(i, 'a'),
    what: {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 500 + (i % 700),
      annotations: { 'org.opencontainers.image.version': `1.${i % 50}.${i % 7}` },
      labels: { 'org.opencontainers.image.source': `https://git.example/team${i % 20}/svc${i % 500}` },
      config: syntheticDigest(i, 'c0'),
      blobs: [syntheticDigest(i, 'c0'), baseLayer(i), syntheticDigest(i, 'f0')],
      manifests: [],
    },
    from: { upstream, repository, firstFetched: at, lastVerified: at, source: 'pull-through' },
    tags: [{ upstream, repository, tag: `v${i}`, firstSeen: at, lastSeen: at }],
    trust: { verdicts: i % 4 === 0 ? [{ policy: 'platform', verified: true, key: 'ab'.repeat(32), at }] : [] },
    pulls: {
      counts: { 'replica-0': { pulls: i % 13, hits: i % 11 } },
      ...(i % 13 ? { lastPulled: at } : {}),
      clients: { [`10.1.${i % 250}.${i % 200}`]: at },
      recent: [],
    },
    storedAt: at,
  };
}

/** The cache directory's inventory log holding `count` synthetic records, as `{"put":record}` lines. */
export function syntheticLog(count: number, now: number): string {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(JSON.stringify({ put: syntheticRecord(i, now, count) }));
  return `${lines.join('\n')}\n`;
}
