// Manifests by digest: local (memory, then disk, hashed) → fetched upstream → verified → stored.
//
// Only content tender stored as a manifest (it has a manifest record naming its media type) is ever
// served as one, never a blob asked for through the manifest route, and nothing over the 4 MiB cap is
// read into memory. A record that cannot be read means "not cached": the manifest is fetched again.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { isDigest, parseDigest, type Digest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import { maxManifestBytes, upstreamAccept } from '../oci/media-types.js';
import type { Logger } from '../log.js';
import type { CacheResult, Metrics } from '../metrics.js';
import { DigestMismatchError } from './blob-store.js';
import type { CacheReads } from './cache-reads.js';
import type { CacheWrites } from './cache-writes.js';
import type { ManifestInfo, ManifestRecords } from './metadata-store.js';
import type { Route, UpstreamManifestHead } from './ports.js';
import type { PullClient } from './pull-events.js';
import { SingleFlight } from './single-flight.js';
import type { StoredBlobs } from './stored-blobs.js';
import type { Visibility } from './visibility.js';

export interface ManifestOptions {
  /** Bytes of manifests kept in memory. */
  readonly memoryBytes: number;
  /** Deadline for one upstream manifest GET or HEAD made on the cache's behalf. */
  readonly upstreamTimeoutMs: number;
}

export interface ManifestParts {
  readonly stored: StoredBlobs;
  readonly records: ManifestRecords;
  readonly visibility: Visibility;
  readonly writes: CacheWrites;
  readonly reads: CacheReads;
  /** A manifest verified and stored from upstream (the inventory records it); must not throw. */
  readonly onStored?: (route: Route, digest: string, mediaType: string, body: Buffer) => void;
}

export interface ManifestRequest {
  readonly accept: string | undefined;
  /** HEAD answers never read a body. */
  readonly head: boolean;
  /** Who asked, for the pull event; absent for the core's own walks (seed, judge). */
  readonly client?: PullClient;
}

export interface ManifestAnswer {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number | undefined;
  /** Present for GET; HEAD answers never read a body. */
  readonly body: Buffer | undefined;
  readonly result: CacheResult;
}

export interface StoredManifest extends ManifestInfo {
  readonly body: Buffer;
}

export interface FetchedManifest extends StoredManifest {
  readonly digest: string;
}

export class Manifests {
  private readonly fetches = new SingleFlight<FetchedManifest>();
  private readonly heads = new SingleFlight<UpstreamManifestHead>();
  private readonly memory: LRUCache<string, StoredManifest>;

  constructor(
    private readonly parts: ManifestParts,
    private readonly options: ManifestOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.memory = new LRUCache<string, StoredManifest>({ maxSize: Math.max(1, options.memoryBytes), sizeCalculation: (m) => Math.max(1, m.body.length) });
  }

  /** A manifest by digest: local first; a HEAD of an uncached one asks upstream with a HEAD only. */
  async byDigest(route: Route, digest: Digest, request: ManifestRequest): Promise<ManifestAnswer> {
    const local = await this.local(digest, !request.head);
    if (local) {
      if (!(await this.parts.visibility.allows(route, digest))) {
        // Cached for another repository (of a private upstream): this one must hold it too.
        await this.head(route, digest.value, request.accept);
        await this.parts.visibility.remember(route, digest);
      }
      return { digest: digest.value, ...local, result: 'hit' };
    }
    if (request.head) {
      const head = await this.head(route, digest.value, request.accept);
      await this.parts.visibility.remember(route, digest);
      return { digest: digest.value, mediaType: head.mediaType ?? 'application/octet-stream', size: head.size, body: undefined, result: 'miss' };
    }
    return { ...(await this.fetch(route, digest.value, request.accept, digest)), result: 'miss' };
  }

  /**
   * A cached manifest, or undefined, which sends the request the miss way: upstream is asked by digest,
   * and its answer for a blob (404, or an error) is what the client gets. Read from disk it is hashed.
   */
  async local(digest: Digest, withBody: boolean): Promise<{ mediaType: string; size: number; body: Buffer | undefined } | undefined> {
    // The index, not the record, says what is cached (an evicted manifest keeps its record); looking it
    // up also keeps a busy manifest recent, so eviction passes it by. Not in this replica's index:
    // another replica sharing the volume may have stored it.
    const remembered = this.remembered(digest);
    if (remembered) return remembered;
    const size = this.parts.stored.size(digest) ?? (await this.parts.stored.adopt(digest));
    if (size === undefined) {
      this.memory.delete(digest.value);
      return undefined;
    }
    // The size from the index decides before any read: a 256 MiB layer is never opened as a manifest.
    if (size > maxManifestBytes) return undefined;
    const info = await this.parts.reads.attempt('manifest', () => this.parts.records.getManifest(digest.value), undefined, { digest: digest.value });
    if (!info) return undefined;
    if (info.size !== size) {
      // Stored as a manifest of another length: the file changed on disk since.
      this.parts.stored.damaged(digest, 'manifest', `the file has ${size} bytes, the manifest ${info.size}`);
      return undefined;
    }
    if (!withBody) return { ...info, body: undefined };
    const body = await this.parts.stored.readSmall(digest, maxManifestBytes, 'manifest');
    if (!body) return undefined;
    const stored = { mediaType: info.mediaType, size: body.length, body };
    this.memory.set(digest.value, stored);
    return stored;
  }

