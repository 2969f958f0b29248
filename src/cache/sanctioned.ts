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

  constructor(private readonly images: readonly SanctionedImage[]) {
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

  /**
   * Learns, from what is already cached, every digest the sanctioned images reference: after a restart
   * a node may ask for a layer without its manifests being served again first.
   */
  async prime(tagDigest: (image: SanctionedImage) => Promise<string | undefined>, manifest: (digest: string) => Promise<Buffer | undefined>): Promise<void> {
    for (const image of this.images) {
      const top = image.reference.includes(':') ? image.reference : await tagDigest(image);
      const pending = top ? [top] : [];
      const walked = new Set<string>();
      while (pending.length > 0) {
        const digest = pending.pop()!;
        if (walked.has(digest)) continue;
        walked.add(digest);
        const body = await manifest(digest);
        this.learn(digest, body);
        if (body) pending.push(...referencesOf(body).manifests.map((m) => m.digest));
      }
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
