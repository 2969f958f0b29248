// A scripted upstream registry for unit tests of the core: content pushed per repository, every call
// recorded, and switches for an upstream that is down, one that never answers, and blob bodies held
// half-way (so a test decides when a download ends).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Upstream, UpstreamBlob, UpstreamManifest, UpstreamManifestHead, UpstreamPassthrough } from '../../../src/cache/ports.js';
import { OciError } from '../../../src/oci/errors.js';
import { mediaTypes } from '../../../src/oci/media-types.js';

export const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export interface UpstreamCall {
  readonly method: 'getManifest' | 'headManifest' | 'getBlob' | 'headBlob' | 'listTags' | 'referrers';
  readonly repository: string;
  readonly reference: string;
}

export interface PushedImage {
  readonly digest: string;
  readonly manifest: Buffer;
  readonly config: string;
  readonly layers: readonly string[];
  /** Bytes of each blob (config and layers), by digest. */
  readonly blobs: ReadonlyMap<string, Buffer>;
}

export class ScriptedUpstream implements Upstream {
  readonly private: boolean;
  readonly offline: boolean;
  readonly calls: UpstreamCall[] = [];
  /** When set, every call rejects with it (an upstream that is down). */
  failure: unknown;
  /** When set, every call waits until its signal aborts (an upstream that does not answer). */
  hang = false;
  /** When set, every call is recorded and then waits for it (see pause()). */
  private paused: Promise<void> | undefined;
  /** Whether upstream has the referrers API; without it, GET …/referrers/… is a 404 (MANIFEST_UNKNOWN from the client). */
  referrersApi = true;
  /** What the referrers API lists, by subject digest (descriptors as upstream sends them, good or bad). */
  readonly referrerLists = new Map<string, unknown[]>();
  /** Entries per page of the referrers API and the tags list (a Link to the next page); all on one page when unset. */
  pageSize: number | undefined;
  private readonly manifests = new Map<string, { body: Buffer; mediaType: string }>();
  private readonly tags = new Map<string, string>();
  private readonly blobs = new Map<string, Buffer>();
  private held: { promise: Promise<void>; release: () => void } | undefined;

  constructor(
    readonly name = 'registry.test',
    options: { private?: boolean; offline?: boolean } = {},
  ) {
    this.private = options.private ?? false;
    this.offline = options.offline ?? false;
  }

  pushBlob(repository: string, bytes: Buffer): string {
    const digest = sha256(bytes);
    this.blobs.set(`${repository}@${digest}`, bytes);
    return digest;
  }

  pushManifest(repository: string, body: Buffer, mediaType: string, tag?: string): string {
    const digest = sha256(body);
    this.manifests.set(`${repository}@${digest}`, { body, mediaType });
    if (tag) this.tags.set(`${repository}:${tag}`, digest);
    return digest;
  }

