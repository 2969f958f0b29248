// The OCI pull API: parse path and ns, route, ask the core, set the headers clients rely on, stream.
// Every answer is written straight to Node's response (reply.ts, send-file.ts): the hot path builds no
// Response, Headers or web stream. HEAD is decided here: the core is asked with `head`, no body is opened.
// A warm hit takes no await: the core's memory answer (manifestNow, blobNow) is asked first, and its
// head is a prebuilt one (head-cache.ts); anything else goes the core's async way.
import type { IncomingMessage } from 'node:http';
import type { PullThrough } from '../cache/pull-through.js';
import type { DenialReason, Route, Router } from '../cache/ports.js';
import type { PullClient } from '../cache/pull-events.js';
import { isDigest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import { apiVersionValue, cacheStatusOf, digestETag, registryHeaders } from '../oci/registry-headers.js';
import type { BlobAnswer, ManifestAnswer } from '../cache/pull-through.js';
import { contentRange, ifRangeAllows, parseRange } from '../oci/range.js';
import { parseRegistryPath, type RegistryPath } from '../oci/registry-path.js';
import { replyReferrers, replyTags } from './listing-routes.js';
import { HeadCache, withBase } from './head-cache.js';
import { reply } from './reply.js';
import type { RegistryRequest } from './request-state.js';
import { sendFile, type BufferPool } from './send-file.js';

/** What the registry routes ask of the core. */
export type RegistryCore = Pick<PullThrough, 'manifest' | 'blob' | 'listTags' | 'referrers'> & Partial<Pick<PullThrough, 'manifestNow' | 'blobNow'>>;

export interface RegistryDeps {
  readonly pullThrough: RegistryCore;
  readonly router: Router;
  /** Read buffers shared by every response served from disk. */
  readonly buffers: BufferPool;
}

/** Answers one registry request: synchronously for a warm hit, else through the returned promise; an error is thrown or rejected. */
export type RegistryHandler = (request: RegistryRequest) => void | Promise<void>;

/** Parsed paths and routes remembered per handler: a warm node rollout asks for the same few URLs thousands of times. */
const rememberedUrls = 4096;

/** A bounded memo: cleared whole when full (hits repeat a small set; an attacker's unique URLs just cost a parse). */
function memo<T>(): { get(key: string, make: () => T): T } {
  const entries = new Map<string, T>();
  return {
    get(key, make) {
      // Long keys are hostile or odd: never kept, so the memo stays small whatever clients send.
      if (key.length > 512) return make();
      const found = entries.get(key);
      if (found !== undefined || entries.has(key)) return found as T;
      const made = make();
      if (entries.size >= rememberedUrls) entries.clear();
      entries.set(key, made);
      return made;
    },
  };
}

/** A request target as the handler reads it: path, query, containerd's `ns`, the parsed registry path and its route. */
interface Target {
  readonly pathname: string;
  /** The query without its `?`; undefined when there is none. */
  readonly search: string | undefined;
  readonly ns: string | undefined;
  /** Whether `ns` may be echoed: only a plain token (a decoded ns may carry CR/LF or other bytes no header may hold). */
  readonly echoNs: boolean;
  readonly path: RegistryPath | undefined;
  /** Set once resolved: a route that throws (a denied repository) is never remembered. */
  route?: Route;
}

function targetOf(raw: string): Target {
  const queryAt = raw.indexOf('?');
  const pathname = queryAt === -1 ? raw : raw.slice(0, queryAt);
  const search = queryAt === -1 ? undefined : raw.slice(queryAt + 1);
  const ns = search === undefined ? undefined : (new URLSearchParams(search).get('ns') ?? undefined);
  return { pathname, search, ns, echoNs: ns !== undefined && /^[\x21-\x7e]{1,255}$/.test(ns), path: parseRegistryPath(pathname) };
}

export function registryHandler(deps: RegistryDeps): RegistryHandler {
  // Parsing is pure and routing is fixed for the process's life: both are remembered per request target (the
  // whole target: containerd's every request carries `?ns=`), instead of redone on every hit.
  const targets = memo<Target>();
  const heads = new HeadCache();
  return (r) => {
    const target = targets.get(r.incoming.url ?? '/', () => targetOf(r.incoming.url ?? '/'));
    const { pathname, ns, path } = target;
    const base = r.baseHeaders;
    base[registryHeaders.apiVersion] = apiVersionValue;
    if (target.echoNs) base[registryHeaders.ociNamespace] = ns!;

    const state = r.state;
    if (!path) throw new OciError('NAME_UNKNOWN', 'not a registry API path');
    state.kind = path.kind;
    const method = r.incoming.method;
    const head = method === 'HEAD';
    if (path.kind === 'upload' || (method !== 'GET' && method !== 'HEAD')) {
      throw new OciError('UNSUPPORTED', 'this registry is a read-only mirror: push and delete are not supported', { headers: { allow: 'GET, HEAD' } });
    }
    if (path.kind === 'base') return void reply(r.outgoing, 200, { ...base, 'content-type': 'application/json', 'content-length': '2' }, '{}');

    // An empty ns (`?ns=`, `?ns`) is not an absent one: the router tells them apart.
    const route = (target.route ??= deps.router.resolve({ ns, name: path.name }));
    state.upstream = route.upstream.name;
    state.repository = route.repository;
    const identity = r.identity;
    if (identity && !identity.allows(`${route.upstream.name}/${route.repository}`)) {
      throw new OciError('DENIED', `${identity.name} may not pull ${route.upstream.name}/${route.repository}`, {
        detail: { reason: 'client-scope' satisfies DenialReason, upstream: route.upstream.name },
      });
    }
    // A request that announces a body is answered a turn later, never at once: Node's parser may still find its
    // framing malformed (`Transfer-Encoding: identity`), and that must be answered 400 (malformed-requests.ts).
    const now = r.incoming.headers['content-length'] === undefined && r.incoming.headers['transfer-encoding'] === undefined;
    switch (path.kind) {
      case 'manifest': {
        state.cacheKind = isDigest(path.reference) ? 'manifest' : 'tag';
        const request = { accept: header(r.incoming, 'accept'), head, client: clientOf(r) };
        const hit = now ? deps.pullThrough.manifestNow?.(route, path.reference, request) : undefined;
        if (hit) return sendManifest(r, heads, hit, head);
        return deps.pullThrough.manifest(route, path.reference, request).then((answer) => sendManifest(r, heads, answer, head));
      }
      case 'blob': {
        state.cacheKind = 'blob';
        const hit = now ? deps.pullThrough.blobNow?.(route, path.digest, head) : undefined;
        if (hit) return sendBlob(r, deps, heads, path.digest, hit, head);
        return deps.pullThrough.blob(route, path.digest, { head }).then((answer) => sendBlob(r, deps, heads, path.digest, answer, head));
      }
      case 'tags':
        return replyTags(r, deps.pullThrough, route, path.name, base, { pathname, query: new URLSearchParams(target.search), ns });
      case 'referrers':
        return replyReferrers(r, deps.pullThrough, route, path.digest, base, new URLSearchParams(target.search));
    }
  };
}

function sendManifest(r: RegistryRequest, heads: HeadCache, answer: ManifestAnswer, head: boolean): void {
  const state = r.state;
  state.result = answer.result;
  state.source = answer.result === 'miss' ? 'upstream' : 'cache';
  const size = answer.body?.length ?? answer.size;
  state.bytes = head ? 0 : (answer.body?.length ?? 0);
  if (!head) state.firstByteAt = performance.now();
  const body = head ? undefined : answer.body;
  if (answer.result === 'hit' && size !== undefined) {
    r.outgoing.writeHead(200, withBase(r.baseHeaders, heads.manifest(answer.digest, answer.mediaType, size))).end(body);
    return;
  }
  const headers: Record<string, string> = {
    ...r.baseHeaders,
    'content-type': answer.mediaType,
    [registryHeaders.contentDigest]: answer.digest,
    // As distribution sends it: the digest is a strong validator of exactly these bytes.
    etag: digestETag(answer.digest),
    [registryHeaders.cacheStatus]: cacheStatusOf(answer.result),
  };
  if (size !== undefined) headers['content-length'] = String(size);
  reply(r.outgoing, 200, headers, body);
}

function sendBlob(r: RegistryRequest, deps: RegistryDeps, heads: HeadCache, digest: string, answer: BlobAnswer, head: boolean): void | Promise<void> {
  const state = r.state;
  state.result = answer.result;
  state.source = answer.result === 'hit' ? 'cache' : 'upstream';
  const size = answer.size;
  const ranged = r.incoming.headers.range !== undefined;
  // A whole hit (no Range asked): the prebuilt head, and small bytes in one write.
  if (!head && !ranged && answer.result === 'hit' && size !== undefined && (answer.bytes || answer.file)) {
    const headers = withBase(r.baseHeaders, heads.blob(digest, size));
    state.bytes = size;
    if (answer.bytes) {
      state.firstByteAt = performance.now();
      r.outgoing.writeHead(200, headers).end(answer.bytes);
      return;
    }
    return streamFile(r, deps, answer, 200, headers, 0, size - 1);
  }
  const etag = digestETag(digest);
  const headers: Record<string, string> = {
    ...r.baseHeaders,
    'content-type': 'application/octet-stream',
    [registryHeaders.contentDigest]: digest,
    etag,
    'accept-ranges': 'bytes',
    [registryHeaders.cacheStatus]: cacheStatusOf(answer.result),
  };
  if (head || !answer.file) {
    if (size !== undefined) headers['content-length'] = String(size);
    state.bytes = 0;
    return void reply(r.outgoing, 200, headers);
  }
  // Without a known length a range cannot be checked; the whole body is a valid answer (RFC 9110 §14.2).
  // So is it when If-Range names another validator than this blob's (RFC 9110 §13.1.5).
  const range =
    size === undefined || !ifRangeAllows(header(r.incoming, 'if-range'), etag) ? ({ kind: 'none' } as const) : parseRange(header(r.incoming, 'range'), size);
  if (range.kind === 'unsatisfiable') {
    throw new OciError('RANGE_INVALID', `range "${header(r.incoming, 'range')}" is outside the blob's ${size} bytes`, {
      headers: { 'content-range': `bytes */${size}` },
    });
  }
  let status = 200;
  if (range.kind === 'range') {
    status = 206;
    headers['content-range'] = contentRange(range.range, size!);
    headers['content-length'] = String(range.range.end - range.range.start + 1);
  } else if (size !== undefined) {
    headers['content-length'] = String(size);
  }
  if (headers['content-length'] !== undefined) state.bytes = Number(headers['content-length']);
  if (answer.bytes) {
    // Small blob from memory: one write, no stream.
    const bytes = range.kind === 'range' ? answer.bytes.subarray(range.range.start, range.range.end + 1) : answer.bytes;
    state.firstByteAt = performance.now();
    return void reply(r.outgoing, status, headers, bytes);
  }
  // Without a known size (an upstream in flight that sent no length) the body runs to its end.
  const { start, end } = range.kind === 'range' ? range.range : { start: 0, end: size === undefined ? Number.POSITIVE_INFINITY : size - 1 };
  return streamFile(r, deps, answer, status, headers, start, end);
}

/** Streams bytes `start`..`end` of the answer's file; resolves once the file is open (sending runs on). */
async function streamFile(
  r: RegistryRequest,
  deps: RegistryDeps,
  answer: BlobAnswer,
  status: number,
  headers: Record<string, string> | string[],
  start: number,
  end: number,
): Promise<void> {
  // The end too: a cached blob not yet hashed is checked while a whole body streams, before a range is sent.
  const file = await answer.file!(start, end);
  const state = r.state;
  void sendFile(r.outgoing, status, headers, file, start, end, deps.buffers, () => (state.firstByteAt = performance.now()));
}

/** Who is pulling, for the core's pull event: the TCP peer, its User-Agent and Host, the identity auth gave it, the request id. */
function clientOf(r: RegistryRequest): PullClient {
  const client: { -readonly [K in keyof PullClient]: PullClient[K] } = { address: r.incoming.socket.remoteAddress ?? 'unknown', requestId: r.requestId };
  const userAgent = header(r.incoming, 'user-agent');
  if (userAgent !== undefined) client.userAgent = userAgent;
  const host = header(r.incoming, 'host');
  if (host !== undefined) client.host = host;
  if (r.identity) client.identity = r.identity.name;
  return client;
}

/** Request headers straight from Node: no Fetch Headers object on the hot path. */
function header(incoming: IncomingMessage, name: string): string | undefined {
  const value = incoming.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
