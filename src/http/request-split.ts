// Which requests the plain node:http registry listener answers and which go to hono (ops, admission, /api/v1,
// /ui, and every odd request target), decided from the first bytes of the request target and the Host header.
//
// The rule keeps behaviour identical to routing everything through hono: a request goes the raw way only when
// hono would have routed it to the registry handler with the same path the handler parses. That is certain for
// an origin-form target `/v2`, `/v2/…` or `/v2?…` made only of the characters @hono/node-server passes through
// untouched (no `%`, no `\`, no space or control bytes) and without a `.` or `..`
// segment, with a plain Host header: @hono/node-server then builds the URL by concatenation, and hono's path is
// the target's path as sent. Everything else (percent encodings, dot segments that `new URL` would resolve,
// `//v2/`, absolute-form targets, `*`, an odd Host) goes to hono, which normalises it as it always did and
// still hands a registry path to the same registry handler (app.ts); hono answers the adapter's 400s too.
import type { IncomingHttpHeaders } from 'node:http';

/** The request-target characters @hono/node-server takes as they are (its `reValidRequestUrl`, without `#`). */
const plainTarget = /^\/v2(?:[/?][!$&-;=?-[\]_a-z~]*)?$/;
/** A `.` or `..` segment, which `new URL` resolves (hono would route the resolved path). */
const dotSegment = /\/\.\.?(?:[/?]|$)/;
/** A Host @hono/node-server uses without parsing it (its `reValidHost`). */
const plainHost = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/;

/** Whether the plain registry listener answers this request: `url` is Node's `IncomingMessage.url` (the raw request target). */
export function isRawRegistryRequest(request: { readonly url?: string | undefined; readonly headers: IncomingHttpHeaders }): boolean {
  const url = request.url;
  // Cheapest first: every request the hot path sees starts with "/v2".
  if (url === undefined || url.charCodeAt(1) !== 118 /* v */ || url.charCodeAt(2) !== 50 /* 2 */ || url.charCodeAt(0) !== 47 /* / */) return false;
  const host = request.headers.host;
  return host !== undefined && plainHost.test(host) && plainTarget.test(url) && !dotSegment.test(url);
}
