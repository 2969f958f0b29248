// `tender export`: write cached images as an OCI image layout archive (tar), streamed, with its sha256.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { parseDigest } from '../oci/digest.js';
import { parseImageReference } from '../oci/image-reference.js';
import { mediaTypes } from '../oci/media-types.js';
import type { ImageListEntry } from '../config/image-list.js';
import type { Core } from '../main.js';
import { referrersTagIndex } from './referrers-tag-index.js';

type WalkedImage = Awaited<ReturnType<Core['pullThrough']['image']>>;

/** Annotations that tell `tender import` where an image came from (ref.name is what skopeo looks up). */
export const annotations = {
  refName: 'org.opencontainers.image.ref.name',
  upstream: 'io.tender.upstream',
  repository: 'io.tender.repository',
  tag: 'io.tender.tag',
} as const;

/** A fixed entry time: the same images always make the same archive, and so the same sha256. */
const epoch = new Date(0);

export interface ExportReport {
  readonly images: ReadonlyArray<{ ref: string; digest: string }>;
  readonly blobs: number;
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * Exports from the cache only: `core` must be assembled offline, so nothing is fetched and a missing
 * image is an error. `images` undefined exports every cached tag.
 */
export async function exportBundle(core: Core, images: readonly ImageListEntry[] | undefined, output: string): Promise<ExportReport> {
  const selected: Array<{ ref: { upstream: string; repository: string; reference: string; canonical: string }; walked: WalkedImage }> = [];
  /** Documents the export writes that are not in the cache (referrers tag indexes), by digest. */
  const generated = new Map<string, Buffer>();
  for (const entry of images ?? (await everyCachedTag(core))) {
    const ref = parseImageReference(entry.ref);
    const route = core.router.resolve({ ns: ref.registry, name: ref.repository });
    // Annotated with the routed names (aliases resolved, library/ added), which import resolves again.
    const canonical = `${route.upstream.name}/${route.repository}${ref.reference.includes(':') ? '@' : ':'}${ref.reference}`;
    const named = { upstream: route.upstream.name, repository: route.repository, reference: ref.reference, canonical };
    // From the cache only: platforms that were never seeded are left out rather than failing the export.
    const walked = await core.pullThrough.image(route, ref.reference, { cachedOnly: true, ...(entry.platforms ? { platforms: entry.platforms } : {}) });
    selected.push({ ref: named, walked });
    // Signatures, attestations and SBOMs travel with the image: an offline tender verifies with them.
    const attached = await core.pullThrough.attachments(
      route,
      walked.manifests.map((m) => m.digest),
      { cachedOnly: true },
    );
    for (const tag of attached.tags) {
      const canonical = `${route.upstream.name}/${route.repository}:${tag}`;
      const walkedTag = await core.pullThrough.image(route, tag, { cachedOnly: true });
      selected.push({ ref: { upstream: route.upstream.name, repository: route.repository, reference: tag, canonical }, walked: walkedTag });
    }
    // Referrers the upstream's referrers API listed: an offline tender finds them under a referrers tag index.
    for (const [subject, listed] of attached.listed) {
      const index = await referrersTagIndex(core, route, subject, listed);
      if (!index) continue;
      generated.set(index.walked.top.digest, index.body);
      const canonical = `${route.upstream.name}/${route.repository}:${index.tag}`;
      selected.push({ ref: { upstream: route.upstream.name, repository: route.repository, reference: index.tag, canonical }, walked: index.walked });
    }
  }
  // An attachment also listed (or cached as a tag of its own) is written once.
  const unique = new Map(selected.map((s) => [s.ref.canonical, s]));
  selected.splice(0, selected.length, ...unique.values());
  const pack = tar.pack();
  const hash = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const written = pipeline(pack, hashing, createWriteStream(output));
  // Awaited at the end; a failure before then (a bad --output path) must not be an unhandled rejection.
  written.catch(() => undefined);
  await addEntry(pack, 'oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  const seen = new Set<string>();
  let bytes = 0;
  for (const { walked } of selected) {
    for (const item of [...walked.manifests, ...walked.blobs]) {
      if (seen.has(item.digest)) continue;
      seen.add(item.digest);
      const digest = parseDigest(item.digest);
      const body = generated.get(item.digest);
      if (body) {
        await addEntry(pack, `blobs/${digest.algorithm}/${digest.hex}`, body);
        bytes += body.length;
        continue;
      }
      const size = core.pullThrough.cachedSize(item.digest);
      if (size === undefined) throw new Error(`${item.digest} is not in the cache`);
      // One blob at a time, straight from disk into the archive: nothing is held in memory.
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry({ name: `blobs/${digest.algorithm}/${digest.hex}`, size, mtime: epoch }, (err) => (err ? reject(err) : resolve()));
        core.pullThrough.readCached(item.digest).on('error', reject).pipe(entry);
      });
      bytes += size;
    }
  }
  // index.json last: an importer has checked every blob before it learns any tag.
  const index = {
    schemaVersion: 2,
    mediaType: mediaTypes.ociIndex,
    manifests: selected.map(({ ref, walked }) => ({
      mediaType: walked.top.mediaType,
      digest: walked.top.digest,
      size: walked.top.size,
      annotations: {
        [annotations.refName]: ref.canonical,
        [annotations.upstream]: ref.upstream,
        [annotations.repository]: ref.repository,
        ...(ref.reference.includes(':') ? {} : { [annotations.tag]: ref.reference }),
      },
    })),
  };
  await addEntry(pack, 'index.json', Buffer.from(JSON.stringify(index, null, 2)));
  pack.finalize();
  await written;
  return {
    images: selected.map(({ ref, walked }) => ({ ref: ref.canonical, digest: walked.top.digest })),
    blobs: seen.size,
    bytes,
    sha256: hash.digest('hex'),
  };
}

async function everyCachedTag(core: Core): Promise<ImageListEntry[]> {
  const refs: ImageListEntry[] = [];
  for await (const { upstream, repository, tag } of core.pullThrough.cachedTags()) refs.push({ ref: `${upstream}/${repository}:${tag}` });
  return refs.sort((a, b) => a.ref.localeCompare(b.ref));
}

function addEntry(pack: tar.Pack, name: string, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => pack.entry({ name, mtime: epoch }, body, (err) => (err ? reject(err) : resolve())));
}
