// What the cache alone holds of an image, never asking upstream: the policies' start-up priming and the CLI's
// cache-only walks read it. (Out of pull-through.ts to keep the facade within its length.)
import { isDigest, parseDigest } from '../oci/digest.js';
import { maxManifestBytes } from '../oci/media-types.js';
import { digestsOf, walkImage, type ManifestSource } from './image-walk.js';
import type { MetadataStore } from './metadata-store.js';
import type { Manifests } from './manifests.js';
import type { Route } from './ports.js';
import type { Tags } from './tags.js';

/** Manifests from the cache only, never from upstream. */
export function cachedManifests(manifests: Manifests): ManifestSource {
  return async (descriptor) => {
    const local = await manifests.local(parseDigest(descriptor.digest), true);
    return local?.body ? { mediaType: local.mediaType, body: local.body } : undefined;
  };
}

/** Every digest `reference` reaches through cached manifests (itself, manifests, blobs). */
export async function cachedDigests(parts: { manifests: Manifests; tags: Tags }, route: Route, reference: string): Promise<readonly string[]> {
  const top = isDigest(reference) ? reference : (await parts.tags.recorded(route, reference))?.digest;
  if (!top) return [];
  const body = await parts.manifests.cached(parseDigest(top));
  if (!body) return [top];
  return digestsOf(await walkImage({ digest: top, mediaType: '', body }, cachedManifests(parts.manifests)));
}

/** What a stored file is, for the scrub: a manifest when the metadata store has its record (and it could be one), else a blob. */
export function storedKind(metadata: Pick<MetadataStore, 'getManifest'>): (digest: string, size: number) => Promise<'manifest' | 'blob'> {
  return async (digest, size) => (size <= maxManifestBytes && (await metadata.getManifest(digest).catch(() => undefined)) ? 'manifest' : 'blob');
}
