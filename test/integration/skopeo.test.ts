// A real client: skopeo copies a multi-arch image through tender's path-prefix form, twice.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { pushIndex, type PushedIndex } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const run = promisify(execFile);

describeWithBinaries(['docker-registry', 'skopeo'], 'skopeo through tender (prefix form)', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let index: PushedIndex;
  let work: string;

  beforeAll(async () => {
    registry = await startRegistry();
    index = await pushIndex(registry, 'library/multi', 'v1', {
      seed: 'skopeo',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
        { os: 'linux', architecture: 's390x' },
      ],
      layerSizes: [1_000_000, 300_000],
    });
    tender = await startTender({ upstreams: { 'docker.io': registry.url } });
    work = await mkdtemp(join(tmpdir(), 'tender-skopeo-'));
  });

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function copy(into: string): Promise<{ index: Buffer }> {
    const source = `docker://${new URL(tender.url).host}/docker.io/library/multi:v1`;
    await run('skopeo', ['copy', '--all', '--src-tls-verify=false', '--preserve-digests', source, `oci:${into}:v1`], { timeout: 60_000 });
    const layout = JSON.parse(await readFile(join(into, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    expect(layout.manifests[0]!.digest).toBe(index.digest);
    return { index: await readFile(join(into, 'blobs', 'sha256', index.digest.slice(7))) };
  }

  it('copies every platform with identical digests, and the second copy sends no blob request upstream', async () => {
    await registry.settle();
    registry.resetLog();
    const first = await copy(join(work, 'first'));
    expect(first.index.equals(index.manifest)).toBe(true);
    for (const image of index.images) {
      for (const blob of [image.config, ...image.layers]) {
        const stored = await readFile(join(work, 'first', 'blobs', 'sha256', blob.digest.slice(7)));
        expect(stored.equals(blob.bytes)).toBe(true);
      }
    }
    await registry.settle();
    const firstCounts = countByKind(registry);
    expect(firstCounts.blobGets).toBe(index.images.length * 3 - sharedBlobs(index));

    registry.resetLog();
    await copy(join(work, 'second'));
    await registry.settle();
    const secondCounts = countByKind(registry);
    expect(secondCounts.blobGets).toBe(0);
    expect(secondCounts.blobHeads).toBe(0);
    // Closing-note figures: what a multi-arch pull sends upstream the first and the second time.
    console.info('upstream requests, first pull:', firstCounts, 'second pull:', secondCounts);
  });
});

function countByKind(registry: RegistryHandle) {
  return {
    manifestGets: registry.count({ kind: 'manifests', method: 'GET' }),
    manifestHeads: registry.count({ kind: 'manifests', method: 'HEAD' }),
    blobGets: registry.count({ kind: 'blobs', method: 'GET' }),
    blobHeads: registry.count({ kind: 'blobs', method: 'HEAD' }),
    total: registry.requests().length,
  };
}

/** Blobs appearing in more than one platform image are fetched once. */
function sharedBlobs(index: PushedIndex): number {
  const all = index.images.flatMap((i) => [i.config, ...i.layers].map((b) => b.digest));
  return all.length - new Set(all).size;
}
