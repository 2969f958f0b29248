// Walks an image from its reference down to every blob, through the same verified pull path as clients.
import { parseDigest } from '../oci/digest.js';
import { matchesPlatform, referencesOf, type Descriptor } from '../oci/manifest.js';
import type { Route } from './ports.js';
import type { PullThrough } from './pull-through.js';

export interface WalkedManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
}

export interface WalkedImage {
  /** The manifest the reference resolves to (an index for multi-platform images). */
  readonly top: WalkedManifest;
  /** Every manifest, the top one first. */
  readonly manifests: readonly WalkedManifest[];
  /** Every blob (configs and layers), each once. */
  readonly blobs: readonly Descriptor[];
}

/**
 * Resolves `reference` and the manifests under it; `platforms` (os/arch[/variant]) narrows an index, and
 * `skip` leaves out child manifests (an export of a cache seeded for some platforms only).
 */
export async function walkImage(
  pullThrough: PullThrough,
  route: Route,
  reference: string,
  platforms?: readonly string[],
  skip: (digest: string) => boolean = () => false,
): Promise<WalkedImage> {
  const top = await pullThrough.manifest(route, reference, { accept: undefined, head: false });
  const manifests: WalkedManifest[] = [{ digest: top.digest, mediaType: top.mediaType, size: top.body!.length }];
  const blobs = new Map<string, Descriptor>();
  const pending = [top.body!];
  while (pending.length > 0) {
    const refs = referencesOf(pending.shift()!);
    for (const blob of refs.blobs) blobs.set(blob.digest, blob);
    const children = platforms?.length ? refs.manifests.filter((m) => platforms.some((p) => matchesPlatform(m, p))) : refs.manifests;
    for (const child of children) {
      if (manifests.some((m) => m.digest === child.digest) || skip(child.digest)) continue;
      const answer = await pullThrough.manifest(route, parseDigest(child.digest).value, { accept: undefined, head: false });
      manifests.push({ digest: answer.digest, mediaType: answer.mediaType, size: answer.body!.length });
      pending.push(answer.body!);
    }
  }
  return { top: manifests[0]!, manifests, blobs: [...blobs.values()] };
}
