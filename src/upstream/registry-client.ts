// One upstream registry as the core sees it (the Upstream port), over RegistryTransport: manifests and
// blobs checked as they arrive, concurrency lanes, and every failure as the OCI error a client should see.
import { finished } from 'node:stream/promises';
import pLimit, { type LimitFunction } from 'p-limit';
import type { UpstreamConfig } from '../config/upstreams.js';
import type { Upstream, UpstreamBlob, UpstreamManifest, UpstreamManifestHead, UpstreamPassthrough } from '../cache/ports.js';
import { OciError, describeError } from '../oci/errors.js';
import { registryHeaders } from '../oci/registry-headers.js';
import { formatLinkHeader, parseLinkHeader } from '../oci/link-header.js';
import { isManifestMediaType, manifestMediaType, maxManifestBytes } from '../oci/media-types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { NetworkOverrides } from './connect-options.js';
import { RegistryTransport, type SendOptions } from './registry-transport.js';
import { clip, contentLength, header, mediaTypeOf, readCapped, type Response } from './response-reading.js';
import { isOutage } from './retry-policy.js';

type Kind = 'manifest' | 'blob' | 'tags' | 'referrers';

const maxPassthroughBytes = 4 * 1024 * 1024;

export class RegistryClient implements Upstream {
  readonly name: string;
  readonly private: boolean;
  readonly offline = false;
  private readonly origin: string;
  private readonly transport: RegistryTransport;
  /** Requests beyond the upstream's concurrency wait here instead of failing, in two lanes (see limited). */
  private readonly downloadLane: LimitFunction;
  private readonly requestLane: LimitFunction;

  constructor(
    config: UpstreamConfig,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    sleep: (ms: number, signal: AbortSignal) => Promise<void>,
    network: NetworkOverrides = {},
  ) {
    this.name = config.name;
    this.private = config.private;
    this.origin = config.url;
    this.transport = new RegistryTransport(config, metrics, log, sleep, network);
    this.downloadLane = pLimit(config.concurrency);
    this.requestLane = pLimit(config.concurrency);
  }

  getManifest(repository: string, reference: string, accept: string, signal: AbortSignal): Promise<UpstreamManifest> {
    return this.limited(signal, `manifest ${repository}:${reference}`, async () => {
      const response = await this.transport.send({ method: 'GET', path: `/v2/${repository}/manifests/${reference}`, repository, accept, signal });
      await this.expectOk(response, 'manifest', repository, reference);
      const body = await readCapped(response, maxManifestBytes, `manifest ${repository}:${reference}`);
      const contentType = mediaTypeOf(response);
      // The stored type is what clients get as Content-Type: it must be a manifest type, and the body a manifest.
      const mediaType = manifestMediaType(body, contentType);
      if (mediaType === undefined) {
        throw new OciError(
          'UPSTREAM_ERROR',
          `upstream ${this.name} answered manifest ${repository}:${reference} with a body that is not a manifest (Content-Type ${clip(contentType ?? 'none')})`,
        );
      }
      return { body, mediaType, digest: header(response, registryHeaders.contentDigest) };
    });
  }

  headManifest(repository: string, reference: string, accept: string, signal: AbortSignal): Promise<UpstreamManifestHead> {
    return this.limited(signal, `manifest ${repository}:${reference}`, async () => {
      const response = await this.transport.send({ method: 'HEAD', path: `/v2/${repository}/manifests/${reference}`, repository, accept, signal });
      await this.expectOk(response, 'manifest', repository, reference);
      await response.body.dump();
      const mediaType = mediaTypeOf(response);
      return {
        digest: header(response, registryHeaders.contentDigest),
        // A HEAD has no body to check: a type that is no manifest type is not passed on (the cache then GETs).
        mediaType: isManifestMediaType(mediaType) ? mediaType!.toLowerCase() : undefined,
        size: contentLength(response),
      };
    });
  }

