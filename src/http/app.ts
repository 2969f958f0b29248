// The hono app: request ids, one log line per request, metrics, ops routes and the registry API.
// Response model (docs/architecture.md): the registry API and every OCI error are written straight to
// Node's response (reply.ts, send-file.ts); the ops endpoints return hono Responses.
import { randomBytes } from 'node:crypto';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { OciError } from '../oci/errors.js';
import { apiVersionValue, registryHeaders } from '../oci/registry-headers.js';
import { parseRegistryPath } from '../oci/registry-path.js';
import type { Router } from '../cache/ports.js';
import type { createAdmissionRoutes } from './admission-routes.js';
import type { ClientAuth } from './client-auth.js';
import { mountInventoryRoutes, type InventoryDeps } from './inventory-routes.js';
import { mountInventoryUi } from './inventory-ui.js';
import { mountOpsRoutes, type OpsDeps } from './ops-routes.js';
import { registryHandler, type RegistryDeps } from './registry-routes.js';
import { replyError, sent } from './reply.js';
import type { AppEnv, RequestState } from './request-state.js';

export interface AppDeps extends RegistryDeps, OpsDeps, Partial<InventoryDeps> {
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Set when clients must authenticate. */
  readonly clientAuth?: ClientAuth;
  /** Ops endpoints that need credentials too (kubelet probes usually cannot send any). */
  readonly protectOps?: readonly string[];
  /** The admission endpoints (/admission/*), when configured; they authenticate their own callers (the API server). */
  readonly admission?: ReturnType<typeof createAdmissionRoutes>;
}

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // Request ids: a per-process prefix and a counter, unique without a random draw per request.
  const idPrefix = randomBytes(4).toString('hex');
  let requests = 0;
  // The request line's fields are fixed and hold no secret (a URL, names, counts), so it skips the redaction
  // walk every other line gets: at info, tender's default, redaction was 6 % of a warm hit's CPU (bench/PROFILE.md).
  const requestLog = deps.log.child({}, { redact: [] });

  app.use('*', async (c, next) => {
    const started = performance.now();
    const state: RequestState = { kind: 'other' };
    const given = c.env.incoming.headers['x-request-id'];
    const requestId = (typeof given === 'string' && given.slice(0, 64)) || `${idPrefix}-${(requests++).toString(36)}`;
    c.set('state', state);
    c.set('requestId', requestId);
    c.set('baseHeaders', { 'x-request-id': requestId });
    await next();
    const outgoing = c.env.outgoing;
    // Written here (the registry API, errors): its status is on the response. Otherwise hono's Response is written after this.
    const written = outgoing.headersSent;
    if (!written) c.res.headers.set('x-request-id', requestId);
    const status = written ? outgoing.statusCode : c.res.status;
    const done = (): void => logRequest(deps, requestLog, c.req.method, c.env.incoming.url ?? '', status, state, requestId, started, outgoing.writableFinished);
    if (written && (outgoing.writableFinished || outgoing.destroyed)) done();
    else outgoing.once('close', done);
  });

  app.onError((err, c) => answerError(c, err, deps));
  if (deps.clientAuth) app.use('*', authenticate(deps.clientAuth, new Set(deps.protectOps ?? []), deps));
  mountOpsRoutes(app, deps);
  if (deps.admission) app.route('/', deps.admission);
  if (deps.inventory) {
    mountInventoryRoutes(app, { inventory: deps.inventory });
    mountInventoryUi(app, { inventory: deps.inventory });
  }
  app.all('/v2', registryHandler(deps));
  app.all('/v2/*', registryHandler(deps));
  app.notFound((c) => answerError(c, new OciError('NAME_UNKNOWN', 'not a registry API path'), deps));
  return app;
}

/**
 * The fetch callback for @hono/node-server. A response whose head a handler wrote itself is left
 * alone: handlers return `sent`, which the adapter skips, except under HEAD, where hono runs the GET
 * route and wraps what it returned in a new Response that the adapter would write a second time. GET
 * goes to the app directly: this stays off the hot path.
 */
export function nodeFetch(
  app: Hono<AppEnv>,
): (request: Request, env: { readonly outgoing: { readonly headersSent: boolean } }) => Response | Promise<Response> {
  return (request, env) => (request.method === 'HEAD' ? headFetch(app, request, env) : app.fetch(request, env));
}

async function headFetch(app: Hono<AppEnv>, request: Request, env: { readonly outgoing: { readonly headersSent: boolean } }): Promise<Response> {
  const response = await app.fetch(request, env);
  return env.outgoing.headersSent ? sent : response;
}

/** Every error, thrown by a route or the middleware, answered once as the OCI error body and recorded for the request line. */
function answerError(c: Context<AppEnv>, err: unknown, deps: AppDeps): Response {
  const error = replyError(c.env.outgoing, err, { ...c.get('baseHeaders'), 'x-request-id': c.get('requestId') });
  const state = c.get('state');
  state.error = error.message;
  if (error.code === 'DENIED') {
    state.result = 'denied';
    const detail = (error.detail ?? {}) as { reason?: string; upstream?: string };
    deps.metrics.denials.inc({ upstream: detail.upstream ?? state.upstream ?? 'unknown', reason: detail.reason ?? 'upstream' });
  } else if (error.status >= 500) state.result = 'error';
  // 5xx we caused are logged with their cause here, once; 4xx are answers, carried by the request line.
  if (error.code === 'UNKNOWN') deps.log.error({ err, requestId: c.get('requestId') }, 'unhandled error');
  return sent;
}