  /**
   * A manifest committed and in memory, with no await (the memory answer's and `local`'s first step): the
   * index must still hold it, so an evicted manifest is never served from memory.
   */
  remembered(digest: Digest): StoredManifest | undefined {
    const remembered = this.memory.get(digest.value);
    return remembered && this.parts.stored.size(digest) !== undefined ? remembered : undefined;
  }

  /** A cached manifest's body (hashed when read from disk), without asking upstream. */
  async cached(digest: Digest): Promise<Buffer | undefined> {
    return (await this.local(digest, true))?.body;
  }

  /** GETs a manifest, verifies it against the digest asked for (or the one upstream claims), stores it. */
  fetch(route: Route, reference: string, accept: string | undefined, expected: Digest | undefined): Promise<FetchedManifest> {
    const upstream = route.upstream.name;
    // Shared by digest across repositories only where content is public: a private repository must not
    // receive what another repository's fetch brought in.
    const key = expected && !route.upstream.private ? expected.value : requestKey(route, reference, accept);
    return this.fetches.run(key, async () => {
      const got = await route.upstream.getManifest(route.repository, reference, upstreamAccept(accept), this.upstreamSignal());
      const claimed = expected ?? (got.digest && isDigest(got.digest) ? parseDigest(got.digest) : undefined);
      const algorithm = claimed?.algorithm ?? 'sha256';
      const actual = `${algorithm}:${createHash(algorithm).update(got.body).digest('hex')}`;
      if (claimed && claimed.value !== actual) {
        const mismatch = new DigestMismatchError(claimed.value, actual, undefined, got.body.length);
        this.metrics.digestMismatches.inc({ upstream, kind: 'manifest' });
        this.log.error(
          { upstream, repository: route.repository, reference, expected: claimed.value, actual },
          'upstream manifest does not match its digest; not cached',
        );
        throw new OciError('UPSTREAM_ERROR', mismatch.message);
      }
      const digest = claimed ?? parseDigest(actual);
      await this.parts.visibility.remember(route, digest);
      const stored = { mediaType: got.mediaType, size: got.body.length, body: got.body };
      await this.store(digest, stored, this.parts.stored.pinnedThrough(route));
      this.parts.onStored?.(route, digest.value, stored.mediaType, stored.body);
      return { digest: digest.value, ...stored };
    });
  }

  /** One upstream HEAD per repository, reference and Accept at a time, however many clients ask. */
  head(route: Route, reference: string, accept: string | undefined): Promise<UpstreamManifestHead> {
    return this.heads.run(requestKey(route, reference, accept), () =>
      route.upstream.headManifest(route.repository, reference, upstreamAccept(accept), this.upstreamSignal()),
    );
  }

  /** Records content already verified into the store as a manifest (an import); throws when the record cannot be written. */
  async adopt(digest: Digest, info: ManifestInfo): Promise<void> {
    await this.parts.records.setManifest(digest.value, info);
  }

  private async store(digest: Digest, manifest: StoredManifest, pin: boolean): Promise<void> {
    this.memory.set(digest.value, manifest);
    // The client still gets the verified manifest from memory when the disk refuses it; only the disk copy is lost.
    await this.parts.writes.attempt(
      'manifest',
      'manifest',
      async () => {
        // Record first: the body is only reachable through the index once it is committed.
        await this.parts.records.setManifest(digest.value, { mediaType: manifest.mediaType, size: manifest.size });
        await this.parts.stored.put(digest, manifest.body, pin);
      },
      { digest: digest.value },
    );
  }

  private upstreamSignal(): AbortSignal {
    // A timeout alone: AbortSignal.any() with the long-lived shutdown signal leaks on Node 20 for every
    // call (nodejs/node#55351); at shutdown the upstream clients are destroyed instead.
    return AbortSignal.timeout(this.options.upstreamTimeoutMs);
  }
}

/** Upstream requests are shared only between clients asking the same repository the same thing. */
function requestKey(route: Route, reference: string, accept: string | undefined): string {
  return `${route.upstream.name}/${route.repository}:${reference}|${upstreamAccept(accept)}`;
}