  getBlob(repository: string, digest: string, signal: AbortSignal, from?: number): Promise<UpstreamBlob> {
    return this.limited(
      signal,
      `blob ${repository}@${digest}`,
      async (hold) => {
        const range = from ? `bytes=${from}-` : undefined;
        const response = await this.transport.send({
          method: 'GET',
          path: `/v2/${repository}/blobs/${digest}`,
          repository,
          signal,
          ...(range ? { range } : {}),
        });
        await this.expectOk(response, 'blob', repository, digest);
        if (from) {
          // Only a 206 starting exactly at `from` continues a download; anything else starts it over.
          const total = /^bytes (\d+)-\d+\/(\d+)$/.exec(header(response, 'content-range') ?? '');
          if (response.statusCode !== 206 || !total || Number(total[1]) !== from) {
            await response.body.dump().catch(() => undefined);
            throw new OciError('UPSTREAM_ERROR', `upstream ${this.name} cannot resume ${digest} at byte ${from}`);
          }
          hold(finished(response.body));
          return { size: Number(total[2]), body: response.body };
        }
        // The slot is held until the body is consumed: a blob download is the load the limit is for.
        hold(finished(response.body));
        return { size: contentLength(response), body: response.body };
      },
      this.downloadLane,
    );
  }

  headBlob(repository: string, digest: string, signal: AbortSignal): Promise<{ size: number | undefined }> {
    return this.limited(signal, `blob ${repository}@${digest}`, async () => {
      const response = await this.transport.send({ method: 'HEAD', path: `/v2/${repository}/blobs/${digest}`, repository, signal });
      await this.expectOk(response, 'blob', repository, digest);
      await response.body.dump();
      return { size: contentLength(response) };
    });
  }

  listTags(repository: string, query: string, signal: AbortSignal): Promise<UpstreamPassthrough> {
    return this.passthrough('tags', { method: 'GET', path: `/v2/${repository}/tags/list${query}`, repository, signal });
  }

