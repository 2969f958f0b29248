// An in-process registry for fault injection only (wrong bytes, resets, truncation, stalls, 429s),
// which a real registry cannot be made to do. Everything else is tested against distribution itself.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  | 'none'
  /** Same length, different bytes. */
  | 'wrong-bytes'
  /** Half the body, then a TCP reset. */
  | 'reset'
  /** Announces the full length, sends half, ends cleanly. */
  | 'truncate'
  /** Sends half the body and then nothing, keeping the connection open. */
  | 'stall'
  /** Accepts the request and never answers. */
  | 'hang'
  /** 429 with Retry-After: 0 once, then normal. */
  | 'rate-limit-once'
  /** 503 always. */
  | 'unavailable'
  /** The whole body, 64 KiB every 10 ms: long enough to join, range into, disconnect from, or kill mid-fill. */
  | 'slow'
  /** Half the body, then a reset, once; afterwards the blob is served normally, Range requests included. */
  | 'reset-once'
  /** Half the body, then the rest once release() is called: a download in flight for as long as a test needs. */
  | 'held'
  /** As 'held', with the last byte of the body flipped: a mismatch found only at the very end. */
  | 'held-wrong-bytes'
  /** 429 with Retry-After: 86400, always (manifests, blobs, HEAD; tag lists via setFault(`tags:<repository>`)). */
  | 'rate-limit-long'
  /** The body one byte every 250 ms: never idle long, but slower than any deadline. */
  | 'trickle'
  /** A chunked body without Content-Length that never ends (64 KiB at a time until the client leaves). */
  | 'endless'
  /** Announces Content-Length: 10 GiB, sends the real bytes, then keeps the connection open. */
  | 'huge-length'
  /** Written on the raw socket: the right Content-Length, then the body followed by 100 KiB more. */
  | 'longer-than-length';

/** A token request the upstream's own /token endpoint received. */
export interface TokenRequest {
  readonly authorization: string | undefined;
  readonly service: string | null;
}

export interface FaultUpstream {
  readonly url: string;
  /** Requests received, as "METHOD path". */
  readonly requests: string[];
  count(method: string, fragment: string): number;
  addBlob(bytes: Buffer): string;
  addManifest(repository: string, tag: string, body: Buffer, mediaType: string): string;
  setFault(digestOrTag: string, fault: Fault): void;
  /** Sends the rest of every held response for this digest; later requests are served normally. */
  release(digest: string): void;
  /** Extra headers for tags/list answers (e.g. Link). */
  tagsList: { body: unknown; link?: string | undefined };
  /**
   * A repository whose tags/list is served as distribution 3 pages it: `n` (else `pageSize`) tags after
   * `last`, in order, with a Link to the next page. 'endless' invents tags page after page, for ever.
   */
  setTagPages(repository: string, tags: readonly string[] | 'endless', pageSize: number): void;
  /**
   * The referrers API: GET /v2/<name>/referrers/<digest> lists these descriptors (any digest not listed:
   * an empty index, as a registry with the API answers). Undefined (the default): no API, a plain 404.
   */
  referrers: Map<string, unknown[]> | undefined;
  /**
   * Bearer auth: every /v2/ request without a Bearer token is answered 401 naming this realm (with
   * service=`service`); `ownRealm()` is the upstream's own /token endpoint. Undefined turns auth off.
   */
  setBearerRealm(realm: string | undefined, service?: string): void;
  ownRealm(): string;
  /** Requests to the upstream's own /token endpoint. */
  readonly tokenRequests: TokenRequest[];
  stop(): Promise<void>;
}

