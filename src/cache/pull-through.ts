// The core's front: what the HTTP layer (manifest, blob, listTags, referrers) and the CLI (image, prefetch,
// adopt, …) call. Each job is a part of its own; docs/architecture.md says which and why.
import type { Readable } from 'node:stream';
import { isDigest, parseDigest } from '../oci/digest.js';
import { isOciError, OciError } from '../oci/errors.js';
import { isValidTag } from '../oci/names.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { adoptImage, type AdoptedImage } from './adoption.js';
import { BlobCache, type BlobAnswer } from './blob-cache.js';
import { DigestMismatchError } from './blob-store.js';
import { CacheReads } from './cache-reads.js';
import { CacheWrites } from './cache-writes.js';
import { ClusterFlight } from './cluster-flight.js';
import { walkImage, type ManifestSource, type WalkedImage } from './image-walk.js';
import { cachedDigests, cachedManifests, storedKind } from './cached-images.js';
import { KnownSizes } from './known-sizes.js';
import { Listings } from './listings.js';
import { Manifests, type ManifestAnswer, type ManifestRequest } from './manifests.js';
import { MemoryAnswers } from './memory-answers.js';
import type { CoreOptions, CorePorts } from './core-ports.js';
import type { DenialReason, Route } from './ports.js';
import * as signing from './core-signatures.js';
import type { Inventory } from './inventory.js';
import type { InventoryQueries } from './inventory-queries.js';
import type { RecordSource } from './inventory-record.js';
import { wireInventory } from './inventory-wiring.js';
import { announce, pullEventOf } from './pull-event-of.js';
import type { ReferrersAnswer } from './referrers.js';
import type { TagListAnswer } from './tag-lists.js';
import type { TagPage } from '../oci/tag-list.js';
import { ServePolicies, type Judgement } from './serve-policy.js';
import { StoredBlobs } from './stored-blobs.js';
import { Tags } from './tags.js';
import { Visibility } from './visibility.js';

export type { BlobAnswer, ManifestAnswer, AdoptedImage, WalkedImage, ReferrersAnswer, TagListAnswer };

export type { CoreOptions, CorePorts } from './core-ports.js';

export class PullThrough {
  /** Every cache write on the request path goes through here (counted, logged per interval, readiness). */
  private readonly writes: CacheWrites;
  private readonly shutdown = new AbortController();
  private readonly knownSizes = new KnownSizes();
  private readonly stored: StoredBlobs;
  private readonly visibility: Visibility;
  private readonly blobs: BlobCache;
  private readonly manifests: Manifests;
  private readonly tags: Tags;
  private readonly listings: Listings;
  private readonly policies: ServePolicies;
  /** The inventory: `start()` writes in batches (serve), `close()` what is left; `verdict()` fills a record's trust part. */
  readonly inventory: Inventory;
  /** The inventory's answers (API, CLI, web page). */
  readonly queries: InventoryQueries;
  private readonly signatures: signing.SignaturePolicy | undefined;
  /** Warm hits answered with no await, the first step of `manifest` and `blob`; `blobNow` is the HTTP layer's. */
  private readonly memory: MemoryAnswers;
  readonly blobNow = (route: Route, reference: string, head: boolean): BlobAnswer | undefined => this.memory.blob(route, reference, head);

