// The OCI pull API: parse path and ns, route, ask the core, set the headers clients rely on, stream.
// Every answer is written straight to Node's response (reply.ts, send-file.ts): the hot path builds no
// Response, Headers or web stream. HEAD is decided here: the core is asked with `head`, no body is opened.
import type { Context } from 'hono';
import type { PullThrough } from '../cache/pull-through.js';
import type { DenialReason, Route, Router } from '../cache/ports.js';
import type { PullClient } from '../cache/pull-events.js';
import { isDigest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import { apiVersionValue, cacheStatusOf, digestETag, registryHeaders } from '../oci/registry-headers.js';
import { contentRange, ifRangeAllows, parseRange } from '../oci/range.js';
import { parseRegistryPath, type RegistryPath } from '../oci/registry-path.js';
import { replyReferrers, replyTags } from './listing-routes.js';
import { reply, sent } from './reply.js';
import type { AppEnv } from './request-state.js';
import { sendFile, type BufferPool } from './send-file.js';

/** What the registry routes ask of the core. */
export type RegistryCore = Pick<PullThrough, 'manifest' | 'blob' | 'listTags' | 'referrers'>;

export interface RegistryDeps {
  readonly pullThrough: RegistryCore;
  readonly router: Router;
  /** Read buffers shared by every response served from disk. */
  readonly buffers: BufferPool;
}

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

const noQuery = new URLSearchParams();

export function registryHandler(deps: RegistryDeps) {
  // Parsing is pure and routing is fixed for the process's life (a route that throws, such as a denied
  // repository, is never remembered): both are looked up instead of redone on every hit.
  const paths = memo<RegistryPath | undefined>();
  const routes = memo<Route>();
  return async (c: Context<AppEnv>): Promise<Response> => {
    const raw = c.env.incoming.url ?? '/';
    const queryAt = raw.indexOf('?');
    const pathname = queryAt === -1 ? raw : raw.slice(0, queryAt);
    const query = queryAt === -1 ? noQuery : new URLSearchParams(raw.slice(queryAt + 1));
    const ns = query.get('ns') ?? undefined;
    const base: Record<string, string> = { ...c.get('baseHeaders'), [registryHeaders.apiVersion]: apiVersionValue };
    // Echoed only when it is a plain token: a decoded ns may carry CR/LF or other bytes no header may hold.
    if (ns !== undefined && /^[\x21-\x7e]{1,255}$/.test(ns)) base[registryHeaders.ociNamespace] = ns;
    c.set('baseHeaders', base);

    const path = paths.get(pathname, () => parseRegistryPath(pathname));
    const state = c.get('state');
    if (!path) throw new OciError('NAME_UNKNOWN', 'not a registry API path');
    state.kind = path.kind;
    const method = c.req.method;
    const head = method === 'HEAD';
    if (path.kind === 'upload' || (method !== 'GET' && method !== 'HEAD')) {
      throw new OciError('UNSUPPORTED', 'this registry is a read-only mirror: push and delete are not supported', { headers: { allow: 'GET, HEAD' } });
    }
    if (path.kind === 'base') return reply(c.env.outgoing, 200, { ...base, 'content-type': 'application/json', 'content-length': '2' }, '{}');

    // An empty ns (`?ns=`, `?ns`) is not an absent one: the key tells them apart.
    const route = routes.get(`${ns === undefined ? '-' : `=${ns}`}\n${path.name}`, () => deps.router.resolve({ ns, name: path.name }));
    state.upstream = route.upstream.name;
    state.repository = route.repository;
    const identity = c.get('identity');
    if (identity && !identity.allows(`${route.upstream.name}/${route.repository}`)) {
      throw new OciError('DENIED', `${identity.name} may not pull ${route.upstream.name}/${route.repository}`, {
        detail: { reason: 'client-scope' satisfies DenialReason, upstream: route.upstream.name },
      });
    }
    if (path.kind === 'manifest') state.cacheKind = isDigest(path.reference) ? 'manifest' : 'tag';
    if (path.kind === 'blob') state.cacheKind = 'blob';
    switch (path.kind) {
      case 'manifest':
        return manifest(c, deps, route, path, base, head);
      case 'blob':
        return blob(c, deps, route, path, base, head);
      case 'tags':
        return replyTags(c, deps.pullThrough, route, path.name, base, { pathname, query, ns });
      case 'referrers':
        return replyReferrers(c, deps.pullThrough, route, path.digest, base, query);
    }
  };
}

async function manifest(
  c: Context<AppEnv>,
  deps: RegistryDeps,
  route: Route,
  path: Extract<RegistryPath, { kind: 'manifest' }>,
  base: Record<string, string>,
  head: boolean,
) {
  const answer = await deps.pullThrough.manifest(route, path.reference, { accept: header(c, 'accept'), head, client: clientOf(c) });
  const state = c.get('state');
  state.result = answer.result;
  state.source = answer.result === 'miss' ? 'upstream' : 'cache';
  const headers: Record<string, string> = {
    ...base,
    'content-type': answer.mediaType,
    [registryHeaders.contentDigest]: answer.digest,
    // As distribution sends it: the digest is a strong validator of exactly these bytes.
    etag: digestETag(answer.digest),
    [registryHeaders.cacheStatus]: cacheStatusOf(answer.result),
  };
  const size = answer.body?.length ?? answer.size;
  if (size !== undefined) headers['content-length'] = String(size);
  state.bytes = head ? 0 : (answer.body?.length ?? 0);
  if (!head) state.firstByteAt = performance.now();
  return reply(c.env.outgoing, 200, headers, head ? undefined : answer.body);
}

async function blob(
  c: Context<AppEnv>,
  deps: RegistryDeps,
  route: Route,
  path: Extract<RegistryPath, { kind: 'blob' }>,
  base: Record<string, string>,
  head: boolean,
) {
  const answer = await deps.pullThrough.blob(route, path.digest, { head });
  const state = c.get('state');
  state.result = answer.result;
  state.source = answer.result === 'hit' ? 'cache' : 'upstream';
  const etag = digestETag(path.digest);
  const headers: Record<string, string> = {
    ...base,
    'content-type': 'application/octet-stream',
    [registryHeaders.contentDigest]: path.digest,
    etag,
    'accept-ranges': 'bytes',
    [registryHeaders.cacheStatus]: cacheStatusOf(answer.result),
  };
  const size = answer.size;
  if (head || !answer.file) {
    if (size !== undefined) headers['content-length'] = String(size);
    state.bytes = 0;
    return reply(c.env.outgoing, 200, headers);
  }
  // Without a known length a range cannot be checked; the whole body is a valid answer (RFC 9110 §14.2).
  // So is it when If-Range names another validator than this blob's (RFC 9110 §13.1.5).
  const range = size === undefined || !ifRangeAllows(header(c, 'if-range'), etag) ? ({ kind: 'none' } as const) : parseRange(header(c, 'range'), size);
  if (range.kind === 'unsatisfiable') {
    throw new OciError('RANGE_INVALID', `range "${header(c, 'range')}" is outside the blob's ${size} bytes`, {
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
    return reply(c.env.outgoing, status, headers, bytes);
  }
  // Without a known size (an upstream in flight that sent no length) the body runs to its end.
  const { start, end } = range.kind === 'range' ? range.range : { start: 0, end: size === undefined ? Number.POSITIVE_INFINITY : size - 1 };
  // The end too: a cached blob not yet hashed is checked while a whole body streams, before a range is sent.
  const file = await answer.file!(start, end);
  void sendFile(c.env.outgoing, status, headers, file, start, end, deps.buffers, () => (state.firstByteAt = performance.now()));
  return sent;
}

/** Who is pulling, for the core's pull event: the TCP peer, its User-Agent and Host, the identity auth gave it, the request id. */
function clientOf(c: Context<AppEnv>): PullClient {
  const userAgent = header(c, 'user-agent');
  const host = header(c, 'host');
  const identity = c.get('identity')?.name;
  return {
    address: c.env.incoming.socket.remoteAddress ?? 'unknown',
    requestId: c.get('requestId'),
    ...(userAgent !== undefined ? { userAgent } : {}),
    ...(host !== undefined ? { host } : {}),
    ...(identity !== undefined ? { identity } : {}),
  };
}

/** Request headers straight from Node: no Fetch Headers object on the hot path. */
function header(c: Context<AppEnv>, name: string): string | undefined {
  const value = c.env.incoming.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
