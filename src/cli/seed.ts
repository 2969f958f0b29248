// `tender seed`: fetch sanctioned images into the cache through the verified pull path, pinned, several at a time.
import pLimit from 'p-limit';
import { parseImageReference } from '../oci/image-reference.js';
import type { Core } from '../main.js';

type Route = Parameters<Core['pullThrough']['image']>[0];
import type { ImageListEntry } from '../config/image-list.js';

export interface SeedResult {
  readonly ref: string;
  readonly ok: boolean;
  readonly digest?: string;
  readonly blobs: number;
  /** Bytes of every blob of the image. */
  readonly bytes: number;
  /** Bytes that had to come from upstream (the rest was cached already). */
  readonly fetched: number;
  /** Signature, attestation and SBOM manifests carried with the image (attachment tags and referrers). */
  readonly attachments: number;
  readonly ms: number;
  readonly error?: string;
}

/** How progress is shown: bars on a terminal, log lines otherwise. */
export interface SeedProgress {
  start(ref: string, totalBytes: number): void;
  advance(ref: string, bytes: number): void;
  finish(result: SeedResult): void;
}

export async function seedImages(core: Core, images: readonly ImageListEntry[], progress: SeedProgress, concurrency = 3): Promise<SeedResult[]> {
  const limit = pLimit(concurrency);
  return Promise.all(images.map((image) => limit(() => seedOne(core, image, progress))));
}

async function seedOne(core: Core, image: ImageListEntry, progress: SeedProgress): Promise<SeedResult> {
  const started = performance.now();
  let blobs = 0;
  let bytes = 0;
  let fetched = 0;
  let attachments = 0;
  try {
    const ref = parseImageReference(image.ref);
    const route = core.router.resolve({ ns: ref.registry, name: ref.repository });
    const walked = await core.pullThrough.image(route, ref.reference, { source: 'seed', ...(image.platforms ? { platforms: image.platforms } : {}) });
    blobs = walked.blobs.length;
    bytes = walked.blobs.reduce((sum, b) => sum + b.size, 0);
    progress.start(image.ref, bytes);
    // A few blobs at a time per image: enough to fill a link, few enough to keep upstream friendly.
    const perImage = pLimit(3);
    await Promise.all(
      walked.blobs.map((blob) =>
        perImage(async () => {
          // Resolves once the blob is committed, whether this seed downloads it or another request does.
          const got = await core.pullThrough.prefetch(route, blob.digest, { pin: true, onBytes: (n) => progress.advance(image.ref, n) });
          if (got.fetched === 0) progress.advance(image.ref, blob.size);
          fetched += got.fetched; // added after the await: the three downloads of an image run at once
        }),
      ),
    );
    for (const manifest of walked.manifests) await core.pullThrough.pin(manifest.digest);
    attachments = await seedAttachments(
      core,
      route,
      walked.manifests.map((m) => m.digest),
    );
    const result = { ref: image.ref, ok: true, digest: walked.top.digest, blobs, bytes, fetched, attachments, ms: Math.round(performance.now() - started) };
    progress.finish(result);
    return result;
  } catch (err) {
    const result = {
      ref: image.ref,
      ok: false,
      blobs,
      bytes,
      fetched,
      attachments,
      ms: Math.round(performance.now() - started),
      error: err instanceof Error ? err.message : String(err),
    };
    progress.finish(result);
    return result;
  }
}

/**
 * Fetches and pins every signature, attestation and SBOM attached to the image's manifests (classic tags,
 * the referrers tag index and the referrers it lists), so that export carries them and an offline tender
 * can verify the image. Returns how many attachment manifests were found.
 */
async function seedAttachments(core: Core, route: Route, digests: readonly string[]): Promise<number> {
  const found = await core.pullThrough.attachments(route, digests);
  const manifests = new Set<string>();
  for (const reference of [...found.tags, ...found.referrers]) {
    const walked = await core.pullThrough.image(route, reference);
    for (const blob of walked.blobs) await core.pullThrough.prefetch(route, blob.digest, { pin: true });
    for (const manifest of walked.manifests) {
      await core.pullThrough.pin(manifest.digest);
      manifests.add(manifest.digest);
    }
  }
  return manifests.size;
}
