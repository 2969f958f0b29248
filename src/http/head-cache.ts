// Prebuilt response heads of warm hits: the headers a cached manifest or blob answers with that do not change
// between requests (type, digest, ETag, length, Cache-Status: hit), built once per digest and written as
// Node's flat header list, so a hit builds no header object, ETag or length string (bench/PROFILE.md #6).
//
// Kept by digest, which names the bytes for good: a tag that moves resolves to another digest and so another
// head; a digest evicted and fetched again has the same bytes and the same head. What is not the digest's
// alone (the media type a manifest was stored as, the size) is checked on every use, and a head that no
// longer matches is built again.
import { LRUCache } from 'lru-cache';
import { cacheStatusOf, digestETag, registryHeaders } from '../oci/registry-headers.js';

interface Head {
  readonly mediaType: string;
  readonly size: number;
  readonly headers: readonly string[];
}

const hitStatus = cacheStatusOf('hit');

export class HeadCache {
  private readonly heads: LRUCache<string, Head>;

  constructor(max = 4096) {
    this.heads = new LRUCache<string, Head>({ max });
  }

  /** A manifest hit's head: content type, digest, ETag, Cache-Status, length. */
  manifest(digest: string, mediaType: string, size: number): readonly string[] {
    return this.head(`m${digest}`, digest, mediaType, size, []);
  }

  /** A whole blob hit's head (not a range): the manifest's, and `Accept-Ranges`. */
  blob(digest: string, size: number): readonly string[] {
    return this.head(`b${digest}`, digest, 'application/octet-stream', size, ['accept-ranges', 'bytes']);
  }

  private head(key: string, digest: string, mediaType: string, size: number, extra: readonly string[]): readonly string[] {
    const found = this.heads.get(key);
    if (found && found.mediaType === mediaType && found.size === size) return found.headers;
    const headers = [
      'content-type',
      mediaType,
      registryHeaders.contentDigest,
      digest,
      // As distribution sends it: the digest is a strong validator of exactly these bytes.
      'etag',
      digestETag(digest),
      ...extra,
      registryHeaders.cacheStatus,
      hitStatus,
      'content-length',
      String(size),
    ];
    this.heads.set(key, { mediaType, size, headers });
    return headers;
  }
}

/** `base` (a request's own headers: id, API version, ns echo) followed by a prebuilt head, as one flat list. */
export function withBase(base: Readonly<Record<string, string>>, head: readonly string[]): string[] {
  const headers: string[] = [];
  for (const name in base) headers.push(name, base[name]!);
  for (let i = 0; i < head.length; i++) headers.push(head[i]!);
  return headers;
}