  /** An OCI image of the given layers (a config is made from `seed`), tagged when `tag` is given. */
  pushImage(repository: string, tag: string | undefined, layers: readonly Buffer[], seed = 'seed'): PushedImage {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
    const blobs = new Map<string, Buffer>([[this.pushBlob(repository, config), config]]);
    for (const layer of layers) blobs.set(this.pushBlob(repository, layer), layer);
    const [configDigest, ...layerDigests] = [...blobs.keys()];
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: mediaTypes.ociManifest,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: layers.map((layer, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigests[i], size: layer.length })),
      }),
    );
    const digest = this.pushManifest(repository, manifest, mediaTypes.ociManifest, tag);
    return { digest, manifest, config: configDigest!, layers: layerDigests, blobs };
  }

  /** Points `tag` at another digest (a tag re-pushed upstream); undefined deletes it. */
  retag(repository: string, tag: string, digest: string | undefined): void {
    if (digest === undefined) this.tags.delete(`${repository}:${tag}`);
    else this.tags.set(`${repository}:${tag}`, digest);
  }

  /** Serves `body` for `digest` from now on: content that does not match its digest (a poisoned upstream or cache in between). */
  tamper(repository: string, digest: string, body: Buffer): void {
    const manifest = this.manifests.get(`${repository}@${digest}`);
    if (manifest) this.manifests.set(`${repository}@${digest}`, { ...manifest, body });
    else this.blobs.set(`${repository}@${digest}`, body);
  }

  /** From now on blob bodies stop half-way until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    const promise = new Promise<void>((resolve) => (release = resolve));
    this.held = { promise, release };
    return () => {
      this.held = undefined;
      release();
    };
  }

  /** From now on every call is recorded and waits until the returned function is called: a test decides who came first. */
  pause(): () => void {
    let release!: () => void;
    this.paused = new Promise<void>((resolve) => (release = resolve));
    return () => {
      this.paused = undefined;
      release();
    };
  }

  count(method: UpstreamCall['method'], reference?: string): number {
    return this.calls.filter((c) => c.method === method && (reference === undefined || c.reference === reference)).length;
  }

  async getManifest(repository: string, reference: string, _accept: string, signal: AbortSignal): Promise<UpstreamManifest> {
    await this.answer({ method: 'getManifest', repository, reference }, signal);
    const { digest, manifest } = this.lookup(repository, reference);
    return { body: manifest.body, mediaType: manifest.mediaType, digest };
  }

  async headManifest(repository: string, reference: string, _accept: string, signal: AbortSignal): Promise<UpstreamManifestHead> {
    await this.answer({ method: 'headManifest', repository, reference }, signal);
    const { digest, manifest } = this.lookup(repository, reference);
    return { digest, mediaType: manifest.mediaType, size: manifest.body.length };
  }

  async getBlob(repository: string, digest: string, signal: AbortSignal, from = 0): Promise<UpstreamBlob> {
    await this.answer({ method: 'getBlob', repository, reference: digest }, signal);
    const bytes = this.blob(repository, digest).subarray(from);
    const held = this.held;
    const half = Math.floor(bytes.length / 2);
    async function* body(): AsyncGenerator<Buffer> {
      if (!held) {
        yield bytes;
        return;
      }
      yield bytes.subarray(0, half);
      await held.promise;
      yield bytes.subarray(half);
    }
    return { size: bytes.length + from, body: Readable.from(body(), { objectMode: false }) };
  }

  async headBlob(repository: string, digest: string, signal: AbortSignal): Promise<{ size: number | undefined }> {
    await this.answer({ method: 'headBlob', repository, reference: digest }, signal);
    return { size: this.blob(repository, digest).length };
  }

  /** Tags in the order they were pushed (not sorted: the core orders them), paged by `pageSize` with `?page=`. */
  async listTags(repository: string, query: string, signal: AbortSignal): Promise<UpstreamPassthrough> {
    await this.answer({ method: 'listTags', repository, reference: `tags${query}` }, signal);
    const tags = [...this.tags.keys()].filter((k) => k.startsWith(`${repository}:`)).map((k) => k.slice(repository.length + 1));
    if (tags.length === 0) throw new OciError('NAME_UNKNOWN', `${this.name}/${repository} is not known upstream`);
    const { items, link } = this.page(tags, query);
    const body = Buffer.from(JSON.stringify({ name: repository, tags: items }));
    return { status: 200, headers: { 'content-type': 'application/json', ...(link ? { link } : {}) }, body };
  }

  async referrers(repository: string, digest: string, query: string, signal: AbortSignal): Promise<UpstreamPassthrough> {
    await this.answer({ method: 'referrers', repository, reference: `${digest}${query}` }, signal);
    if (!this.referrersApi) throw new OciError('MANIFEST_UNKNOWN', `referrers not found upstream (${this.name})`);
    const { items, link } = this.page(this.referrerLists.get(digest) ?? [], query);
    const index = { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: items };
    return { status: 200, headers: { 'content-type': mediaTypes.ociIndex, ...(link ? { link } : {}) }, body: Buffer.from(JSON.stringify(index)) };
  }

  /** One page of a list, and the link to the next as the upstream client hands it on (reduced to its query). */
  private page<T>(all: readonly T[], query: string): { items: readonly T[]; link: string | undefined } {
    if (this.pageSize === undefined) return { items: all, link: undefined };
    const start = Number(new URLSearchParams(query).get('page') ?? '0') * this.pageSize;
    const items = all.slice(start, start + this.pageSize);
    const more = start + this.pageSize < all.length;
    return { items, link: more ? `<?page=${start / this.pageSize + 1}>; rel="next"` : undefined };
  }

  private async answer(call: UpstreamCall, signal: AbortSignal): Promise<void> {
    this.calls.push(call);
    if (this.paused) await this.paused;
    if (this.hang) {
      await new Promise((_, reject) => {
        if (signal.aborted) reject(signal.reason as Error);
        signal.addEventListener('abort', () => reject(new OciError('UNAVAILABLE', 'upstream did not answer in time')), { once: true });
      });
    }
    if (this.failure !== undefined) throw this.failure;
  }

  private lookup(repository: string, reference: string): { digest: string; manifest: { body: Buffer; mediaType: string } } {
    const digest = reference.includes(':') ? reference : this.tags.get(`${repository}:${reference}`);
    const manifest = digest === undefined ? undefined : this.manifests.get(`${repository}@${digest}`);
    if (!manifest || !digest) throw new OciError('MANIFEST_UNKNOWN', `${this.name}/${repository}:${reference} is not known upstream`);
    return { digest, manifest };
  }

  private blob(repository: string, digest: string): Buffer {
    const bytes = this.blobs.get(`${repository}@${digest}`);
    if (!bytes) throw new OciError('BLOB_UNKNOWN', `${this.name}/${repository}@${digest} is not known upstream`);
    return bytes;
  }
}