/** The name `auth.protect` gives an operator endpoint: `api` for /api/…, `ui` for /ui…, else the path's own. */
function opsName(path: string): string {
  if (path.startsWith('/api/')) return 'api';
  if (path === '/ui' || path.startsWith('/ui/')) return 'ui';
  return path.slice(1);
}

/** Throttled logins are logged at most this often (with the number refused since the last line). */
const throttleLogIntervalMs = 60_000;

/** Registry paths always, ops endpoints when protected: a valid identity, or 401 with a Basic challenge (429 when throttled). */
function authenticate(auth: ClientAuth, protectedOps: ReadonlySet<string>, deps: AppDeps): MiddlewareHandler<AppEnv> {
  const { metrics, log, router } = deps;
  const throttleLog = { at: Number.NEGATIVE_INFINITY, refused: 0 };
  return async (c, next) => {
    const path = c.req.path;
    const registry = path === '/v2' || path.startsWith('/v2/');
    if (!registry && !protectedOps.has(opsName(path))) return next();
    const header = c.env.incoming.headers.authorization;
    const address = c.env.incoming.socket.remoteAddress ?? 'unknown';
    // A client that leaves while its password check waits for a thread takes the check out of the queue.
    const left = new AbortController();
    const onClose = (): void => left.abort();
    c.env.outgoing.once('close', onClose);
    let outcome;
    try {
      outcome = await auth.authenticate(header, address, left.signal);
    } finally {
      c.env.outgoing.off('close', onClose);
    }
    if (outcome.kind === 'identity') {
      c.set('identity', outcome.identity);
      c.get('state').identity = outcome.identity.name;
      return next();
    }
    if (registry) nameRequest(c, router);
    if (outcome.kind === 'throttled') {
      metrics.authThrottled.inc({ scope: outcome.scope });
      throttleLog.refused += 1;
      const now = Date.now();
      if (now - throttleLog.at >= throttleLogIntervalMs) {
        log.warn({ scope: outcome.scope, address, refused: throttleLog.refused }, 'login attempts throttled (refused without a password check)');
        throttleLog.at = now;
        throttleLog.refused = 0;
      }
      const why =
        outcome.scope === 'busy' ? 'every password check is taken' : `too many failed logins for this ${outcome.scope === 'user' ? 'user' : 'client address'}`;
      throw new OciError('TOOMANYREQUESTS', `${why}: retry in ${outcome.retryAfterSeconds} s`, {
        headers: { 'retry-after': String(outcome.retryAfterSeconds), [registryHeaders.apiVersion]: apiVersionValue },
      });
    }
    // The first request of every docker login comes without credentials: only wrong ones count.
    if (outcome.kind === 'wrong') metrics.authFailures.inc();
    // docker login looks for the API version header on this 401 to know it talks to a registry.
    throw new OciError('UNAUTHORIZED', outcome.kind === 'wrong' ? 'wrong credentials' : 'authentication required', {
      headers: { 'www-authenticate': auth.challenge, [registryHeaders.apiVersion]: apiVersionValue },
    });
  };
}

/**
 * For the log line of a request refused before the registry handler ran: the kind and repository its
 * path names. Parsed for the log only; an unparsable path leaves kind "other".
 */
function nameRequest(c: Context<AppEnv>, router: Router): void {
  const state = c.get('state');
  const raw = c.env.incoming.url ?? '/';
  const queryAt = raw.indexOf('?');
  try {
    const path = parseRegistryPath(queryAt === -1 ? raw : raw.slice(0, queryAt));
    if (!path) return;
    state.kind = path.kind;
    if (path.kind === 'base') return;
    const ns = new URLSearchParams(queryAt === -1 ? '' : raw.slice(queryAt + 1)).get('ns') ?? undefined;
    try {
      const route = router.resolve({ ns, name: path.name });
      state.upstream = route.upstream.name;
      state.repository = route.repository;
    } catch {
      state.repository = path.name.length > 255 ? `${path.name.slice(0, 255)}…` : path.name;
    }
  } catch {
    // Not a valid registry path: nothing more to name.
  }
}

function logRequest(
  deps: AppDeps,
  log: Logger,
  method: string,
  url: string,
  status: number,
  state: RequestState,
  requestId: string,
  started: number,
  finished: boolean,
): void {
  const durationMs = Math.round((performance.now() - started) * 10) / 10;
  deps.metrics.requests.inc({ kind: state.kind, method, status: String(status) });
  if (state.upstream && state.result && state.cacheKind) {
    deps.metrics.cacheResults.inc({ upstream: state.upstream, kind: state.cacheKind, result: state.result });
    if (state.firstByteAt !== undefined) {
      deps.metrics.timeToFirstByte.observe({ kind: state.cacheKind, result: state.result }, (state.firstByteAt - started) / 1000);
    }
  }
  const bytes = finished ? (state.bytes ?? 0) : undefined;
  if (state.upstream && bytes && state.source) deps.metrics.bytesServed.inc({ upstream: state.upstream, source: state.source }, bytes);
  if (state.kind === 'ops') return; // probes and scrapes would drown the request log
  log.info(
    {
      requestId,
      method,
      path: url.length > 512 ? `${url.slice(0, 512)}…` : url,
      status,
      upstream: state.upstream,
      repository: state.repository,
      identity: state.identity,
      kind: state.kind,
      result: state.result,
      bytes,
      aborted: finished ? undefined : true,
      durationMs,
      error: state.error,
    },
    'request',
  );
}
