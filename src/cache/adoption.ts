// Adopting an image whose content was verified into the store by other means (`tender import`): its
// manifest records, pins, visibility and tag, as if it had been pulled through this repository.
import { parseDigest } from '../oci/digest.js';
import { declaredMediaType, maxManifestBytes } from '../oci/media-types.js';
import type { Descriptor } from '../oci/manifest.js';
import { walkImage, type ManifestSource } from './image-walk.js';
import type { Manifests } from './manifests.js';
import type { Route } from './ports.js';
import type { StoredBlobs } from './stored-blobs.js';
import type { Tags } from './tags.js';
import type { Visibility } from './visibility.js';

export interface AdoptedImage {
  /** Where it is served from: routed like a request, so a private upstream stays private. */
  readonly route: Route;
  /** The tag to record, if any. */
  readonly tag: string | undefined;
  readonly digest: string;
  /** As the layout's index names it; the manifest's own mediaType field when empty. */
  readonly mediaType: string;
}

/** The image cannot be adopted: something it needs is not in the store. Nothing was tagged. */
export class AdoptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdoptionError';
  }
}

export interface AdoptionParts {
  readonly stored: StoredBlobs;
  readonly manifests: Manifests;
  readonly tags: Tags;
  readonly visibility: Visibility;
}

/**
 * Records `image` once every manifest and blob it needs is in the store; throws AdoptionError naming
 * what is missing, or the store's error when a record cannot be written. A child manifest of an index
 * that is not there is left out (an export may carry some platforms only).
 */
export async function adoptImage(
  parts: AdoptionParts,
  image: AdoptedImage,
  now: number,
  /** Told the manifests adopted, before the tag is recorded (the inventory records them, then the tag). */
  onAdopted: (manifests: ReadonlyArray<{ digest: string; mediaType: string }>) => Promise<void> = async () => undefined,
): Promise<void> {
  const { stored, manifests, tags, visibility } = parts;
  const read = async (descriptor: Pick<Descriptor, 'digest' | 'mediaType'>, required: boolean) => {
    const digest = parseDigest(descriptor.digest);
    if (stored.size(digest) === undefined) {
      if (required) throw new AdoptionError(`${descriptor.digest} is referenced but not in the cache`);
      return undefined;
    }
    // Bounded and hashed: content naming a layer as a manifest must not have it read into memory.
    const body = await stored.readSmall(digest, maxManifestBytes, 'manifest');
    if (!body)
      throw new AdoptionError(`${descriptor.digest} is referenced as a manifest but is not one in the cache (over ${maxManifestBytes} bytes, or gone)`);
    return { mediaType: descriptor.mediaType || (declaredMediaType(body) ?? 'application/json'), body };
  };
  const top = (await read(image, true))!;
  const source: ManifestSource = (child) => read(child, false);
  const walked = await walkImage({ digest: image.digest, ...top }, source);
  for (const blob of walked.blobs) {
    if (stored.size(parseDigest(blob.digest)) === undefined) throw new AdoptionError(`${blob.digest} is referenced but not in the cache`);
  }
  for (const manifest of walked.manifests) await manifests.adopt(parseDigest(manifest.digest), { mediaType: manifest.mediaType, size: manifest.size });
  for (const digest of [...walked.manifests, ...walked.blobs].map((d) => parseDigest(d.digest))) {
    await stored.pin(digest);
    await visibility.adopt(image.route, digest);
  }
  await onAdopted(walked.manifests);
  if (image.tag) await tags.adopt(image.route, image.tag, { digest: image.digest, mediaType: top.mediaType, size: walked.top.size, checkedAt: now });
}
