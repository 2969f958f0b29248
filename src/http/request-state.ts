// What a registry handler learns about a request, read back by the request log line and metrics.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CacheKind, CacheResult } from '../metrics.js';
import type { Identity } from './client-auth.js';

export interface RequestState {
  kind: 'base' | 'manifest' | 'blob' | 'tags' | 'referrers' | 'upload' | 'ops' | 'other';
  upstream?: string;
  repository?: string;
  result?: CacheResult;
  cacheKind?: CacheKind;
  /** Where the body came from, for bytes-served accounting. */
  source?: 'cache' | 'upstream';
  /** Body bytes the response was to carry (the log reports them only if the response finished). */
  bytes?: number;
  error?: string;
  /** performance.now() when the first body byte was handed to the socket. */
  firstByteAt?: number;
  /** Who pulled, when clients authenticate. */
  identity?: string;
}

/**
 * One registry API request as the registry handler sees it, whoever received it (the plain listener, or
 * hono for odd request targets: request-split.ts): no hono Context on the hot path.
 */
export interface RegistryRequest {
  readonly incoming: IncomingMessage;
  readonly outgoing: ServerResponse;
  readonly state: RequestState;
  readonly requestId: string;
  /** Set when clients authenticate. */
  readonly identity: Identity | undefined;
  /** On every answer, errors included: `x-request-id`, then the API version and the `ns` echo once the handler knows them. */
  baseHeaders: Record<string, string>;
}

export type AppEnv = {
  Bindings: { incoming: IncomingMessage; outgoing: ServerResponse };
  Variables: { state: RequestState; requestId: string; baseHeaders: Record<string, string>; identity?: Identity };
};