  constructor(
    private readonly ports: CorePorts,
    options: CoreOptions,
    metrics: Metrics,
    private readonly log: Logger,
  ) {
    const clock = options.tags.clock ?? Date.now;
    const writes = (this.writes = new CacheWrites(metrics, log, clock));
    const reads = new CacheReads(metrics, log, clock);
    const stored = (this.stored = new StoredBlobs(ports.store, options.stored, metrics, log, writes, ports.news));
    const visibility = (this.visibility = new Visibility(ports.metadata, writes, reads));
    const cluster = new ClusterFlight(ports.locks, options.cluster);
    const blobParts = { stored, store: ports.store, cluster, visibility, knownSizes: this.knownSizes, writes };
    this.blobs = new BlobCache(blobParts, options.blobs, this.shutdown.signal, metrics, log);
    const wired = wireInventory({ stored, visibility, writes, metadata: ports.metadata }, ports.inventory, options.inventory, clock, metrics, log);
    this.inventory = wired.inventory;
    this.queries = wired.queries;
    const { onStored, onTag, onVerdict } = wired;
    this.manifests = new Manifests({ stored, records: ports.metadata, visibility, writes, reads, onStored }, options.manifests, metrics, log);
    const tagParts = { records: ports.metadata, visibility, writes, reads, onTag, ...(ports.revalidationLocks ? { locks: ports.revalidationLocks } : {}) };
    this.tags = new Tags(this.manifests, tagParts, options.tags, metrics, log);
    const tags = this.tags;
    const listingParts = {
      records: ports.metadata,
      writes,
      reads,
      resolveTag: (route: Route, tag: string, request: ManifestRequest) => tags.resolve(route, tag, request),
    };
    const freshness = { ttlMs: options.tags.ttlMs, staleTimeoutMs: options.tags.staleTimeoutMs, clock };
    this.listings = new Listings(listingParts, options.listings, freshness, log);
    const signatureParts = { tags, manifests: this.manifests, blobs: this.blobs, stored, listings: this.listings, knownSizes: this.knownSizes, reads, writes };
    const trust = { keys: ports.keys, records: ports.metadata, onVerdict };
    this.signatures = signing.buildSignaturePolicy({ ...signatureParts, ...trust }, options.signatures, metrics, log);
    this.policies = new ServePolicies(this.signatures ? [...options.policies, this.signatures] : options.policies);
    this.memory = new MemoryAnswers({ ...signatureParts, visibility, policies: this.policies });
  }

  // ---- the registry API ------------------------------------------------------------------------

  /** A client's manifest request: the answer, announced as a pull event (audit and inventory) when the request names its client. */
  async manifest(route: Route, reference: string, request: ManifestRequest): Promise<ManifestAnswer> {
    return this.manifestNow(route, reference, request) ?? this.announced(route, reference, request, await this.resolve(route, reference, request));
  }

  /** A manifest answered from memory with no await (memory-answers.ts), announced as `manifest` does; else undefined. */
  manifestNow(route: Route, reference: string, request: ManifestRequest): ManifestAnswer | undefined {
    const answer = this.memory.manifest(route, reference, request);
    return answer && this.announced(route, reference, request, answer);
  }

  private announced(route: Route, reference: string, request: ManifestRequest, answer: ManifestAnswer): ManifestAnswer {
    const tag = isDigest(reference) ? undefined : reference;
    if (request.client) announce(pullEventOf(route, tag, answer, request.head, request.client, this.tags.clock()), this.inventory, this.ports.events);
    return answer;
  }

  /** A manifest through the pull path (policies, tags, manifests), without announcing it: seed and judge use it too. */
  private async resolve(route: Route, reference: string, request: ManifestRequest, judging = true): Promise<ManifestAnswer> {
    // A reference with a ":" can only be meant as a digest: a malformed one is DIGEST_INVALID (400).
    const tag = isDigest(reference) || reference.includes(':') ? undefined : reference;
    if (tag === undefined) parseDigest(reference);
    else if (!isValidTag(tag)) {
      // No repository holds a tag the grammar forbids: the spec's 404 for a manifest not found (the
      // conformance suite asks for `.INVALID_MANIFEST_NAME`), as distribution answers, and no upstream request.
      throw new OciError('MANIFEST_UNKNOWN', `manifest unknown: "${clip(tag)}" is not a valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})`);
    }
    this.policies.enforceScreen(route, reference);
    const answer = tag === undefined ? await this.manifests.byDigest(route, parseDigest(reference), request) : await this.tags.resolve(route, tag, request);
    // No await at all on the hot path unless a policy judges (signatures).
    if (judging && this.policies.judging) await this.policies.enforceJudgement(route, tag === undefined ? answer : { ...answer, tag });
    this.policies.served(route, answer);
    // The sizes it gives its blobs bound their downloads through this repository.
    if (answer.body) this.knownSizes.learnManifest(route, answer.digest, answer.body);
    return answer;
  }

