// Blob sizes tender has been told by a manifest it served (descriptor sizes of configs, layers and index
// children) or by an upstream HEAD, so a download can be held to them before any byte reaches a client.
//
// Kept per upstream repository, not per digest: anyone can push a manifest to a public registry that
// names a popular layer with a wrong size, and that must not make the layer unfetchable through other
// repositories. A client pulls a repository's manifests before its blobs, so its own manifest is what
// counts. Bounded (LRU): a size forgotten falls back to the maxBlobSize ceiling, never to no limit.
import { LRUCache } from 'lru-cache';
import { isDigest } from '../oci/digest.js';
import { referencesOf } from '../oci/manifest.js';
import type { Route } from './ports.js';

const maxSizes = 20_000;
/** Manifests already read for a repository: a manifest served again from memory is not parsed again. */
const maxLearned = 5_000;

export class KnownSizes {
  private readonly sizes = new LRUCache<string, number>({ max: maxSizes });
  private readonly learned = new LRUCache<string, true>({ max: maxLearned });

  /** Records what a manifest served through `route` says about the sizes of what it references. */
  learnManifest(route: Route, manifestDigest: string, body: Buffer): void {
    const scope = scopeOf(route);
    const key = `${scope}@${manifestDigest}`;
    if (this.learned.has(key)) return;
    this.learned.set(key, true);
    const refs = referencesOf(body);
    for (const descriptor of [...refs.blobs, ...refs.manifests]) {
      if (isDigest(descriptor.digest) && Number.isSafeInteger(descriptor.size) && descriptor.size >= 0) {
        this.sizes.set(`${scope}@${descriptor.digest}`, descriptor.size);
      }
    }
  }

  /** Records a size upstream announced for `digest` in `route`'s repository (a HEAD). */
  learn(route: Route, digest: string, size: number | undefined): void {
    if (size !== undefined && Number.isSafeInteger(size) && size >= 0) this.sizes.set(`${scopeOf(route)}@${digest}`, size);
  }

  get(route: Route, digest: string): number | undefined {
    return this.sizes.get(`${scopeOf(route)}@${digest}`);
  }
}

function scopeOf(route: Route): string {
  return `${route.upstream.name}/${route.repository}`;
}
