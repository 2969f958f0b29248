// What a registry handler learns about a request, read back by the request log line and metrics.
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

export type AppEnv = {
  Bindings: { incoming: import('node:http').IncomingMessage; outgoing: import('node:http').ServerResponse };
  Variables: { state: RequestState; requestId: string; baseHeaders: Record<string, string>; identity?: Identity };
};
