// The ports to registries: how an upstream is reached, and how a request finds its upstream and repository.
//
// The storage ports live beside this file, one per port: blob-store.ts, metadata-store.ts, flight-locks.ts,
// pull-events.ts.
import type { Readable } from 'node:stream';

export interface UpstreamManifest {
  readonly body: Buffer;
  readonly mediaType: string;
  /** The upstream's Docker-Content-Digest, when it sent one. */
  readonly digest: string | undefined;
}

export interface UpstreamManifestHead {
  readonly digest: string | undefined;
  readonly mediaType: string | undefined;
  readonly size: number | undefined;
}

export interface UpstreamBlob {
  readonly size: number | undefined;
  readonly body: Readable;
}

/** One page of a tags list or referrers answer as upstream sent it (its `link` reduced to a query of the same list). */
export interface UpstreamPassthrough {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/**
 * One configured upstream registry. Every method throws OciErrors: 404 → *_UNKNOWN, 429 → TOOMANYREQUESTS,
 * a refused body → UPSTREAM_ERROR, anything else (down, timeout, 5xx) → UNAVAILABLE.
 */
export interface Upstream {
  readonly name: string;
  /** Content of a private upstream is served to a repository only once that repository is known to hold it. */
  readonly private: boolean;
  /** Never contacted: cached tags never expire, anything else is unknown. */
  readonly offline: boolean;
  /** The manifest body (bounded at 4 MiB), as upstream sent it. */
  getManifest(repository: string, reference: string, accept: string, signal: AbortSignal): Promise<UpstreamManifest>;
  /** What a reference points to, without a body (free of Docker Hub's pull quota). */
  headManifest(repository: string, reference: string, accept: string, signal: AbortSignal): Promise<UpstreamManifestHead>;
  /** The blob's body; with `from`, the bytes from that offset on (a resumed download); `size` is always the whole blob's. */
  getBlob(repository: string, digest: string, signal: AbortSignal, from?: number): Promise<UpstreamBlob>;
  /** Whether upstream holds the blob in this repository, and its size. */
  headBlob(repository: string, digest: string, signal: AbortSignal): Promise<{ size: number | undefined }>;
  /** One page of the tags list (`query`: empty, or a next page's query from its `link`); 404 → NAME_UNKNOWN. */
  listTags(repository: string, query: string, signal: AbortSignal): Promise<UpstreamPassthrough>;
  /** One page of the referrers API (`query`: empty, or a next page's); 404 (no API) → MANIFEST_UNKNOWN. */
  referrers(repository: string, digest: string, query: string, signal: AbortSignal): Promise<UpstreamPassthrough>;
}

/** Why a request was refused; a closed set, used as a metric label. */
export type DenialReason = 'unknown-registry' | 'deny-rule' | 'not-allowed' | 'client-scope' | 'sanctioned-only' | 'signature';

/** Where a request goes: which upstream, and the repository name there. */
export interface Route {
  readonly upstream: Upstream;
  readonly repository: string;
}

export interface RouteRequest {
  /** containerd's `?ns=` value, when sent. */
  readonly ns: string | undefined;
  /** The name from the path, possibly starting with a registry host prefix. */
  readonly name: string;
}

export interface Router {
  /** Maps ns / path prefix / default to a configured upstream; throws DENIED (or NAME_INVALID) for anything else. */
  resolve(request: RouteRequest): Route;
}
