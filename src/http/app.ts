// The hono app: request ids, one log line per request, metrics, ops routes, and the registry API for odd request
// targets (the plain ones reach the same registry handler without hono: registry-listener.ts, request-split.ts).
// Response model (docs/architecture.md): the registry API and every OCI error are written straight to
// Node's response (reply.ts, send-file.ts); the ops endpoints return hono Responses.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { OciError } from '../oci/errors.js';
import type { Router } from '../cache/ports.js';
import type { createAdmissionRoutes } from './admission-routes.js';
import type { ClientAuth } from './client-auth.js';
import { ClientCheck, nameRefusedRequest } from './client-check.js';
import { mountInventoryRoutes, type InventoryDeps } from './inventory-routes.js';
import { mountInventoryUi } from './inventory-ui.js';
import { mountOpsRoutes, type OpsDeps } from './ops-routes.js';
import { registryHandler, type RegistryDeps, type RegistryHandler } from './registry-routes.js';
import { replyError, sent } from './reply.js';
import { RequestLog } from './request-log.js';
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

export function createApp(deps: AppDeps, parts: AppParts = appParts(deps)): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { requestIds, requestLog } = parts;

  app.use('*', async (c, next) => {
    const started = performance.now();
    const state: RequestState = { kind: 'other' };
    const requestId = requestIds.of(c.env.incoming);
    c.set('state', state);
    c.set('requestId', requestId);
    c.set('baseHeaders', { 'x-request-id': requestId });
    await next();
    const outgoing = c.env.outgoing;
    // Written here (the registry API, errors): its status is on the response. Otherwise hono's Response is written after this.
    const written = outgoing.headersSent;
    if (!written) c.res.headers.set('x-request-id', requestId);
    const status = written ? outgoing.statusCode : c.res.status;
    const done = (): void => requestLog.record(c.req.method, c.env.incoming.url ?? '', status, state, requestId, started, outgoing.writableFinished);
    if (written && (outgoing.writableFinished || outgoing.destroyed)) done();
    else outgoing.once('close', done);
  });

  app.onError((err, c) => {
    answerError(c.env.outgoing, err, c.get('baseHeaders'), c.get('requestId'), c.get('state'), deps);
    return sent;
  });
  if (parts.clientCheck) app.use('*', authenticate(parts.clientCheck, new Set(deps.protectOps ?? []), deps.router));
  mountOpsRoutes(app, deps);
  if (deps.admission) app.route('/', deps.admission);
  if (deps.inventory) {
    mountInventoryRoutes(app, { inventory: deps.inventory });
    mountInventoryUi(app, { inventory: deps.inventory });
  }
  // Only the odd request targets reach these (percent encodings, dot segments, absolute form: request-split.ts);
  // the plain ones go to the same handler from the plain listener (registry-listener.ts).
  const registry = async (c: Context<AppEnv>): Promise<Response> => {
    const identity = c.get('identity');
    const request = {
      incoming: c.env.incoming,
      outgoing: c.env.outgoing,
      state: c.get('state'),
      requestId: c.get('requestId'),
      identity,
      baseHeaders: c.get('baseHeaders'),
    };
    await parts.registry(request);
    return sent;
  };
  app.all('/v2', registry);
  app.all('/v2/*', registry);
  app.notFound((c) => {
    answerError(c.env.outgoing, new OciError('NAME_UNKNOWN', 'not a registry API path'), c.get('baseHeaders'), c.get('requestId'), c.get('state'), deps);
    return sent;
  });
  return app;
}

/** What the hono app and the plain registry listener share: one request id sequence, log, client check and registry handler. */
export interface AppParts {
  readonly requestIds: RequestIds;
  readonly requestLog: RequestLog;
  readonly clientCheck: ClientCheck | undefined;
  readonly registry: RegistryHandler;
}

export function appParts(deps: AppDeps): AppParts {
  return {
    requestIds: new RequestIds(),
    requestLog: new RequestLog(deps.log, deps.metrics),
    clientCheck: deps.clientAuth ? new ClientCheck(deps.clientAuth, deps.metrics, deps.log) : undefined,
    registry: registryHandler(deps),
  };
}

/** Request ids: the client's own x-request-id (64 characters at most), else a per-process prefix and a counter, unique without a random draw per request. */
export class RequestIds {
  private readonly prefix = randomBytes(4).toString('hex');
  private next = 0;

  of(incoming: IncomingMessage): string {
    const given = incoming.headers['x-request-id'];
    return (typeof given === 'string' && given.slice(0, 64)) || `${this.prefix}-${(this.next++).toString(36)}`;
  }
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
export function answerError(outgoing: ServerResponse, err: unknown, base: Record<string, string>, requestId: string, state: RequestState, deps: AppDeps): void {
  const error = replyError(outgoing, err, { ...base, 'x-request-id': requestId });
  state.error = error.message;
  if (error.code === 'DENIED') {
    state.result = 'denied';
    const detail = (error.detail ?? {}) as { reason?: string; upstream?: string };
    deps.metrics.denials.inc({ upstream: detail.upstream ?? state.upstream ?? 'unknown', reason: detail.reason ?? 'upstream' });
  } else if (error.status >= 500) state.result = 'error';
  // 5xx we caused are logged with their cause here, once; 4xx are answers, carried by the request line.
  if (error.code === 'UNKNOWN') deps.log.error({ err, requestId }, 'unhandled error');
}

/** The name `auth.protect` gives an operator endpoint: `api` for /api/…, `ui` for /ui…, else the path's own. */
function opsName(path: string): string {
  if (path.startsWith('/api/')) return 'api';
  if (path === '/ui' || path.startsWith('/ui/')) return 'ui';
  return path.slice(1);
}

/** Registry paths always, ops endpoints when protected: a valid identity, or 401 with a Basic challenge (429 when throttled). */
function authenticate(check: ClientCheck, protectedOps: ReadonlySet<string>, router: Router): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const path = c.req.path;
    const registry = path === '/v2' || path.startsWith('/v2/');
    if (!registry && !protectedOps.has(opsName(path))) return next();
    let identity;
    try {
      identity = await check.identify(c.env.incoming, c.env.outgoing);
    } catch (err) {
      if (registry) nameRefusedRequest(c.get('state'), c.env.incoming.url ?? '/', router);
      throw err;
    }
    c.set('identity', identity);
    c.get('state').identity = identity.name;
    return next();
  };
}