  async blob(route: Route, reference: string, request: { head: boolean }): Promise<BlobAnswer> {
    const now = this.memory.blob(route, reference, request.head);
    if (now) return now;
    const digest = parseDigest(reference);
    await this.policies.screenBlob(route, digest.value);
    return this.blobs.blob(route, digest, request);
  }

  /** One page of the repository's tags list (`n` after `last`), in the spec's order, whatever upstream does. */
  async listTags(route: Route, page: TagPage): Promise<TagListAnswer> {
    return this.listings.tags(route, page);
  }

  /**
   * The referrers of a digest in the route's repository, of `artifactType` only when given: the upstream's
   * referrers API, else its referrers tag, else none; cached, served stale and offline (referrers.ts).
   * The one lookup for the HTTP route and the signature policy; it runs no serve policy itself.
   */
  async referrers(route: Route, digest: string, artifactType?: string): Promise<ReferrersAnswer> {
    return this.listings.referrers(route, parseDigest(digest), artifactType);
  }

  /**
   * Whether `reference` would be served through `route`, as a verdict instead of an error: the same
   * policies as a pull, on the digest the cache would serve (a tag resolves as a pull resolves it).
   * For `tender check` and the admission endpoints (issue 14). Outages throw as they do for a pull.
   */
  async judge(route: Route, reference: string): Promise<Judgement> {
    const screened = this.policies.screen(route, reference);
    if (!screened.allowed) return screened;
    try {
      const answer = await this.resolve(route, reference, { accept: undefined, head: false });
      return { allowed: true, digest: answer.digest };
    } catch (err) {
      if (!isOciError(err) || err.code !== 'DENIED') throw err;
      const reason = (err.detail as { reason?: DenialReason } | undefined)?.reason ?? 'not-allowed';
      return { allowed: false, reason, message: err.message };
    }
  }

  /** The signature verdict on a tag (resolved as a pull does) or digest, for `tender check` and admission: see signature-verdict.ts. */
  async signatureVerdict(route: Route, reference: string, options: { signal?: AbortSignal } = {}): Promise<signing.SignatureVerdict> {
    const answer = await this.resolve(route, reference, { accept: undefined, head: false }, false);
    return signing.verdictOf(this.signatures, route, reference, answer, options.signal);
  }

  // ---- what the CLI needs ----------------------------------------------------------------------

  /** An image's manifests and blobs, through the pull path, or from the cache only (children not cached are left out). */
  async image(
    route: Route,
    reference: string,
    options: { platforms?: readonly string[]; cachedOnly?: boolean; source?: RecordSource } = {},
  ): Promise<WalkedImage> {
    const started = this.tags.clock();
    const walked = await this.walk(route, reference, options);
    const digests = walked.manifests.map((m) => m.digest);
    if (options.source) this.inventory.sourced(digests, options.source, started);
    return walked;
  }

  private async walk(route: Route, reference: string, options: { platforms?: readonly string[]; cachedOnly?: boolean }): Promise<WalkedImage> {
    const top = await this.resolve(route, reference, { accept: undefined, head: false });
    const source: ManifestSource = options.cachedOnly
      ? cachedManifests(this.manifests)
      : async (child) => {
          const answer = await this.resolve(route, child.digest, { accept: undefined, head: false });
          return { mediaType: answer.mediaType, body: answer.body! };
        };
    return walkImage({ digest: top.digest, mediaType: top.mediaType, body: top.body! }, source, options.platforms);
  }

  /** The signatures, attestations and SBOMs attached to `digests`, for seed and export (attachments.ts). */
  attachments(route: Route, digests: readonly string[], options: { cachedOnly?: boolean } = {}): Promise<signing.FoundAttachments> {
    const head = (tag: string) => this.resolve(route, tag, { accept: undefined, head: true }, false);
    return signing.findAttachments(signing.attachmentLookup({ tags: this.tags, listings: this.listings, head }, route, options.cachedOnly ?? false), digests);
  }