export async function startFaultUpstream(): Promise<FaultUpstream> {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { body: Buffer; mediaType: string }>();
  const faults = new Map<string, Fault>();
  const held = new Map<string, Array<() => void>>();
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const state = {
    tagsList: { body: { name: 'x', tags: [] } as unknown, link: undefined as string | undefined },
    referrers: undefined as Map<string, unknown[]> | undefined,
    bearer: undefined as { realm: string; service: string } | undefined,
  };
  const tokenRequests: TokenRequest[] = [];
  const tagPages = new Map<string, { tags: readonly string[] | 'endless'; pageSize: number }>();

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    requests.push(`${req.method} ${url}`);
    if (url.startsWith('/token')) {
      tokenRequests.push({ authorization: req.headers.authorization, service: new URL(url, 'http://x').searchParams.get('service') });
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'own-realm-token', expires_in: 300 }));
    }
    if (state.bearer && !String(req.headers.authorization ?? '').startsWith('Bearer ')) {
      const challenge = `Bearer realm="${state.bearer.realm}",service="${state.bearer.service}"`;
      return void res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
    }
    if (url === '/v2/' || url === '/v2') return void res.writeHead(200).end('{}');
    const tags = /^\/v2\/(.+)\/tags\/list/.exec(url);
    if (tags) {
      if (faults.get(`tags:${tags[1]}`) === 'rate-limit-long') return void res.writeHead(429, { 'retry-after': '86400' }).end();
      const paged = tagPages.get(tags[1]!);
      if (paged) return void servePage(res, tags[1]!, paged, new URL(url, 'http://x').searchParams);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (state.tagsList.link) headers.link = state.tagsList.link;
      return void res.writeHead(200, headers).end(JSON.stringify(state.tagsList.body));
    }
    const referrers = /^\/v2\/(.+)\/referrers\/([^/?]+)/.exec(url);
    if (referrers && state.referrers) {
      const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: state.referrers.get(referrers[2]!) ?? [] };
      return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' }).end(JSON.stringify(index));
    }
    const match = /^\/v2\/(.+)\/(manifests|blobs)\/([^/?]+)/.exec(url);
    if (!match) return void res.writeHead(404).end();
    const [, repository, kind, reference] = match as unknown as [string, string, string, string];
    const key = kind === 'manifests' && !reference.startsWith('sha256:') ? `${repository}:${reference}` : reference;
    const fault = faults.get(reference) ?? faults.get(key) ?? 'none';
    if (fault === 'hang') return;
    if (fault === 'unavailable') return void res.writeHead(503).end();
    if (fault === 'rate-limit-long') return void res.writeHead(429, { 'retry-after': '86400' }).end();
    if (fault === 'rate-limit-once') {
      faults.set(reference, 'none');
      return void res.writeHead(429, { 'retry-after': '0' }).end();
    }
    // Like Docker Hub: a client that takes no index gets one platform's manifest for a multi-arch tag.
    const narrow = !String(req.headers.accept ?? '').includes('index') && !String(req.headers.accept ?? '').includes('list');
    const manifest = kind === 'manifests' ? (narrow && manifests.get(`${key}#narrow`)) || manifests.get(key) : undefined;
    const body = kind === 'blobs' ? blobs.get(reference) : manifest?.body;
    if (!body) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN"}]}');
    const headers: Record<string, string> = {
      'content-length': String(body.length),
      'content-type': manifest?.mediaType ?? 'application/octet-stream',
      'docker-content-digest': digestOf(body),
    };
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    if (range && fault === 'none' && kind === 'blobs') {
      const from = Number(range[1]);
      res.writeHead(206, { ...headers, 'content-length': String(body.length - from), 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` });
      return void res.end(body.subarray(from));
    }
    if (fault === 'longer-than-length' && req.method === 'GET') {
      const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
      req.socket.write(`HTTP/1.1 200 OK\r\n${head.join('')}\r\n`);
      req.socket.end(Buffer.concat([body, Buffer.alloc(100 * 1024, 0x41)]));
      return;
    }
    if (fault === 'endless') delete headers['content-length'];
    if (fault === 'huge-length') headers['content-length'] = String(10 * 2 ** 30);
    res.writeHead(200, headers);
    if (req.method === 'HEAD') return void res.end();
    const half = body.subarray(0, Math.floor(body.length / 2));
    switch (fault) {
      case 'wrong-bytes': {
        const wrong = Buffer.from(body);
        wrong[wrong.length - 1] = (wrong[wrong.length - 1] ?? 0) ^ 0xff;
        return void res.end(wrong);
      }
      case 'reset-once':
        faults.set(reference, 'none');
        res.write(half, () => setTimeout(() => req.socket.resetAndDestroy(), 20));
        return;
      case 'reset':
        res.write(half, () => setTimeout(() => req.socket.resetAndDestroy(), 20));
        return;
      case 'truncate':
        res.write(half, () => req.socket.end());
        return;
      case 'stall':
        res.write(half);
        return;
      case 'held':
        res.write(half);
        held.set(reference, [...(held.get(reference) ?? []), () => res.end(body.subarray(half.length))]);
        return;
      case 'held-wrong-bytes': {
        const wrong = Buffer.from(body);
        wrong[wrong.length - 1] = (wrong[wrong.length - 1] ?? 0) ^ 0xff;
        res.write(half);
        held.set(reference, [...(held.get(reference) ?? []), () => res.end(wrong.subarray(half.length))]);
        return;
      }
      case 'slow':
        return void trickle(res, body);
      case 'trickle':
        return void trickle(res, body, 0, 1, 250);
      case 'endless':
        return void endless(res, body);
      case 'huge-length':
        res.write(body);
        return;
      default:
        res.end(body);
    }
  };

  const server: Server = createServer(handler);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    count: (method, fragment) => requests.filter((r) => r.startsWith(`${method} `) && r.includes(fragment)).length,
    addBlob(bytes) {
      const digest = digestOf(bytes);
      blobs.set(digest, bytes);
      return digest;
    },
    addManifest(repository, tag, body, mediaType) {
      const digest = digestOf(body);
      manifests.set(`${repository}:${tag}`, { body, mediaType });
      manifests.set(digest, { body, mediaType });
      return digest;
    },
    setFault: (reference, fault) => void faults.set(reference, fault),
    release(digest) {
      faults.set(digest, 'none');
      for (const resume of held.get(digest) ?? []) resume();
      held.delete(digest);
    },
    setBearerRealm: (realm, service = 'fault') => void (state.bearer = realm === undefined ? undefined : { realm, service }),
    ownRealm: () => `http://127.0.0.1:${port}/token`,
    tokenRequests,
    setTagPages: (repository, list, pageSize) => void tagPages.set(repository, { tags: list, pageSize }),
    get referrers() {
      return state.referrers;
    },
    set referrers(value) {
      state.referrers = value;
    },
    get tagsList() {
      return state.tagsList;
    },
    set tagsList(value) {
      state.tagsList = value;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** One page of a paged tags list, as distribution 3 answers `?n=&last=`, with the Link to the next. */
function servePage(res: ServerResponse, repository: string, paged: { tags: readonly string[] | 'endless'; pageSize: number }, query: URLSearchParams): void {
  const n = Number(query.get('n') ?? paged.pageSize);
  const last = query.get('last');
  let page: string[];
  let more: boolean;
  if (paged.tags === 'endless') {
    const from = last === null ? 0 : Number(/^endless-(\d+)/.exec(last)?.[1] ?? 0) + 1;
    page = Array.from({ length: n }, (_, i) => `endless-${String(from + i).padStart(12, '0')}-${'x'.repeat(24)}`);
    more = true;
  } else {
    const start = last === null ? 0 : paged.tags.findIndex((t) => t > last);
    const rest = start === -1 ? [] : paged.tags.slice(start);
    page = rest.slice(0, n);
    more = rest.length > n;
  }
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (more) headers.link = `</v2/${repository}/tags/list?last=${encodeURIComponent(page[page.length - 1]!)}&n=${n}>; rel="next"`;
  res.writeHead(200, headers).end(JSON.stringify({ name: repository, tags: page }));
}

function trickle(res: ServerResponse, body: Buffer, offset = 0, step = 64 * 1024, everyMs = 10): void {
  if (res.destroyed) return;
  if (offset >= body.length) return void res.end();
  res.write(body.subarray(offset, offset + step));
  setTimeout(() => trickle(res, body, offset + step, step, everyMs), everyMs);
}

/** The body, then more of it, forever: stops only when the client goes away (or after 1 GiB, as a safety stop). */
function endless(res: ServerResponse, body: Buffer, sent = 0): void {
  if (res.destroyed || sent > 2 ** 30) return void res.destroy();
  const chunk = sent === 0 ? body : Buffer.alloc(64 * 1024, sent & 0xff);
  res.write(chunk, () => setImmediate(() => endless(res, body, sent + chunk.length)));
}

function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** An OCI image manifest (config from `seed`, the given layers) pushed to the fault upstream under `repository:tag`. */
export function addOciImage(
  upstream: FaultUpstream,
  repository: string,
  tag: string,
  seed: string,
  layers: readonly Buffer[] = [],
): { digest: string; manifest: Buffer } {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: upstream.addBlob(config), size: config.length },
      layers: layers.map((layer) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: upstream.addBlob(layer), size: layer.length })),
    }),
  );
  return { digest: upstream.addManifest(repository, tag, manifest, 'application/vnd.oci.image.manifest.v1+json'), manifest };
}
