// A warm hit answered from memory with no await (issue 17 item 3): the first step of the facade's manifest and
// blob paths, before their async chains. It answers only when memory alone decides exactly as the async path
// would, through the same parts' synchronous halves (Tags.rememberedFresh and Tags.fresh, Manifests.remembered,
// Visibility.knows, ServePolicies.allowNow / admitBlobNow, BlobCache.hitNow); anything else (a miss, a stale
// or expired tag, a digest this repository is not known to see, a signature verdict memory cannot give
// (signature-now.ts), a pin to take, a HEAD of a blob) is undefined, and the async path decides and answers or refuses as it always did.
import { isDigest, parseDigest, type Digest } from '../oci/digest.js';
import { accepts, parseAccept } from '../oci/media-types.js';
import type { BlobAnswer } from './blob-answer.js';
import type { BlobCache } from './blob-cache.js';
import type { KnownSizes } from './known-sizes.js';
import type { ManifestAnswer, ManifestRequest, Manifests } from './manifests.js';
import type { Route } from './ports.js';
import type { ServePolicies } from './serve-policy.js';
import type { StoredBlobs } from './stored-blobs.js';
import type { Tags } from './tags.js';
import type { Visibility } from './visibility.js';

export interface MemoryAnswerParts {
  readonly tags: Tags;
  readonly manifests: Manifests;
  readonly blobs: BlobCache;
  readonly stored: StoredBlobs;
  readonly visibility: Visibility;
  readonly policies: ServePolicies;
  readonly knownSizes: KnownSizes;
}

/** Distinct Accept headers and digests kept parsed: a warm rollout repeats a handful; unique ones just cost a parse. */
const remembered = 4096;

export class MemoryAnswers {
  /** Whether an Accept header takes a media type, by header and type (the tag path parsed the same header on every hit). */
  private readonly accepted = new Map<string, Map<string, boolean>>();
  /** Parsed digests by string (a tag's record names its digest as text). */
  private readonly digests = new Map<string, Digest | undefined>();

  constructor(private readonly parts: MemoryAnswerParts) {}

  /**
   * A manifest by digest or tag from memory, or undefined. By digest: committed, in memory and known to be
   * visible to the route. By tag: a pinned tag as its digest; else the tag's record fresh in memory, of a type
   * the client accepts, and (for GET) its manifest in memory. Then every policy allows it without an await.
   */
  manifest(route: Route, reference: string, request: ManifestRequest): ManifestAnswer | undefined {
    const { tags, manifests, policies, knownSizes } = this.parts;
    let answer: ManifestAnswer;
    let tag: string | undefined;
    if (isDigest(reference) || reference.includes(':')) {
      const found = this.byDigest(route, reference);
      if (!found) return undefined;
      answer = found;
    } else {
      tag = reference;
      const pinned = tags.pinned(route, tag);
      const record = pinned === undefined ? tags.rememberedFresh(route, tag) : undefined;
      if (pinned !== undefined) {
        const found = this.byDigest(route, pinned);
        if (!found) return undefined;
        answer = found;
      } else if (!record || !this.accepts(request.accept, record.mediaType)) {
        return undefined;
      } else if (request.head) {
        answer = { digest: record.digest, mediaType: record.mediaType, size: record.size, body: undefined, result: 'hit' };
      } else {
        const digest = this.digest(record.digest);
        const stored = digest && manifests.remembered(digest);
        if (!stored) return undefined;
        answer = { digest: record.digest, mediaType: stored.mediaType, size: stored.size, body: stored.body, result: 'hit' };
      }
    }
    if (!policies.allowNow(route, reference, answer, tag)) return undefined;
    policies.served(route, answer);
    if (answer.body) knownSizes.learnManifest(route, answer.digest, answer.body);
    return answer;
  }

  /** A blob GET from memory (small bytes, or a committed file whose size nothing contradicts), or undefined. */
  blob(route: Route, reference: string, head: boolean): BlobAnswer | undefined {
    if (head) return undefined;
    const digest = this.digest(reference);
    if (!digest || !this.parts.policies.admitBlobNow(route, digest.value)) return undefined;
    const size = this.parts.stored.size(digest);
    return size === undefined ? undefined : this.parts.blobs.hitNow(route, digest, size);
  }

  private byDigest(route: Route, reference: string): ManifestAnswer | undefined {
    const digest = this.digest(reference);
    const stored = digest && this.parts.manifests.remembered(digest);
    if (!digest || !stored || !this.parts.visibility.knows(route, digest)) return undefined;
    return { digest: digest.value, mediaType: stored.mediaType, size: stored.size, body: stored.body, result: 'hit' };
  }

  private accepts(header: string | undefined, mediaType: string): boolean {
    if (header === undefined) return true;
    let byType = this.accepted.get(header);
    if (byType === undefined) {
      if (this.accepted.size >= remembered) this.accepted.clear();
      byType = new Map();
      if (header.length <= 1024) this.accepted.set(header, byType);
    }
    let taken = byType.get(mediaType);
    if (taken === undefined) {
      taken = accepts(parseAccept(header), mediaType);
      if (byType.size < 64) byType.set(mediaType, taken);
    }
    return taken;
  }

  private digest(reference: string): Digest | undefined {
    if (this.digests.has(reference)) return this.digests.get(reference);
    const digest = validDigest(reference);
    if (this.digests.size >= remembered) this.digests.clear();
    // Malformed references are not kept: they never answer from memory, and would only fill the map.
    if (digest) this.digests.set(reference, digest);
    return digest;
  }
}

/** The digest, or undefined for a malformed one (the async path answers DIGEST_INVALID). */
function validDigest(reference: string): Digest | undefined {
  try {
    return parseDigest(reference);
  } catch {
    return undefined;
  }
}