  /** Resolves once the blob is committed (fetched, joined or cached already); see BlobCache.prefetch. */
  async prefetch(route: Route, reference: string, options: { pin: boolean; onBytes?: (bytes: number) => void }): Promise<{ fetched: number }> {
    const digest = parseDigest(reference);
    await this.policies.screenBlob(route, digest.value);
    return this.blobs.prefetch(route, digest, options);
  }

  /** Pins cached content for good (it survives eviction). */
  async pin(reference: string): Promise<void> {
    await this.stored.pin(parseDigest(reference));
  }

  /** Size of a committed blob, or undefined when it is not cached. */
  cachedSize(reference: string): number | undefined {
    return this.stored.size(parseDigest(reference));
  }

  /** A committed blob's bytes as stored (export); the stream errors when it is gone. */
  readCached(reference: string): Readable {
    return this.stored.stream(parseDigest(reference));
  }

  /** Stores content that arrives as a stream (import), pinned, verified while written: false with the reason when it does not match. */
  async storeVerified(
    reference: string,
    size: number | undefined,
    chunks: AsyncIterable<Buffer>,
  ): Promise<{ stored: true } | { stored: false; reason: string }> {
    try {
      await this.stored.putStream(parseDigest(reference), size, chunks, true);
      return { stored: true };
    } catch (err) {
      if (err instanceof DigestMismatchError) return { stored: false, reason: err.message };
      throw err;
    }
  }

  /** Records an image whose content is in the store (import): manifests, pins, visibility, tag, inventory; throws AdoptionError. */
  async adopt(image: AdoptedImage & { readonly bundle?: string }): Promise<void> {
    const parts = { stored: this.stored, manifests: this.manifests, tags: this.tags, visibility: this.visibility };
    const at = { upstream: image.route.upstream.name, repository: image.route.repository };
    const onWalked = (manifests: ReadonlyArray<{ digest: string; mediaType: string }>) => this.inventory.adopted(at, manifests, 'import', image.bundle);
    await adoptImage(parts, image, this.tags.clock(), onWalked);
  }

  /** Every tag with a record (export). */
  async *cachedTags(): AsyncIterable<{ upstream: string; repository: string; tag: string }> {
    for await (const { upstream, repository, tag } of this.ports.metadata.listTags()) yield { upstream, repository, tag };
  }

  /** Indexes what the store holds and lets policies learn from it; before any request. */
  async open(): Promise<{ count: number; bytes: number }> {
    await this.inventory.open();
    const indexed = await this.stored.rebuild();
    await this.policies.prime({ digests: (route, reference) => cachedDigests({ manifests: this.manifests, tags: this.tags }, route, reference) });
    return indexed;
  }

  /** Starts the background scrub (when it has a rate) and the sweep of stale visibility links; they end at close(). Serving only. */
  startScrub(): void {
    this.stored.startScrub(storedKind(this.ports.metadata), this.shutdown.signal);
    const isCached = (digest: string): boolean => isDigest(digest) && this.stored.size(parseDigest(digest)) !== undefined;
    void this.visibility.sweep(isCached, this.shutdown.signal).then((n) => n > 0 && this.log.info({ links: n }, 'visibility links of evicted content removed'));
  }

  /** What keeps this replica from serving well: a disk or metadata store that takes no writes, or failing writes. */
  async readiness(): Promise<string[]> {
    // A real write, not access(W_OK): a full disk passes that, and a read-only bind mount may too.
    const problems = await this.writes.problems(async () => {
      await this.ports.store.probe();
      await this.ports.metadata.probe();
    });
    await this.ports.metadata.getManifest('sha256:readiness').catch(() => problems.push('metadata store unreachable'));
    return problems;
  }

  /** Aborts every flight still running (used at shutdown after the drain deadline). */
  close(): void {
    this.shutdown.abort(new Error('tender is shutting down'));
  }
}

const clip = (text: string): string => (text.length > 80 ? `${text.slice(0, 80)}…` : text);
