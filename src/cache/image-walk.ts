// The one walk of an image: from its top manifest down through child manifests to every blob.
//
// Where the manifests come from is the caller's: the verified pull path (seed), the cache only (export,
// the sanctioned list at start), or content just verified into the store (import). A manifest the source
// does not have is listed as missing, and the caller decides what that means.
import { matchesPlatform, referencesOf, type Descriptor } from '../oci/manifest.js';

export interface WalkedManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
}

export interface WalkedImage {
  /** The manifest the reference resolves to (an index for multi-platform images). */
  readonly top: WalkedManifest;
  /** Every manifest found, the top one first, each once. */
  readonly manifests: readonly WalkedManifest[];
  /** Every blob (configs and layers) of the manifests found, each once. */
  readonly blobs: readonly Descriptor[];
  /** Child manifests an index lists that the source did not have. */
  readonly missing: readonly Descriptor[];
}

/** A manifest's body and media type, or undefined when the source does not have it; may throw to stop the walk. */
export type ManifestSource = (descriptor: Descriptor) => Promise<{ mediaType: string; body: Buffer } | undefined>;

/** Walks from `top` (breadth first); `platforms` (os/arch[/variant]) narrows an index's children. */
export async function walkImage(
  top: { readonly digest: string; readonly mediaType: string; readonly body: Buffer },
  source: ManifestSource,
  platforms?: readonly string[],
): Promise<WalkedImage> {
  const manifests: WalkedManifest[] = [{ digest: top.digest, mediaType: top.mediaType, size: top.body.length }];
  const seen = new Set([top.digest]);
  const blobs = new Map<string, Descriptor>();
  const missing: Descriptor[] = [];
  const pending = [top.body];
  while (pending.length > 0) {
    const refs = referencesOf(pending.shift()!);
    for (const blob of refs.blobs) if (!blobs.has(blob.digest)) blobs.set(blob.digest, blob);
    const children = platforms?.length ? refs.manifests.filter((m) => platforms.some((p) => matchesPlatform(m, p))) : refs.manifests;
    for (const child of children) {
      if (seen.has(child.digest)) continue;
      seen.add(child.digest);
      const found = await source(child);
      if (!found) {
        missing.push(child);
        continue;
      }
      manifests.push({ digest: child.digest, mediaType: found.mediaType, size: found.body.length });
      pending.push(found.body);
    }
  }
  return { top: manifests[0]!, manifests, blobs: [...blobs.values()], missing };
}

/** Every digest of a walked image: manifests found and missing, and blobs. */
export function digestsOf(image: WalkedImage): string[] {
  return [...image.manifests.map((m) => m.digest), ...image.missing.map((m) => m.digest), ...image.blobs.map((b) => b.digest)];
}
