// Sanctioned-only mode: only listed images, and the digests they reference, are served; the rest is DENIED.
import { OciError } from '../oci/errors.js';
import { referencesOf } from '../oci/manifest.js';
import type { DenialReason, Route } from './ports.js';

export interface SanctionedImage {
  readonly upstream: string;
  readonly repository: string;
  /** A tag or a digest. */
  readonly reference: string;
}

export class Sanctioned {
  private readonly repositories = new Set<string>();
  private readonly references = new Set<string>();
  /** Digests reachable from a sanctioned reference, learned as its manifests are served (or primed at start). */
  private readonly digests = new Set<string>();

  constructor(images: readonly SanctionedImage[]) {
    for (const image of images) {
      this.repositories.add(`${image.upstream}/${image.repository}`);
      this.references.add(`${image.upstream}/${image.repository}:${image.reference}`);
      if (image.reference.includes(':')) this.digests.add(image.reference);
    }
  }

  /** Throws DENIED unless `reference` (a tag, or a digest of a sanctioned image) may be served through `route`. */
  check(route: Route, reference: string): void {
    const repository = `${route.upstream.name}/${route.repository}`;
    const listed = this.repositories.has(repository) && (this.references.has(`${repository}:${reference}`) || this.digests.has(reference));
    if (!listed) {
      throw new OciError('DENIED', `${repository}${reference.includes(':') ? '@' : ':'}${reference} is not in the sanctioned image list`, {
        detail: { reason: 'sanctioned-only' satisfies DenialReason, upstream: route.upstream.name },
      });
    }
  }

  /** Records what a served sanctioned manifest references, so its children and blobs may follow. */
  learn(digest: string, body: Buffer | undefined): void {
    this.digests.add(digest);
    if (!body) return;
    const refs = referencesOf(body);
    for (const d of [...refs.manifests, ...refs.blobs]) this.digests.add(d.digest);
  }
}
