// `tender seed`: fetch sanctioned images into the cache through the verified pull path, pinned, several at a time.
import type { Readable } from 'node:stream';
import pLimit from 'p-limit';
import { walkImage } from '../cache/image-walk.js';
import { parseDigest } from '../oci/digest.js';
import { parseImageReference } from '../oci/image-reference.js';
import type { Core } from '../main.js';
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
  try {
    const ref = parseImageReference(image.ref);
    const route = core.router.resolve({ ns: ref.registry, name: ref.repository });
    const walked = await walkImage(core.pullThrough, route, ref.reference, image.platforms);
    blobs = walked.blobs.length;
    bytes = walked.blobs.reduce((sum, b) => sum + b.size, 0);
    progress.start(image.ref, bytes);
    // A few blobs at a time per image: enough to fill a link, few enough to keep upstream friendly.
    const perImage = pLimit(3);
    await Promise.all(
      walked.blobs.map((blob) =>
        perImage(async () => {
          const digest = parseDigest(blob.digest);
          const answer = await core.pullThrough.blob(route, digest.value, { head: false });
          if (answer.result !== 'hit' && answer.open) {
            const read = await drain(answer.open(), (n) => progress.advance(image.ref, n));
            fetched += read; // added after the await: the three downloads of an image run at once
          } else progress.advance(image.ref, blob.size);
          await core.pullThrough.blobs.pin(digest);
        }),
      ),
    );
    for (const manifest of walked.manifests) await core.pullThrough.blobs.pin(parseDigest(manifest.digest));
    const result = { ref: image.ref, ok: true, digest: walked.top.digest, blobs, bytes, fetched, ms: Math.round(performance.now() - started) };
    progress.finish(result);
    return result;
  } catch (err) {
    const result = {
      ref: image.ref,
      ok: false,
      blobs,
      bytes,
      fetched,
      ms: Math.round(performance.now() - started),
      error: err instanceof Error ? err.message : String(err),
    };
    progress.finish(result);
    return result;
  }
}

/** Reads a blob download to its end (the flight commits it); resolves with the bytes read. */
async function drain(stream: Readable, onBytes: (n: number) => void): Promise<number> {
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    total += chunk.length;
    onBytes(chunk.length);
  }
  return total;
}
