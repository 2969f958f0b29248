// Sanctioned-only mode: only listed images, and the digests they reference, are served; the rest is DENIED.
import { referencesOf } from '../oci/manifest.js';
import type { Route } from './ports.js';
import { allowed, type CachedImages, type ServedManifest, type ServePolicy, type Verdict } from './serve-policy.js';

export interface SanctionedImage {
  /** Where the image is served from, routed like a request (aliases and Docker Hub's library/ resolved). */
  readonly route: Route;
  /** A tag or a digest. */
  readonly reference: string;
}

export class Sanctioned implements ServePolicy {
  private readonly repositories = new Set<string>();
  private readonly references = new Set<string>();
  /** Digests reachable from a sanctioned reference, learned as its manifests are served (or primed at start). */
  private readonly digests = new Set<string>();

  constructor(readonly images: readonly SanctionedImage[]) {
    for (const image of images) {
      const repository = `${image.route.upstream.name}/${image.route.repository}`;
      this.repositories.add(repository);
      this.references.add(`${repository}:${image.reference}`);
      if (image.reference.includes(':')) this.digests.add(image.reference);
    }
  }

  /** Refuses `reference` (a tag, or a digest) unless it is listed, or a digest a listed image references. */
  screen(route: Route, reference: string): Verdict {
    const repository = `${route.upstream.name}/${route.repository}`;
    if (this.repositories.has(repository) && (this.references.has(`${repository}:${reference}`) || this.digests.has(reference))) return allowed;
    return {
      allowed: false,
      reason: 'sanctioned-only',
      message: `${repository}${reference.includes(':') ? '@' : ':'}${reference} is not in the sanctioned image list`,
    };
  }

  /** Records what a served sanctioned manifest references, so its children and blobs may follow. */
  served(_route: Route, manifest: ServedManifest): void {
    this.learn([manifest.digest]);
    if (!manifest.body) return;
    const refs = referencesOf(manifest.body);
    this.learn([...refs.manifests, ...refs.blobs].map((d) => d.digest));
  }

  /**
   * Learns, from what is already cached, every digest the sanctioned images reference: after a restart
   * a node may ask for a layer without its manifests being served again first.
   */
  async prime(cache: CachedImages): Promise<void> {
    for (const image of this.images) this.learn(await cache.digests(image.route, image.reference));
  }

  private learn(digests: Iterable<string>): void {
    for (const digest of digests) this.digests.add(digest);
  }
}
