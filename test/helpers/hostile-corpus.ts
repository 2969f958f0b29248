// Hostile requests as exact bytes (a raw HTTP/1.1 client over node:net) and the table of them with the answer each deserves.
import { connect } from 'node:net';

// ---- raw HTTP/1.1 client -----------------------------------------------------------------------

export interface RawResponse {
  /** 0 when the server closed the connection without a status line. */
  readonly status: number;
  readonly reason: string;
  /** Lowercased names; repeated headers joined with ", ". */
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** Interim (1xx) statuses seen before the final one, e.g. 100 for Expect: 100-continue. */
  readonly interim: number[];
}

interface Parsed {
  readonly complete: boolean;
  readonly response?: RawResponse;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Parses the first final response in `buf`; `closed` says no more bytes will come. */
function parseResponse(buf: Buffer, head: boolean, closed: boolean): Parsed {
  const interim: number[] = [];
  let offset = 0;
  for (;;) {
    const end = buf.indexOf(CRLFCRLF, offset);
    if (end === -1) return { complete: false };
    const lines = buf.subarray(offset, end).toString('latin1').split('\r\n');
    const statusLine = /^HTTP\/\d(?:\.\d)? (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
    if (!statusLine) throw new Error(`not an HTTP status line: ${JSON.stringify(lines[0])}`);
    const status = Number(statusLine[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`malformed response header line: ${JSON.stringify(line)}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const bodyAt = end + 4;
    if (status >= 100 && status < 200 && status !== 101) {
      interim.push(status);
      offset = bodyAt;
      continue;
    }
    const done = (body: Buffer): Parsed => ({ complete: true, response: { status, reason: statusLine[2] ?? '', headers, body, interim } });
    if (head || status === 204 || status === 304) return done(Buffer.alloc(0));
    if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
      const chunks: Buffer[] = [];
      let at = bodyAt;
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', at);
        if (lineEnd === -1) return closed ? done(Buffer.concat(chunks)) : { complete: false };
        const size = parseInt(buf.subarray(at, lineEnd).toString('latin1').split(';')[0] ?? '', 16);
        if (!Number.isFinite(size)) throw new Error('malformed chunk size in response');
        if (size === 0) return done(Buffer.concat(chunks));
        if (buf.length < lineEnd + 2 + size + 2) return closed ? done(Buffer.concat(chunks)) : { complete: false };
        chunks.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
    }
    const length = headers['content-length'];
    if (length !== undefined) {
      const n = Number(length);
      if (buf.length - bodyAt >= n) return done(buf.subarray(bodyAt, bodyAt + n));
      return closed ? done(buf.subarray(bodyAt)) : { complete: false };
    }
    return closed ? done(buf.subarray(bodyAt)) : { complete: false };
  }
}

/**
 * Sends `bytes` exactly as given on a fresh connection and returns the first final response.
 * Resolves as soon as that response is complete (by length or chunk terminator) or the server closes.
 */
export function rawExchange(port: number, bytes: Buffer, options: { head?: boolean; timeoutMs?: number } = {}): Promise<RawResponse> {
  const head = options.head ?? false;
  const timeoutMs = options.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const received: Buffer[] = [];
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      const buf = Buffer.concat(received);
      try {
        if (buf.length === 0 && closed) {
          settled = true;
          resolve({ status: 0, reason: 'closed without a response', headers: {}, body: Buffer.alloc(0), interim: [] });
        } else {
          const parsed = parseResponse(buf, head, closed);
          if (parsed.complete && parsed.response) {
            settled = true;
            resolve(parsed.response);
          } else if (closed) {
            settled = true;
            reject(new Error(`connection closed mid-response after ${buf.length} bytes: ${JSON.stringify(buf.subarray(0, 300).toString('latin1'))}`));
          }
        }
      } catch (err) {
        settled = true;
        reject(err);
      }
      if (settled) {
        clearTimeout(timer);
        socket.destroy();
      }
    };
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      socket.destroy();
      const buf = Buffer.concat(received);
      reject(new Error(`no complete response within ${timeoutMs} ms (${buf.length} bytes: ${JSON.stringify(buf.subarray(0, 300).toString('latin1'))})`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      finish(false);
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    // A reset after the server answered (it may close while we are still writing) still leaves the answer readable.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') finish(true);
      else if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(err);
      }
    });
    socket.write(bytes);
  });
}

// ---- the corpus ---------------------------------------------------------------------------------

/** The OCI distribution-spec error codes a client may see. */
export const ociCodes = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
  'RANGE_INVALID',
] as const;
export type OciCode = (typeof ociCodes)[number];

/** Values only known once the registry and tender run, spliced into the request bytes. */
export interface CorpusContext {
  /** tender's port (for Host headers). */
  readonly tenderPort: number;
  /** The upstream registry's port: the address a hostile ns or prefix would try to reach directly. */
  readonly registryPort: number;
  /** A layer of library/app:v1, cached by the warm-up. */
  readonly layer: string;
  readonly layerSize: number;
  /** The manifest digest of library/app:v1, cached by the warm-up. */
  readonly manifest: string;
  /** A well-formed sha256 digest nothing has. */
  readonly missing: string;
}

export interface HostileCase {
  readonly group: string;
  readonly name: string;
  /** The request as latin1 text (so any byte can be written), with {{PLACEHOLDERS}} from the context. */
  readonly raw: string;
  /** Acceptable statuses; 0 = the server closed without answering. */
  readonly status: number | readonly number[];
  /**
   * The OCI error code(s) expected in a JSON body; null = no OCI body expected (Node itself answers,
   * e.g. 400/431 from the HTTP parser); undefined = a success, no error body.
   */
  readonly code?: OciCode | null | ReadonlyArray<OciCode | null>;
  /**
   * 'none' (the default): the upstream registry must receive no request at all, because the input is
   * denied, invalid, or served from cache. 'allowed': a well-formed pull of something upstream may
   * not have; requests may go upstream, but only well-formed GET/HEAD pulls.
   */
  readonly upstream?: 'none' | 'allowed';
  /** Extra checks on the answer. */
  readonly check?: (response: RawResponse, context: CorpusContext) => void;
  /** A src bug this entry reveals: the entry is skipped with a warning until it is fixed. */
  readonly knownBug?: string;
}

export function fillPlaceholders(raw: string, c: CorpusContext): string {
  return raw
    .replaceAll('{{TP}}', String(c.tenderPort))
    .replaceAll('{{RP}}', String(c.registryPort))
    .replaceAll('{{LAYER}}', c.layer)
    .replaceAll('{{LAYER_UPPER}}', c.layer.slice('sha256:'.length).toUpperCase())
    .replaceAll('{{LAYER_SIZE}}', String(c.layerSize))
    .replaceAll('{{MANIFEST}}', c.manifest)
    .replaceAll('{{MISSING}}', c.missing);
}

interface RequestOptions {
  readonly headers?: readonly string[];
  readonly body?: string;
  /** null: no Host header at all. */
  readonly host?: string | null;
  readonly version?: string;
  /** false: no "Connection: close" (HTTP/1.0 closes by default). */
  readonly close?: boolean;
}

/** Builds a request as text; every header line is written exactly as given. */
export function req(method: string, target: string, o: RequestOptions = {}): string {
  const lines = [`${method} ${target} ${o.version ?? 'HTTP/1.1'}`];
  if (o.host !== null) lines.push(`Host: ${o.host ?? '127.0.0.1:{{TP}}'}`);
  lines.push('User-Agent: tender-hostile-corpus');
  lines.push(...(o.headers ?? []));
  if (o.close !== false) lines.push('Connection: close');
  return `${lines.join('\r\n')}\r\n\r\n${o.body ?? ''}`;
}

const get = (target: string, o?: RequestOptions) => req('GET', target, o);
/** UTF-8 text as the latin1 string of its bytes, so it goes on the wire as UTF-8. */
const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

const hex64 = 'a'.repeat(64);
const manifestV1 = '/v2/library/app/manifests/v1';
const layerPath = '/v2/library/app/blobs/{{LAYER}}';
/** The traversal target: a name no other test uses, looked for in /tmp afterwards. */
export const pwnedMarker = 'tender-hostile-pwned';

const noInjectedHeader = (r: RawResponse): void => {
  for (const name of Object.keys(r.headers)) if (name.includes('injected')) throw new Error(`response carries injected header "${name}"`);
};

function expectHeader(name: string, value: (c: CorpusContext) => string) {
  return (r: RawResponse, c: CorpusContext): void => {
    const want = value(c);
    if (r.headers[name] !== want) throw new Error(`expected ${name}: ${want}, got ${r.headers[name]}`);
  };
}

function expectBodyLength(n: (c: CorpusContext) => number) {
  return (r: RawResponse, c: CorpusContext): void => {
    const want = n(c);
    if (r.body.length !== want) throw new Error(`expected a body of ${want} bytes, got ${r.body.length}`);
    if (r.headers['content-length'] !== String(want)) throw new Error(`expected content-length ${want}, got ${r.headers['content-length']}`);
  };
}

/** A full cached blob: 200 and every byte. */
const fullBlob = expectBodyLength((c) => c.layerSize);

export function hostileCorpus(): HostileCase[] {
  const cases: HostileCase[] = [];
  const add = (group: string, entries: Array<Omit<HostileCase, 'group'>>): void => {
    for (const e of entries) cases.push({ group, ...e });
  };

  // Path traversal: dot segments, encoded separators, backslashes, doubled slashes, trailing dots.
  // URL normalisation in the router folds some of them to non-registry paths (404); the rest must be refused (400).
  add('traversal', [
    { name: '/v2/../../etc/passwd/manifests/x', raw: get('/v2/../../etc/passwd/manifests/x'), status: 404, code: 'NAME_UNKNOWN' },
    { name: '/v2/a/../b/manifests/latest', raw: get('/v2/a/../b/manifests/latest'), status: 400, code: 'NAME_INVALID' },
    { name: '/v2/./a/blobs/<digest>', raw: get('/v2/./a/blobs/{{MISSING}}'), status: 400, code: 'NAME_INVALID' },
    { name: '%2e%2e segments to /etc/passwd', raw: get('/v2/%2e%2e/%2e%2e/etc/passwd/manifests/x'), status: 404, code: 'NAME_UNKNOWN' },
    { name: '%2E%2E that folds back onto /v2/', raw: get('/v2/library/%2E%2E/%2E%2E/%2E%2E/v2/x/manifests/latest'), status: 400, code: 'NAME_INVALID' },
    { name: '.%2e mixed dot segment', raw: get('/v2/.%2e/.%2e/etc/passwd/manifests/x'), status: 404, code: 'NAME_UNKNOWN' },
    { name: '%2F inside the name', raw: get('/v2/library%2F..%2F..%2Fetc/manifests/latest'), status: 400, code: 'NAME_INVALID' },
    { name: '%2f in the reference', raw: get(`/v2/library/app/manifests/..%2f..%2f..%2ftmp%2f${pwnedMarker}`), status: 400, code: 'NAME_INVALID' },
    { name: '%252F double-encoded', raw: get('/v2/library%252F..%252Fetc/manifests/latest'), status: 400, code: 'NAME_INVALID' },
    { name: '%5c encoded backslash', raw: get('/v2/library%5c..%5c..%5cetc/manifests/latest'), status: 400, code: 'NAME_INVALID' },
    // Node's HTTP parser refuses a raw backslash in the target before tender sees it.
    { name: 'raw backslashes', raw: get('/v2/library\\..\\..\\etc\\passwd/manifests/latest'), status: 400, code: null },
    { name: 'backslash inside a registry path', raw: get('/v2/library/app\\..\\x/manifests/v1'), status: 400, code: null },
    { name: '//v2/ leading double slash', raw: get('//v2/library/app/manifests/v1'), status: 404, code: 'NAME_UNKNOWN' },
    { name: '/v2//library (empty segment)', raw: get('/v2//library/app/manifests/v1'), status: 400, code: 'NAME_INVALID' },
    { name: '/v2/library//app (empty segment)', raw: get('/v2/library//app/manifests/v1'), status: 400, code: 'NAME_INVALID' },
    { name: 'trailing dot in the name', raw: get('/v2/library/app./manifests/v1'), status: 400, code: 'NAME_INVALID' },
    { name: 'name "..."', raw: get('/v2/.../manifests/latest'), status: 400, code: 'NAME_INVALID' },
    { name: 'reference ".."', raw: get('/v2/library/app/manifests/..'), status: 400, code: 'NAME_INVALID' },
    { name: 'blob path with "./" before the digest', raw: get('/v2/library/app/blobs/./{{LAYER}}'), status: 400, code: 'NAME_INVALID' },
    { name: 'digest then "/.."', raw: get('/v2/library/app/blobs/{{LAYER}}/..'), status: 400, code: 'NAME_INVALID' },
    {
      name: 'sha256:../../ traversal in the digest',
      raw: get(`/v2/library/app/blobs/sha256:../../../../tmp/${pwnedMarker}`),
      status: 400,
      code: 'NAME_INVALID',
    },
    { name: 'sha256:.. digest', raw: get('/v2/library/app/blobs/sha256:..'), status: 400, code: 'DIGEST_INVALID' },
    { name: 'deep traversal to /tmp', raw: get(`/v2/../../../../../../tmp/${pwnedMarker}/blobs/{{MISSING}}`), status: 404, code: 'NAME_UNKNOWN' },
    { name: 'semicolon path parameter with ..', raw: get('/v2/library/app/manifests/v1;../../x'), status: 400, code: 'NAME_INVALID' },
    { name: '%00 in the reference', raw: get('/v2/library/app/manifests/v1%00'), status: 400, code: 'NAME_INVALID' },
    { name: '/v2/.. (to the root)', raw: get('/v2/..'), status: 404, code: 'NAME_UNKNOWN' },
    { name: '/v2/%2e%2e (to the root)', raw: get('/v2/%2e%2e'), status: 404, code: 'NAME_UNKNOWN' },
    { name: 'ops prefix then .. into /v2/', raw: get('/healthz/../v2/library/app/manifests/v1'), status: 404, code: 'NAME_UNKNOWN' },
    { name: 'other prefix then .. onto /v2/', raw: get('/x/../v2/'), status: 404, code: 'NAME_UNKNOWN' },
    { name: '/v2/./ (dot base)', raw: get('/v2/./'), status: 400, code: 'NAME_INVALID' },
    { name: 'trailing slash after a tag (served, lenient)', raw: get(`${manifestV1}/`), status: 200 },
    {
      name: 'tag with a trailing dot (well-formed, unknown upstream)',
      raw: get('/v2/library/app/manifests/v1.'),
      status: 404,
      code: 'MANIFEST_UNKNOWN',
      upstream: 'allowed',
    },
  ]);

  // Names: NUL, CR/LF, unicode, overlong, uppercase, ":" and "@", odd separators.
  add('names', [
    { name: '%00 in the name', raw: get('/v2/library/app%00/manifests/v1'), status: 400, code: 'NAME_INVALID' },
    { name: 'raw NUL byte in the path', raw: get('/v2/library/app\x00/manifests/v1'), status: 400, code: null },
    { name: 'raw CR in the path', raw: get('/v2/library/a\rpp/manifests/v1'), status: 400, code: null },
    { name: 'raw LF + header in the path', raw: get('/v2/library/a\nX-Injected: yes\n/manifests/v1'), status: 400, code: null, check: noInjectedHeader },
    { name: 'raw space in the path', raw: get('/v2/library/a pp/manifests/v1'), status: 400, code: null },
    { name: 'raw tab in the path', raw: get('/v2/library/a\tpp/manifests/v1'), status: 400, code: null },
    {
      name: '%0d%0a header injection in the path',
      raw: get('/v2/library/app/manifests/v1%0d%0aX-Injected:%20yes'),
      status: 400,
      code: 'NAME_INVALID',
      check: noInjectedHeader,
    },
    { name: 'percent-encoded UTF-8 name', raw: get('/v2/caf%C3%A9/manifests/latest'), status: 400, code: 'NAME_INVALID' },
    { name: 'raw UTF-8 name', raw: get(utf8('/v2/café/manifests/latest')), status: 400, code: ['NAME_INVALID', null] },
    { name: 'raw UTF-8 fullwidth solidus', raw: get(utf8('/v2/library／..／etc/manifests/latest')), status: 400, code: ['NAME_INVALID', null] },
    { name: 'raw UTF-8 right-to-left override', raw: get(utf8('/v2/library/ap\u202ep/manifests/v1')), status: 400, code: ['NAME_INVALID', null] },
    { name: 'raw latin1 byte 0xff', raw: get('/v2/library/app\xff/manifests/v1'), status: 400, code: ['NAME_INVALID', null] },
    { name: 'name of 256 characters', raw: get(`/v2/${'a'.repeat(256)}/manifests/latest`), status: 400, code: 'NAME_INVALID' },
    { name: 'two components, 300 characters', raw: get(`/v2/${'a'.repeat(150)}/${'b'.repeat(149)}/manifests/latest`), status: 400, code: 'NAME_INVALID' },
    { name: 'path of 2000+ characters', raw: get(`/v2/${'a/'.repeat(1000)}x/manifests/latest`), status: 400, code: 'NAME_INVALID' },
    { name: 'path of 10k characters', raw: get(`/v2/${'abcdefghi/'.repeat(1000)}x/manifests/latest`), status: 400, code: 'NAME_INVALID' },
    { name: 'request line of 20k characters', raw: get(`/v2/${'a'.repeat(20_000)}/manifests/latest`), status: 431, code: null },
    { name: 'uppercase name', raw: get('/v2/Library/App/manifests/v1'), status: 400, code: 'NAME_INVALID' },
    { name: 'uppercase first component without dot', raw: get('/v2/LIBRARY/app/manifests/v1'), status: 400, code: 'NAME_INVALID' },
    { name: 'name with ":"', raw: get('/v2/library/app:v1/manifests/latest'), status: 400, code: 'NAME_INVALID' },
    { name: 'name with "@digest"', raw: get('/v2/library/app@{{MANIFEST}}/manifests/latest'), status: 400, code: 'NAME_INVALID' },
    { name: 'name with leading dash', raw: get('/v2/library/-app/manifests/v1'), status: 400, code: 'NAME_INVALID' },
    { name: 'name with leading underscore', raw: get('/v2/_app/manifests/v1'), status: 400, code: 'NAME_INVALID' },
    { name: 'name with ".." inside a component', raw: get('/v2/library/a..pp/manifests/v1'), status: 400, code: 'NAME_INVALID' },
    { name: 'name with "~"', raw: get('/v2/~root/manifests/v1'), status: 400, code: 'NAME_INVALID' },
    { name: 'name with "$"', raw: get('/v2/library/$(id)/manifests/v1'), status: 400, code: 'NAME_INVALID' },
    { name: 'name with quotes and angle brackets', raw: get('/v2/library/"<script>"/manifests/v1'), status: 400, code: ['NAME_INVALID', null] },
    {
      name: 'name "blobs" + "uploads" that is an upload path',
      raw: get('/v2/library/app/blobs/uploads/../../manifests/v1'),
      status: 400,
      code: 'NAME_INVALID',
    },
    { name: '/v2/_catalog (not served)', raw: get('/v2/_catalog?n=100000'), status: 404, code: 'NAME_UNKNOWN' },
    { name: 'manifests with no reference', raw: get('/v2/library/app/manifests/'), status: 404, code: 'NAME_UNKNOWN' },
    { name: 'blobs with no digest', raw: get('/v2/library/app/blobs'), status: 404, code: 'NAME_UNKNOWN' },
    { name: 'uppercase /V2/', raw: get('/V2/library/app/manifests/v1'), status: 404, code: 'NAME_UNKNOWN' },
    { name: '/v1/_ping', raw: get('/v1/_ping'), status: 404, code: 'NAME_UNKNOWN' },
    { name: '/etc/passwd', raw: get('/etc/passwd'), status: 404, code: 'NAME_UNKNOWN' },
    // A one-component Docker Hub name becomes library/<name>: that full name is what must fit in 255 characters.
    {
      name: 'name of 247 characters (library/ + 247 = 255, valid, unknown upstream)',
      raw: get(`/v2/${'a'.repeat(247)}/manifests/latest`),
      status: 404,
      code: 'MANIFEST_UNKNOWN',
      upstream: 'allowed',
    },
    {
      name: 'name of 248 characters (library/ + 248 = 256, too long)',
      raw: get(`/v2/${'a'.repeat(248)}/manifests/latest`),
      status: 400,
      code: 'NAME_INVALID',
    },
    {
      name: 'blob under a name of 248 characters (library/ + 248 = 256, too long)',
      raw: get(`/v2/${'b'.repeat(248)}/blobs/{{MISSING}}`),
      status: 400,
      code: 'NAME_INVALID',
    },
  ]);

  // Digests and tags.
  add('references', [
    {
      name: 'manifest by md5:',
      raw: get('/v2/library/app/manifests/md5:d41d8cd98f00b204e9800998ecf8427e'),
      status: 400,
      code: 'DIGEST_INVALID',
    },
    { name: 'manifest by sha256: with 63 hex', raw: get(`/v2/library/app/manifests/sha256:${'a'.repeat(63)}`), status: 400, code: 'DIGEST_INVALID' },
    { name: 'manifest by uppercase hex', raw: get(`/v2/library/app/manifests/sha256:${'A'.repeat(64)}`), status: 400, code: 'DIGEST_INVALID' },
    {
      name: 'manifest by SHA256: uppercase algorithm',
      raw: get(`/v2/library/app/manifests/SHA256:${hex64}`),
      status: 400,
      code: 'DIGEST_INVALID',
    },
    { name: 'manifest by empty sha256:', raw: get('/v2/library/app/manifests/sha256:'), status: 400, code: 'DIGEST_INVALID' },
    { name: 'blob by md5:', raw: get('/v2/library/app/blobs/md5:d41d8cd98f00b204e9800998ecf8427e'), status: 400, code: 'DIGEST_INVALID' },
    { name: 'blob by sha1:', raw: get('/v2/library/app/blobs/sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709'), status: 400, code: 'DIGEST_INVALID' },
    { name: 'blob by sha256: with 63 hex', raw: get(`/v2/library/app/blobs/sha256:${'a'.repeat(63)}`), status: 400, code: 'DIGEST_INVALID' },
    { name: 'blob by sha256: with 65 hex', raw: get(`/v2/library/app/blobs/sha256:${'a'.repeat(65)}`), status: 400, code: 'DIGEST_INVALID' },
    { name: 'blob by uppercase hex of a cached layer', raw: get('/v2/library/app/blobs/sha256:{{LAYER_UPPER}}'), status: 400, code: 'DIGEST_INVALID' },
    { name: 'blob by non-hex sha256', raw: get(`/v2/library/app/blobs/sha256:${'g'.repeat(64)}`), status: 400, code: 'DIGEST_INVALID' },
    { name: 'blob by empty digest "sha256:"', raw: get('/v2/library/app/blobs/sha256:'), status: 400, code: 'DIGEST_INVALID' },
    { name: 'blob by short sha512:', raw: get(`/v2/library/app/blobs/sha512:${hex64}`), status: 400, code: 'DIGEST_INVALID' },
    { name: 'blob by "sha256" without colon', raw: get('/v2/library/app/blobs/sha256'), status: 400, code: 'DIGEST_INVALID' },
    { name: 'blob by ":<hex>"', raw: get(`/v2/library/app/blobs/:${hex64}`), status: 400, code: 'DIGEST_INVALID' },
    {
      name: 'blob by sha256+b64:',
      raw: get('/v2/library/app/blobs/sha256+b64:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564'),
      status: 400,
      code: 'DIGEST_INVALID',
    },
    { name: 'blob by digest with trailing dot', raw: get('/v2/library/app/blobs/{{LAYER}}.'), status: 400, code: 'DIGEST_INVALID' },
    { name: 'blob by digest with a ":" suffix', raw: get('/v2/library/app/blobs/{{LAYER}}:x'), status: 400, code: 'DIGEST_INVALID' },
    { name: 'blob by a tag', raw: get('/v2/library/app/blobs/latest'), status: 400, code: 'DIGEST_INVALID' },
    {
      name: 'blob by well-formed sha512 nothing has',
      raw: get(`/v2/library/app/blobs/sha512:${'b'.repeat(128)}`),
      status: 404,
      code: 'BLOB_UNKNOWN',
      upstream: 'allowed',
    },
    { name: 'blob by well-formed sha256 nothing has', raw: get('/v2/library/app/blobs/{{MISSING}}'), status: 404, code: 'BLOB_UNKNOWN', upstream: 'allowed' },
    { name: 'referrers by md5:', raw: get('/v2/library/app/referrers/md5:d41d8cd98f00b204e9800998ecf8427e'), status: 400, code: 'DIGEST_INVALID' },
    { name: 'referrers by a tag', raw: get('/v2/library/app/referrers/v1'), status: 400, code: 'DIGEST_INVALID' },
    // A tag the grammar forbids names no manifest: 404 MANIFEST_UNKNOWN as the spec has it (the conformance
    // suite asks for `.INVALID_MANIFEST_NAME`), never asked upstream; a reference with ":" is a digest, or 400.
    { name: 'tag of 129 characters', raw: get(`/v2/library/app/manifests/${'t'.repeat(129)}`), status: 404, code: 'MANIFEST_UNKNOWN' },
    {
      name: 'tag of 128 characters (valid, unknown upstream)',
      raw: get(`/v2/library/app/manifests/${'t'.repeat(128)}`),
      status: 404,
      code: 'MANIFEST_UNKNOWN',
      upstream: 'allowed',
    },
    { name: 'tag with leading dash', raw: get('/v2/library/app/manifests/-v1'), status: 404, code: 'MANIFEST_UNKNOWN' },
    { name: 'tag with leading dot', raw: get('/v2/library/app/manifests/.v1'), status: 404, code: 'MANIFEST_UNKNOWN' },
    {
      name: 'tag .INVALID_MANIFEST_NAME (the conformance suite)',
      raw: get('/v2/library/app/manifests/.INVALID_MANIFEST_NAME'),
      status: 404,
      code: 'MANIFEST_UNKNOWN',
    },
    { name: 'tag with $(id)', raw: get('/v2/library/app/manifests/v1$(id)'), status: 404, code: 'MANIFEST_UNKNOWN' },
    { name: 'tag with ";"', raw: get('/v2/library/app/manifests/v1;ls'), status: 404, code: 'MANIFEST_UNKNOWN' },
    // Node's parser may refuse these bytes in a request line (400, no OCI body) before tender sees them.
    { name: 'tag with "|"', raw: get('/v2/library/app/manifests/v1|id'), status: [400, 404], code: ['MANIFEST_UNKNOWN', null] },
    { name: 'tag with backticks', raw: get('/v2/library/app/manifests/v1`id`'), status: [400, 404], code: ['MANIFEST_UNKNOWN', null] },
    { name: 'tag with "*"', raw: get('/v2/library/app/manifests/*'), status: 404, code: 'MANIFEST_UNKNOWN' },
    { name: 'tag with ","', raw: get('/v2/library/app/manifests/v1,v2'), status: 404, code: 'MANIFEST_UNKNOWN' },
    { name: 'tag with "#fragment"', raw: get('/v2/library/app/manifests/v1#frag'), status: 404, code: 'MANIFEST_UNKNOWN' },
    { name: 'tag "name:tag"', raw: get('/v2/library/app/manifests/app:v1'), status: 400, code: 'DIGEST_INVALID' },
    { name: 'tag "v1@digest"', raw: get('/v2/library/app/manifests/v1@{{MANIFEST}}'), status: 400, code: 'DIGEST_INVALID' },
  ]);

  // ns values: containerd's ?ns= may only select a configured upstream.
  const nsTarget = (ns: string) => get(`${manifestV1}?ns=${ns}`);
  const denied = (name: string, ns: string, extra: Partial<HostileCase> = {}): Omit<HostileCase, 'group'> => ({
    name: `ns=${name}`,
    raw: nsTarget(ns),
    status: 403,
    code: 'DENIED',
    ...extra,
  });
  add('ns', [
    denied('127.0.0.1', '127.0.0.1'),
    denied('127.0.0.1:<registry port>', '127.0.0.1:{{RP}}'),
    denied('[::1]', '[::1]'),
    denied('[::1]:<registry port>', '[::1]:{{RP}}'),
    denied('169.254.169.254', '169.254.169.254'),
    denied('10.0.0.1', '10.0.0.1'),
    denied('localhost', 'localhost'),
    denied('localhost:<registry port>', 'localhost:{{RP}}'),
    denied('2130706433 (decimal IP)', '2130706433'),
    denied('0x7f.1 (hex IP)', '0x7f.1'),
    denied('evil.example', 'evil.example'),
    denied('docker.io.evil.example', 'docker.io.evil.example'),
    denied('registry.test.evil.example', 'registry.test.evil.example'),
    denied('docker.io:443 (configured name, other port)', 'docker.io:443'),
    denied('http://127.0.0.1:<registry port>', 'http://127.0.0.1:{{RP}}'),
    denied('docker.io@127.0.0.1 (userinfo)', 'docker.io@127.0.0.1:{{RP}}'),
    denied('127.0.0.1:<registry port>/v2', '127.0.0.1:{{RP}}/v2'),
    denied('empty', ''),
    { name: 'ns without "="', raw: get(`${manifestV1}?ns`), status: 403, code: 'DENIED' },
    denied('evil then docker.io (repeated)', 'evil.example&ns=docker.io'),
    denied('docker.io + %0d%0a header injection', 'docker.io%0d%0aX-Injected:%20yes', { check: noInjectedHeader }),
    denied('docker.io + %00', 'docker.io%00'),
    denied('%20docker.io (leading space)', '%20docker.io'),
    denied('docker.io%20 (trailing space)', 'docker.io%20'),
    denied('d\u043echer.io (Cyrillic o, percent-encoded)', 'd%D0%BEcker.io'),
    // Under a Unicode case fold these become "docker.io": registry names are compared as ASCII only.
    denied('doc\u212Aer.io (Kelvin sign, percent-encoded)', 'doc%E2%84%AAer.io'),
    denied('DOC\u212AER.IO (Kelvin sign, upper case)', 'DOC%E2%84%AAER.IO'),
    denied('\uff44ocker.io (fullwidth d)', '%EF%BD%84ocker.io'),
    denied('docker.\u0130o (dotted capital I)', 'docker.%C4%B0o'),
    denied('300 characters', `${'a'.repeat(296)}.com`),
    denied('10k characters', `${'a.'.repeat(5000)}com`),
    denied('docker.io#fragment', 'docker.io#fragment'),
    denied('docker.io;ns=evil (semicolon)', 'docker.io;ns=evil.example'),
    { name: 'percent-encoded key %6es=127.0.0.1', raw: get(`${manifestV1}?%6es=127.0.0.1`), status: 403, code: 'DENIED' },
    { name: 'ns=169.254.169.254 on a cached blob', raw: get(`${layerPath}?ns=169.254.169.254`), status: 403, code: 'DENIED' },
    { name: 'ns=127.0.0.1:<registry port> on tags/list', raw: get('/v2/library/app/tags/list?ns=127.0.0.1:{{RP}}'), status: 403, code: 'DENIED' },
    { name: 'ns=10.0.0.1 on referrers', raw: get('/v2/library/app/referrers/{{MANIFEST}}?ns=10.0.0.1'), status: 403, code: 'DENIED' },
    { name: 'HEAD with ns=localhost', raw: req('HEAD', `${manifestV1}?ns=localhost`), status: 403, code: null },
    { name: 'ns=DOCKER.IO (case-insensitive, cached)', raw: nsTarget('DOCKER.IO'), status: 200 },
    { name: 'ns=index.docker.io (alias, cached)', raw: nsTarget('index.docker.io'), status: 200 },
    { name: 'ns=docker.io then evil (first wins, cached)', raw: nsTarget('docker.io&ns=evil.example'), status: 200 },
    { name: 'NS=127.0.0.1 (not the ns key, cached)', raw: get(`${manifestV1}?NS=127.0.0.1`), status: 200 },
    { name: 'ns[]=127.0.0.1 (not the ns key, cached)', raw: get(`${manifestV1}?ns[]=127.0.0.1`), status: 200 },
    { name: 'ns=127.0.0.1 on /v2/ (base never routes)', raw: get('/v2/?ns=127.0.0.1:{{RP}}'), status: 200 },
  ]);

  // Host prefixes (CRI-O / podman style): the first component may only name a configured upstream.
  add('prefix', [
    { name: '/v2/127.0.0.1:<registry port>/library/app', raw: get('/v2/127.0.0.1:{{RP}}/library/app/manifests/v1'), status: 403, code: 'DENIED' },
    { name: '/v2/127.0.0.1/library/app', raw: get('/v2/127.0.0.1/library/app/manifests/v1'), status: 403, code: 'DENIED' },
    { name: '/v2/169.254.169.254/latest/meta-data', raw: get('/v2/169.254.169.254/latest/meta-data/manifests/x'), status: 403, code: 'DENIED' },
    {
      name: '/v2/metadata.google.internal/computeMetadata/v1',
      raw: get('/v2/metadata.google.internal/computeMetadata/v1/manifests/x'),
      status: 403,
      code: 'DENIED',
    },
    { name: '/v2/10.0.0.1/x', raw: get('/v2/10.0.0.1/x/manifests/latest'), status: 403, code: 'DENIED' },
    { name: '/v2/localhost/library/app', raw: get('/v2/localhost/library/app/manifests/v1'), status: 403, code: 'DENIED' },
    { name: '/v2/localhost:<registry port>/library/app', raw: get('/v2/localhost:{{RP}}/library/app/manifests/v1'), status: 403, code: 'DENIED' },
    { name: '/v2/127.1/x (short IPv4)', raw: get('/v2/127.1/x/manifests/latest'), status: 403, code: 'DENIED' },
    { name: '/v2/0177.0.0.1/x (octal IPv4)', raw: get('/v2/0177.0.0.1/x/manifests/latest'), status: 403, code: 'DENIED' },
    { name: '/v2/evil.example/library/app', raw: get('/v2/evil.example/library/app/manifests/v1'), status: 403, code: 'DENIED' },
    { name: '/v2/evil.example/x/blobs/<cached layer>', raw: get('/v2/evil.example/x/blobs/{{LAYER}}'), status: 403, code: 'DENIED' },
    { name: '/v2/docker.io.evil.example/library/app', raw: get('/v2/docker.io.evil.example/library/app/manifests/v1'), status: 403, code: 'DENIED' },
    { name: '/v2/registry.test:5000 (configured name, other port)', raw: get('/v2/registry.test:5000/library/app/manifests/v1'), status: 403, code: 'DENIED' },
    // Not host-shaped (trailing dot), so it is a repository name, and an invalid one.
    { name: '/v2/docker.io. (trailing dot)', raw: get('/v2/docker.io./library/app/manifests/v1'), status: 400, code: 'NAME_INVALID' },
    { name: 'HEAD /v2/127.0.0.1:<registry port>/... blob', raw: req('HEAD', '/v2/127.0.0.1:{{RP}}/library/app/blobs/{{LAYER}}'), status: 403, code: null },
    { name: '/v2/127.0.0.1:<registry port>/.../tags/list', raw: get('/v2/127.0.0.1:{{RP}}/library/app/tags/list'), status: 403, code: 'DENIED' },
    { name: '/v2/[::1]/library/app (not a host, not a name)', raw: get('/v2/[::1]/library/app/manifests/v1'), status: 400, code: 'NAME_INVALID' },
    { name: '/v2/[::1]:<registry port>/x', raw: get('/v2/[::1]:{{RP}}/x/manifests/v1'), status: 400, code: 'NAME_INVALID' },
    {
      name: '/v2/127.0.0.1:<registry port>/manifests (host as the whole name)',
      raw: get('/v2/127.0.0.1:{{RP}}/manifests/latest'),
      status: 400,
      code: 'NAME_INVALID',
    },
    {
      name: '/v2/docker.io/127.0.0.1:<registry port>/x (host after a prefix)',
      raw: get('/v2/docker.io/127.0.0.1:{{RP}}/x/manifests/latest'),
      status: 400,
      code: 'NAME_INVALID',
    },
    { name: 'very long host prefix', raw: get(`/v2/${'a'.repeat(250)}.example/x/manifests/latest`), status: 403, code: 'DENIED' },
    {
      name: 'host prefix with CR/LF encoded',
      raw: get('/v2/evil.example%0d%0aX-Injected:%20yes/x/manifests/latest'),
      status: 400,
      code: 'NAME_INVALID',
      check: noInjectedHeader,
    },
    { name: 'REGISTRY.TEST prefix (case-insensitive host)', raw: get('/v2/REGISTRY.TEST/library/app/manifests/v1'), status: 200, upstream: 'allowed' },
    {
      name: 'repeated prefix docker.io/docker.io (a repository name upstream)',
      raw: get('/v2/docker.io/docker.io/library/app/manifests/v1'),
      status: 404,
      code: 'MANIFEST_UNKNOWN',
      upstream: 'allowed',
    },
    {
      name: 'registry.test/169.254.169.254/x (an IP-looking repository on a configured upstream)',
      raw: get('/v2/registry.test/169.254.169.254/x/manifests/latest'),
      status: 404,
      code: 'MANIFEST_UNKNOWN',
      upstream: 'allowed',
    },
    {
      name: 'evil prefix overridden by ns=docker.io (a repository name upstream)',
      raw: get('/v2/evil.example/x/manifests/v1?ns=docker.io'),
      status: 404,
      code: 'MANIFEST_UNKNOWN',
      upstream: 'allowed',
    },
  ]);

  // Methods: a read-only mirror answers UNSUPPORTED to everything but GET/HEAD, before routing anywhere.
  const withBody = (body: string, type = 'application/octet-stream') => ({ headers: [`Content-Type: ${type}`, `Content-Length: ${body.length}`], body });
  add('methods', [
    {
      name: 'PUT manifest',
      raw: req('PUT', manifestV1, withBody('{"schemaVersion":2}', 'application/vnd.oci.image.manifest.v1+json')),
      status: 405,
      code: 'UNSUPPORTED',
    },
    { name: 'POST blob upload', raw: req('POST', '/v2/library/app/blobs/uploads/', withBody('')), status: 405, code: 'UNSUPPORTED' },
    {
      name: 'POST cross-repo mount',
      raw: req('POST', '/v2/library/app/blobs/uploads/?mount={{LAYER}}&from=library/app', withBody('')),
      status: 405,
      code: 'UNSUPPORTED',
    },
    {
      name: 'POST monolithic upload with digest',
      raw: req('POST', '/v2/library/app/blobs/uploads/?digest={{MISSING}}', withBody('hello')),
      status: 405,
      code: 'UNSUPPORTED',
    },
    { name: 'PATCH upload session', raw: req('PATCH', '/v2/library/app/blobs/uploads/0123-4567', withBody('hello')), status: 405, code: 'UNSUPPORTED' },
    {
      name: 'PUT upload session',
      raw: req('PUT', '/v2/library/app/blobs/uploads/0123-4567?digest={{MISSING}}', withBody('')),
      status: 405,
      code: 'UNSUPPORTED',
    },
    { name: 'GET upload session', raw: get('/v2/library/app/blobs/uploads/0123-4567'), status: 405, code: 'UNSUPPORTED' },
    { name: 'HEAD upload path', raw: req('HEAD', '/v2/library/app/blobs/uploads/'), status: 405, code: null },
    { name: 'DELETE upload session', raw: req('DELETE', '/v2/library/app/blobs/uploads/0123-4567'), status: 405, code: 'UNSUPPORTED' },
    { name: 'DELETE manifest by digest', raw: req('DELETE', '/v2/library/app/manifests/{{MANIFEST}}'), status: 405, code: 'UNSUPPORTED' },
    { name: 'DELETE cached blob', raw: req('DELETE', layerPath), status: 405, code: 'UNSUPPORTED' },
    { name: 'DELETE with hostile ns', raw: req('DELETE', `${manifestV1}?ns=169.254.169.254`), status: 405, code: 'UNSUPPORTED' },
    { name: 'DELETE with hostile prefix', raw: req('DELETE', '/v2/127.0.0.1:{{RP}}/library/app/manifests/v1'), status: 405, code: 'UNSUPPORTED' },
    {
      name: 'POST with chunked body',
      raw: req('POST', manifestV1, { headers: ['Transfer-Encoding: chunked'], body: '5\r\nhello\r\n0\r\n\r\n' }),
      status: 405,
      code: 'UNSUPPORTED',
    },
    {
      name: 'PUT with Expect: 100-continue',
      raw: req('PUT', manifestV1, { headers: ['Expect: 100-continue', 'Content-Length: 2'], body: '{}' }),
      status: 405,
      code: 'UNSUPPORTED',
    },
    { name: 'OPTIONS /v2/', raw: req('OPTIONS', '/v2/'), status: 405, code: 'UNSUPPORTED' },
    { name: 'OPTIONS manifest', raw: req('OPTIONS', manifestV1), status: 405, code: 'UNSUPPORTED' },
    { name: 'OPTIONS *', raw: req('OPTIONS', '*'), status: 400, code: null },
    { name: 'TRACE manifest', raw: req('TRACE', manifestV1), status: 405, code: 'UNSUPPORTED' },
    { name: 'TRACE / (not registry API)', raw: req('TRACE', '/'), status: 404, code: 'NAME_UNKNOWN' },
    { name: 'PROPFIND manifest', raw: req('PROPFIND', manifestV1, { headers: ['Depth: infinity'] }), status: 405, code: 'UNSUPPORTED' },
    { name: 'MKCOL manifest', raw: req('MKCOL', '/v2/library/newrepo/manifests/v1'), status: 405, code: 'UNSUPPORTED' },
    { name: 'MKCOL on a non-registry path', raw: req('MKCOL', '/v2/library/newrepo/'), status: 404, code: 'NAME_UNKNOWN' },
    { name: 'COPY blob', raw: req('COPY', layerPath, { headers: [`Destination: /v2/library/other/blobs/{{LAYER}}`] }), status: 405, code: 'UNSUPPORTED' },
    { name: 'MOVE manifest', raw: req('MOVE', manifestV1, { headers: ['Destination: /etc/passwd'] }), status: 405, code: 'UNSUPPORTED' },
    { name: 'LOCK manifest', raw: req('LOCK', manifestV1), status: 405, code: 'UNSUPPORTED' },
    { name: 'PURGE cached blob', raw: req('PURGE', layerPath), status: 405, code: 'UNSUPPORTED' },
    { name: 'SEARCH /v2/', raw: req('SEARCH', '/v2/'), status: 405, code: 'UNSUPPORTED' },
    // Node has no CONNECT handler here: it drops the connection without a word, and nothing is tunnelled.
    { name: 'CONNECT to the registry', raw: req('CONNECT', '127.0.0.1:{{RP}}', { host: '127.0.0.1:{{RP}}' }), status: 0 },
    { name: 'CONNECT to metadata', raw: req('CONNECT', '169.254.169.254:80', { host: '169.254.169.254:80' }), status: 0 },
    { name: 'unknown method FOO', raw: req('FOO', '/v2/'), status: 400, code: null },
    { name: 'lowercase method get', raw: req('get', manifestV1), status: 400, code: null },
    { name: 'method with NUL byte', raw: req('GE\x00T', manifestV1), status: 400, code: null },
    { name: 'HTTP/2 connection preface', raw: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', status: 400, code: null },
  ]);

  // Headers: oversized, malformed, contradictory framing, odd Range and Accept values, foreign Host.
  const range = (value: string, status: number, check?: HostileCase['check']): Omit<HostileCase, 'group'> => ({
    name: `Range: ${value.length > 40 ? `${value.slice(0, 40)}…` : value} on a cached blob`,
    raw: get(layerPath, { headers: [`Range: ${value}`] }),
    status,
    ...(status >= 400 ? { code: 'RANGE_INVALID' as const } : {}),
    ...(check ? { check } : {}),
  });
  const digits100 = '9'.repeat(100);
  const bigHeader = (bytes: number) => [`X-Big: ${'x'.repeat(bytes)}`];
  add('headers', [
    { name: 'one 20 KiB header', raw: get('/v2/', { headers: bigHeader(20 * 1024) }), status: 431, code: null },
    { name: 'one 17 KiB header', raw: get(manifestV1, { headers: bigHeader(17 * 1024) }), status: 431, code: null },
    {
      name: '3000 small headers (over 16 KiB)',
      raw: get(manifestV1, { headers: Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`) }),
      status: 431,
      code: null,
    },
    // Node 24 answers 431 itself to more than 1000 header fields (Node 20 accepted them): stay under both limits.
    { name: '900 small headers (under 16 KiB)', raw: get('/v2/', { headers: Array.from({ length: 900 }, (_, i) => `X-H${i}: v`) }), status: 200 },
    { name: '15 KiB cookie (under the limit)', raw: get(manifestV1, { headers: [`Cookie: a=${'b'.repeat(15 * 1024)}`] }), status: 200 },
    range('bytes=-', 200, fullBlob),
    range('bytes=5-1', 200, fullBlob),
    range('bytes=0-1,2-3', 200, fullBlob),
    range('items=0-1', 200, fullBlob),
    range('bytes=', 200, fullBlob),
    range('bytes=abc', 200, fullBlob),
    range('bytes = 0-1', 200, fullBlob),
    range('bytes=-1-2', 200, fullBlob),
    range('bytes=1e3-2e3', 200, fullBlob),
    range('bytes=0x10-0x20', 200, fullBlob),
    range(`bytes=${digits100}-`, 200, fullBlob),
    range('bytes=9007199254740993-', 200, fullBlob),
    range(
      `bytes=-${digits100}`,
      206,
      expectBodyLength((c) => c.layerSize),
    ),
    range(
      `bytes=0-${digits100}`,
      206,
      expectBodyLength((c) => c.layerSize),
    ),
    range(
      'bytes=0-0',
      206,
      expectBodyLength(() => 1),
    ),
    range(
      'bytes=-1',
      206,
      expectBodyLength(() => 1),
    ),
    range('bytes={{LAYER_SIZE}}-', 416),
    range('bytes=-0', 416),
    // If-Range (RFC 9110 §13.1.5): the range only when the validator is the blob's strong ETag ("<digest>").
    {
      name: "Range with If-Range of the blob's own ETag",
      raw: get(layerPath, { headers: ['Range: bytes=0-0', 'If-Range: "{{LAYER}}"'] }),
      status: 206,
      check: expectBodyLength(() => 1),
    },
    {
      name: 'Range with If-Range of another ETag',
      raw: get(layerPath, { headers: ['Range: bytes=0-0', 'If-Range: "{{MISSING}}"'] }),
      status: 200,
      check: fullBlob,
    },
    {
      name: 'Range with If-Range of a weak ETag',
      raw: get(layerPath, { headers: ['Range: bytes=0-0', 'If-Range: W/"{{LAYER}}"'] }),
      status: 200,
      check: fullBlob,
    },
    {
      name: 'Range with If-Range of an unquoted digest',
      raw: get(layerPath, { headers: ['Range: bytes=0-0', 'If-Range: {{LAYER}}'] }),
      status: 200,
      check: fullBlob,
    },
    {
      name: 'Range with If-Range of an HTTP-date (no Last-Modified is sent)',
      raw: get(layerPath, { headers: ['Range: bytes=0-0', 'If-Range: Wed, 21 Oct 2015 07:28:00 GMT'] }),
      status: 200,
      check: fullBlob,
    },
    {
      name: 'unsatisfiable Range with a mismatched If-Range (whole body)',
      raw: get(layerPath, { headers: ['Range: bytes={{LAYER_SIZE}}-', 'If-Range: "x"'] }),
      status: 200,
      check: fullBlob,
    },
    { name: 'cached blob carries its digest as ETag', raw: get(layerPath), status: 200, check: expectHeader('etag', (c) => `"${c.layer}"`) },
    { name: 'cached manifest carries its digest as ETag', raw: get(manifestV1), status: 200, check: expectHeader('etag', (c) => `"${c.manifest}"`) },
    { name: 'HEAD of a cached blob carries its ETag', raw: req('HEAD', layerPath), status: 200, check: expectHeader('etag', (c) => `"${c.layer}"`) },
    // Node joins repeated Range headers into a multi-range value, which is answered whole.
    { name: 'two Range headers on a cached blob', raw: get(layerPath, { headers: ['Range: bytes=0-1', 'Range: bytes=2-3'] }), status: 200, check: fullBlob },
    { name: 'Range with raw NUL', raw: get(layerPath, { headers: ['Range: bytes=0-1\x00'] }), status: 400, code: null },
    { name: 'Range on a manifest (ignored)', raw: get(manifestV1, { headers: ['Range: bytes=0-1'] }), status: 200 },
    {
      name: 'Accept: ../../etc/passwd on a cached manifest digest',
      raw: get('/v2/library/app/manifests/{{MANIFEST}}', { headers: ['Accept: ../../etc/passwd'] }),
      status: 200,
    },
    {
      name: 'Accept of 10k characters on a cached tag',
      raw: get(manifestV1, { headers: [`Accept: ${Array.from({ length: 400 }, (_, i) => `application/x-${i}+json;q=0.${i % 10}`).join(', ')}, */*`] }),
      status: 200,
    },
    {
      name: 'Accept with bogus q values (cached)',
      raw: get(manifestV1, { headers: ['Accept: application/vnd.oci.image.manifest.v1+json;q=abc, */*;q=-1'] }),
      status: 200,
    },
    // An Accept the cached record cannot satisfy is asked upstream; the reference registry refuses OCI manifests to it.
    {
      name: 'Accept: ../../etc/passwd on a cached OCI tag',
      raw: get(manifestV1, { headers: ['Accept: ../../etc/passwd'] }),
      status: [200, 404],
      code: 'MANIFEST_UNKNOWN',
      upstream: 'allowed',
    },
    // The client's Accept goes upstream verbatim; distribution then down-converts schema 2 to a signed schema 1
    // whose Docker-Content-Digest covers the payload without the signature, not the bytes sent.
    {
      name: 'Accept: text/html on a Docker schema 2 tag',
      raw: get('/v2/team/legacy/manifests/1.0?ns=registry.test', { headers: ['Accept: text/html'] }),
      status: [200, 404],
      code: 'MANIFEST_UNKNOWN',
      upstream: 'allowed',
    },
    {
      name: 'Accept: schema 1 only, on a Docker schema 2 tag',
      raw: get('/v2/team/legacy/manifests/1.0?ns=registry.test', { headers: ['Accept: application/vnd.docker.distribution.manifest.v1+prettyjws'] }),
      status: [200, 404],
      code: 'MANIFEST_UNKNOWN',
      upstream: 'allowed',
    },
    {
      name: 'Accept-Encoding: gzip on a cached blob (never compressed)',
      raw: get(layerPath, { headers: ['Accept-Encoding: gzip, deflate, br, zstd'] }),
      status: 200,
      check: (r, c) => {
        fullBlob(r, c);
        if (r.headers['content-encoding'] !== undefined) throw new Error(`blob answered with content-encoding ${r.headers['content-encoding']}`);
      },
    },
    { name: 'GET with a chunked body', raw: get(manifestV1, { headers: ['Transfer-Encoding: chunked'], body: '5\r\nhello\r\n0\r\n\r\n' }), status: 200 },
    // Node may answer the request (headers complete) before it reads the broken body, or refuse it first.
    {
      name: 'GET with a malformed chunked body',
      raw: get(manifestV1, { headers: ['Transfer-Encoding: chunked'], body: 'zz\r\nhello\r\n' }),
      status: [200, 400],
    },
    { name: 'Content-Length larger than the body', raw: get('/v2/', { headers: ['Content-Length: 100'], body: 'abc' }), status: 200 },
    {
      name: 'Content-Length smaller than the body (smuggled request after)',
      raw: get('/v2/', { headers: ['Content-Length: 3'], body: `abcDELETE ${manifestV1} HTTP/1.1\r\nHost: x\r\n\r\n` }),
      status: 200,
    },
    {
      name: 'Content-Length and Transfer-Encoding together',
      raw: get(manifestV1, { headers: ['Content-Length: 5', 'Transfer-Encoding: chunked'], body: '0\r\n\r\n' }),
      status: 400,
      code: null,
    },
    {
      name: 'two different Content-Length values',
      raw: get(manifestV1, { headers: ['Content-Length: 1', 'Content-Length: 2'], body: 'ab' }),
      status: 400,
      code: null,
    },
    { name: 'negative Content-Length', raw: get(manifestV1, { headers: ['Content-Length: -1'] }), status: 400, code: null },
    { name: 'Content-Length of 100 digits', raw: get(manifestV1, { headers: [`Content-Length: ${digits100}`] }), status: 400, code: null },
    { name: 'Transfer-Encoding: identity', raw: get(manifestV1, { headers: ['Transfer-Encoding: identity'] }), status: 400, code: null },
    {
      name: 'Transfer-Encoding: chunked, gzip (chunked not last)',
      raw: get(manifestV1, { headers: ['Transfer-Encoding: chunked, gzip'] }),
      status: 400,
      code: null,
    },
    // Absolute-form targets are not registry paths to tender: answered locally, never proxied.
    { name: 'absolute-form target to another host', raw: get('http://evil.example/v2/', { host: 'evil.example' }), status: 404, code: 'NAME_UNKNOWN' },
    {
      name: 'absolute-form target to metadata',
      raw: get('http://169.254.169.254/latest/meta-data/', { host: '169.254.169.254' }),
      status: 404,
      code: 'NAME_UNKNOWN',
    },
    {
      name: 'absolute-form target to the registry itself',
      raw: get(`http://127.0.0.1:{{RP}}${manifestV1}`, { host: '127.0.0.1:{{RP}}' }),
      status: 404,
      code: 'NAME_UNKNOWN',
    },
    { name: 'Host: 169.254.169.254 (served locally from cache)', raw: get(manifestV1, { host: '169.254.169.254' }), status: 200 },
    { name: 'Host: registry port (served locally from cache)', raw: get(manifestV1, { host: '127.0.0.1:{{RP}}' }), status: 200 },
    {
      name: 'Host: evil.example on a tag never seen',
      raw: get('/v2/library/nope/manifests/latest', { host: 'evil.example' }),
      status: 404,
      code: 'MANIFEST_UNKNOWN',
      upstream: 'allowed',
    },
    { name: 'empty Host', raw: get('/v2/', { host: '' }), status: 200 },
    // The HTTP adapter refuses a Host it cannot build a URL from.
    { name: 'Host with a space', raw: get('/v2/', { host: 'evil example' }), status: 400, code: null },
    { name: 'Host with a path', raw: get(manifestV1, { host: '127.0.0.1:{{RP}}/../../x' }), status: 400, code: null },
    { name: 'Host with userinfo', raw: get('/v2/', { host: 'user:pass@evil.example' }), status: 400, code: null },
    { name: 'no Host on HTTP/1.1', raw: get('/v2/', { host: null }), status: 400, code: null },
    { name: 'two Host headers', raw: get('/v2/', { headers: ['Host: evil.example'] }), status: 200 },
    {
      name: 'X-Forwarded-Host / X-Original-URL / X-Rewrite-URL',
      raw: get(manifestV1, {
        headers: [
          'X-Forwarded-Host: evil.example',
          'X-Forwarded-Proto: gopher',
          'X-Original-URL: /v2/../../etc/passwd',
          'X-Rewrite-URL: /v2/127.0.0.1:{{RP}}/x/manifests/v1',
        ],
      }),
      status: 200,
    },
    { name: 'Authorization: Basic garbage (anonymous mirror)', raw: get(manifestV1, { headers: ['Authorization: Basic !!!notbase64'] }), status: 200 },
    { name: 'Authorization: Bearer of 10k characters', raw: get(manifestV1, { headers: [`Authorization: Bearer ${'t'.repeat(10_000)}`] }), status: 200 },
    { name: 'header name with a space', raw: get('/v2/', { headers: ['X Bad: 1'] }), status: 400, code: null },
    { name: 'header line without a colon', raw: get('/v2/', { headers: ['NoColonHere'] }), status: 400, code: null },
    { name: 'header value with raw NUL', raw: get('/v2/', { headers: ['X-A: a\x00b'] }), status: 400, code: null },
    { name: 'obs-fold continuation line', raw: get('/v2/', { headers: ['X-A: a', ' folded: yes'] }), status: 400, code: null },
    { name: 'bare LF line endings', raw: `GET /v2/ HTTP/1.1\nHost: 127.0.0.1:{{TP}}\nConnection: close\n\n`, status: 400, code: null },
    {
      name: 'X-Request-Id of 10k characters',
      raw: get('/v2/', { headers: [`X-Request-Id: ${'r'.repeat(10_000)}`] }),
      status: 200,
      check: (r) => void ((r.headers['x-request-id'] ?? '').length <= 64 || fail('x-request-id not clipped')),
    },
    // A DEL would be echoed into x-request-id, where Node refuses it; its parser rejects it first.
    { name: 'X-Request-Id with DEL byte, on an error', raw: get('/v2/Bad/manifests/v1', { headers: ['X-Request-Id: a\x7fb'] }), status: 400, code: null },
    { name: 'X-Request-Id with DEL byte, on a cached manifest', raw: get(manifestV1, { headers: ['X-Request-Id: a\x7fb'] }), status: 400, code: null },
    { name: 'X-Request-Id with latin1 bytes', raw: get(manifestV1, { headers: ['X-Request-Id: caf\xe9\xff'] }), status: 200 },
    {
      name: 'X-Request-Id with CR/LF (encoded as text)',
      raw: get('/v2/', { headers: ['X-Request-Id: a%0d%0aX-Injected: yes'] }),
      status: 200,
      check: noInjectedHeader,
    },
    { name: 'Expect: 100-continue on GET', raw: get('/v2/', { headers: ['Expect: 100-continue'] }), status: 200 },
    { name: 'Expect: bogus', raw: get('/v2/', { headers: ['Expect: something-else'] }), status: 417, code: null },
    {
      name: 'Upgrade: websocket (answered as a plain request)',
      raw: get('/v2/', { headers: ['Upgrade: websocket', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13'], close: false }),
      status: 200,
    },
    { name: 'HTTP/1.0 without Host', raw: get('/v2/', { version: 'HTTP/1.0', host: null, close: false }), status: 200 },
    { name: 'HTTP/1.0 cached manifest pull', raw: get(manifestV1, { version: 'HTTP/1.0', close: false }), status: 200 },
    {
      name: 'HTTP/1.0 with hostile ns',
      raw: get(`${manifestV1}?ns=169.254.169.254`, { version: 'HTTP/1.0', host: null, close: false }),
      status: 403,
      code: 'DENIED',
    },
    // Node's parser takes a version-less line as HTTP/0.9 and a 2.0 line as a request it can answer: both harmless here.
    { name: 'HTTP/0.9 simple request', raw: 'GET /v2/\r\n\r\n', status: 200 },
    { name: 'HTTP/0.9 with hostile ns', raw: `GET ${manifestV1}?ns=127.0.0.1:{{RP}}\r\n\r\n`, status: 403, code: 'DENIED' },
    { name: 'HTTP/2.0 in the request line', raw: get('/v2/', { version: 'HTTP/2.0' }), status: 200 },
    { name: 'HTTP/1.1 with a bogus version HTTP/9.9', raw: get('/v2/', { version: 'HTTP/9.9' }), status: 400, code: null },
  ]);

  // Pipelining: every request received before a malformed one is answered first, in order (RFC 9112 §9.3.2);
  // the first answer on the connection is the first request's.
  const keepAlive = (target: string, headers: string[] = []) => get(target, { close: false, headers });
  add('pipelining', [
    {
      name: 'valid, header line without a colon, valid',
      raw: keepAlive(manifestV1) + 'GET /v2/ HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n' + get('/v2/'),
      status: 200,
      check: expectHeader('docker-content-digest', (c) => c.manifest),
    },
    {
      name: 'valid blob, then a 20 KiB header',
      raw: keepAlive(layerPath) + get('/v2/', { headers: bigHeader(20 * 1024) }),
      status: 200,
      check: fullBlob,
    },
    {
      name: 'two valid, then a bare LF request',
      raw: keepAlive('/v2/') + keepAlive(manifestV1) + 'GET /v2/ HTTP/1.1\nHost: x\n\n',
      status: 200,
    },
    {
      name: 'valid, then Content-Length and Transfer-Encoding together',
      raw: keepAlive(manifestV1) + get(manifestV1, { headers: ['Content-Length: 5', 'Transfer-Encoding: chunked'], body: '0\r\n\r\n' }),
      status: 200,
      check: expectHeader('docker-content-digest', (c) => c.manifest),
    },
  ]);

  // Query strings: forwarded parameters are re-encoded, unknown ones dropped, none can redirect routing.
  const junk = (n: number) => Array.from({ length: Math.ceil(n / 10) }, (_, i) => `k${i}=v${i}`.padEnd(9, 'x')).join('&');
  add('query', [
    { name: 'tags/list?n=-1', raw: get('/v2/library/app/tags/list?n=-1'), status: 200, upstream: 'allowed' },
    { name: 'tags/list?n=1e9', raw: get('/v2/library/app/tags/list?n=1e9'), status: 200, upstream: 'allowed' },
    { name: 'tags/list?n=<100 digits>', raw: get(`/v2/library/app/tags/list?n=${digits100}`), status: 200, upstream: 'allowed' },
    { name: 'tags/list?last=../../etc/passwd', raw: get('/v2/library/app/tags/list?last=../../../../etc/passwd'), status: 200, upstream: 'allowed' },
    { name: 'tags/list?last=%2F..%2F..%2Fetc', raw: get('/v2/library/app/tags/list?last=%2F..%2F..%2Fetc%2Fpasswd'), status: 200, upstream: 'allowed' },
    { name: 'tags/list?last=%00', raw: get('/v2/library/app/tags/list?last=%00'), status: 200, upstream: 'allowed' },
    {
      name: 'tags/list?n=1%0d%0aX-Injected',
      raw: get('/v2/library/app/tags/list?n=1%0d%0aX-Injected:%20yes'),
      status: 200,
      upstream: 'allowed',
      check: noInjectedHeader,
    },
    { name: 'tags/list?last=<10k>', raw: get(`/v2/library/app/tags/list?n=1&last=${'z'.repeat(10_000)}`), status: 200, upstream: 'allowed' },
    { name: 'tags/list with 10k of unknown parameters', raw: get(`/v2/library/app/tags/list?${junk(10_000)}`), status: 200, upstream: 'allowed' },
    {
      name: 'tags/list of a repository upstream does not have',
      raw: get('/v2/library/nope/tags/list?n=1'),
      status: 404,
      code: 'NAME_UNKNOWN',
      upstream: 'allowed',
    },
    { name: 'manifest with 10k of unknown parameters (cached)', raw: get(`${manifestV1}?${junk(10_000)}`), status: 200 },
    { name: 'manifest with ns=docker.io and 10k of parameters (cached)', raw: get(`${manifestV1}?ns=docker.io&${junk(10_000)}`), status: 200 },
    { name: 'blob with a query of 10k characters (cached)', raw: get(`${layerPath}?x=${'%41'.repeat(3_300)}`), status: 200, check: fullBlob },
    { name: 'query with malformed percent escapes (cached)', raw: get(`${manifestV1}?ns%zz=1&%=%&x=%G0`), status: 200 },
    { name: 'query with raw UTF-8', raw: get(utf8(`${manifestV1}?x=ünïcødé`)), status: 400, code: null },
    { name: 'query with raw NUL', raw: get(`${manifestV1}?x=\x00`), status: 400, code: null },
    // The CR/LF ends a version-less (HTTP/0.9-style) request line: the rest becomes a request header, never a response one.
    { name: 'raw CR/LF in the query', raw: get(`${manifestV1}?ns=docker.io\r\nX-Injected: yes`), status: 200, check: noInjectedHeader },
    {
      name: 'raw CR/LF in the query after a hostile ns',
      raw: get(`${manifestV1}?ns=169.254.169.254\r\nX-Injected: yes`),
      status: 403,
      code: 'DENIED',
      check: noInjectedHeader,
    },
    {
      name: 'referrers?artifactType=../../x',
      raw: get('/v2/library/app/referrers/{{MANIFEST}}?artifactType=../../../etc/passwd'),
      status: [200, 404],
      code: 'MANIFEST_UNKNOWN',
      upstream: 'allowed',
    },
    {
      name: 'referrers?artifactType=<10k>',
      raw: get(`/v2/library/app/referrers/{{MANIFEST}}?artifactType=${'a'.repeat(10_000)}`),
      status: [200, 404],
      code: 'MANIFEST_UNKNOWN',
      upstream: 'allowed',
    },
    { name: 'upload-style ?digest= on a GET manifest (cached)', raw: get(`${manifestV1}?digest={{MISSING}}&mount={{LAYER}}`), status: 200 },
  ]);

  return cases;
}

function fail(message: string): never {
  throw new Error(message);
}