  referrers(repository: string, digest: string, query: string, signal: AbortSignal): Promise<UpstreamPassthrough> {
    return this.passthrough('referrers', { method: 'GET', path: `/v2/${repository}/referrers/${digest}${query}`, repository, signal });
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  /** What keeps this upstream from working as configured (credentials held back), for /readyz; none when fine. */
  problems(): string[] {
    const held = this.transport.backoff.problem();
    return held ? [held] : [];
  }

  /** Re-reads the credential files now (tests; the file watch does it on its own). */
  reloadCredentials(): Promise<void> {
    return this.transport.credentials.reload();
  }

  /**
   * Runs `work` in one of the upstream's slots; `hold` keeps the slot until a promise settles. Blob
   * downloads have their own lane: a few long downloads must not hold up the manifest and HEAD
   * requests every pull starts with. A request whose signal aborts while it waits leaves the queue.
   */
  private limited<T>(
    signal: AbortSignal,
    what: string,
    work: (hold: (until: Promise<unknown>) => void) => Promise<T>,
    lane: LimitFunction = this.requestLane,
  ): Promise<T> {
    const depth = (): void => void this.metrics.upstreamQueueDepth.set({ upstream: this.name }, this.downloadLane.pendingCount + this.requestLane.pendingCount);
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(new OciError('UNAVAILABLE', `upstream ${this.name}: gave up waiting for a free slot`, { cause: signal.reason }));
      signal.addEventListener('abort', onAbort, { once: true });
      void lane(async () => {
        signal.removeEventListener('abort', onAbort);
        depth();
        if (signal.aborted) return onAbort();
        let held: Promise<unknown> | undefined;
        try {
          resolve(await work((until) => (held = until)));
        } catch (err) {
          reject(this.failure(err, signal, what));
        }
        await held?.catch(() => undefined);
      });
      depth();
    });
  }

  private passthrough(kind: Kind, options: SendOptions): Promise<UpstreamPassthrough> {
    return this.limited(options.signal, `${kind} of ${options.repository}`, () => this.passthroughNow(kind, options));
  }

  /**
   * Whatever went wrong talking to the upstream, as the OCI error a client should see: no upstream
   * condition may surface as a 500. Timeouts, aborts and broken connections are an outage (503);
   * anything else the upstream sent that cannot be used is its fault (502).
   */
  private failure(err: unknown, signal: AbortSignal, what: string): OciError {
    if (err instanceof OciError) return err;
    if (signal.aborted || isOutage(err)) {
      return new OciError('UNAVAILABLE', `upstream ${this.name}: no complete answer for ${what} (${describeError(err)})`, { cause: err });
    }
    this.log.warn({ what, err: describeError(err) }, 'unusable upstream answer');
    return new OciError('UPSTREAM_ERROR', `upstream ${this.name} sent an unusable answer for ${what}: ${describeError(err)}`, { cause: err });
  }

  private async passthroughNow(kind: Kind, options: SendOptions): Promise<UpstreamPassthrough> {
    const response = await this.transport.send(options);
    if (response.statusCode === 404) {
      await response.body.dump();
      const what = kind === 'referrers' ? 'referrers' : 'repository';
      throw new OciError(kind === 'referrers' ? 'MANIFEST_UNKNOWN' : 'NAME_UNKNOWN', `${what} not found upstream (${this.name})`);
    }
    // A client's own mistake (a bad `n`, say) answered 400 upstream is passed back as it is, not as a 502.
    const clientMistake = response.statusCode === 400 || response.statusCode === 422;
    if (!clientMistake) await this.expectOk(response, kind, options.repository, '');
    const body = await readCapped(response, maxPassthroughBytes, `${kind} of ${options.repository}`);
    const passed: Record<string, string> = {};
    for (const name of ['content-type', registryHeaders.ociFiltersApplied.toLowerCase()]) {
      const value = header(response, name);
      if (value) passed[name] = value;
    }
    const link = this.sameResourceLinks(header(response, 'link'), options.path);
    if (link) passed.link = link;
    return { status: response.statusCode, headers: passed, body };
  }

  /**
   * Pagination links that name this same resource on this upstream, each reduced to its query
   * (`<?last=b&n=2>; rel="next"`): the HTTP layer puts the mirror's own path in front. An entry naming
   * another host or another path could send a client anywhere, so it is dropped.
   */
  private sameResourceLinks(value: string | undefined, path: string): string | undefined {
    if (!value) return undefined;
    const requested = new URL(this.origin + path);
    const kept = parseLinkHeader(value).flatMap((entry) => {
      let target: URL;
      try {
        target = new URL(entry.target, requested);
      } catch {
        return [];
      }
      if (target.origin !== requested.origin || target.pathname !== requested.pathname) return [];
      return [{ target: target.search || '?', rel: entry.rel }];
    });
    return kept.length > 0 ? formatLinkHeader(kept) : undefined;
  }

  /** Maps a non-2xx answer to the OCI error a client should see. */
  private async expectOk(response: Response, kind: Kind, repository: string, reference: string): Promise<void> {
    const status = response.statusCode;
    if (status >= 200 && status < 300) return;
    await response.body.dump().catch(() => undefined);
    const what = `${this.name}/${repository}${reference ? `${reference.includes(':') ? '@' : ':'}${reference}` : ''}`;
    if (status === 404) {
      throw new OciError(kind === 'blob' ? 'BLOB_UNKNOWN' : 'MANIFEST_UNKNOWN', `${kind} not found upstream: ${what}`);
    }
    if (status === 401 || status === 403) throw new OciError('DENIED', `upstream ${this.name} refused access to ${repository} (${status})`);
    if (status === 429) {
      const retryAfter = header(response, 'retry-after');
      throw new OciError('TOOMANYREQUESTS', `upstream ${this.name} is rate limiting`, retryAfter ? { headers: { 'Retry-After': retryAfter } } : {});
    }
    throw new OciError(status >= 500 ? 'UNAVAILABLE' : 'UPSTREAM_ERROR', `upstream ${this.name} answered ${status} for ${what}`);
  }
}
