// The server's request listener: the registry API on a plain node:http listener, everything else through hono.
//
// The registry API is the hot path (issue 17 item 3): a warm node rollout is thousands of small manifest and
// blob hits a second, and hono plus its Node adapter cost a Request, a router match, a middleware chain and
// the adapter's handling of an answer already written (bench/PROFILE.md #2). The plain listener does what the
// hono middleware does for those requests, with the same parts (app.ts's AppParts): the request id, client
// authentication, the registry handler, the OCI error answer and the one log line with its metrics. Which
// requests go which way is request-split.ts's decision; hono still answers every other request, and the odd
// request targets of the registry API (to the same registry handler).
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { answerError, appParts, createApp, nodeFetch, type AppDeps, type AppParts } from './app.js';
import { nameRefusedRequest } from './client-check.js';
import type { Identity } from './client-auth.js';
import { isRawRegistryRequest } from './request-split.js';
import type { RegistryRequest, RequestState } from './request-state.js';

/**
 * The listener `main.ts` hands to `http.createServer` / `https.createServer`. `hostname` is the listen
 * address, which @hono/node-server takes as the host of a request that sends no Host header.
 */
export function createRequestListener(deps: AppDeps, hostname?: string): RequestListener {
  const parts = appParts(deps);
  const hono = getRequestListener(nodeFetch(createApp(deps, parts)), hostname === undefined ? {} : { hostname });
  const registry = registryListener(deps, parts);
  return (incoming, outgoing) => {
    if (isRawRegistryRequest(incoming)) registry(incoming, outgoing);
    else void hono(incoming, outgoing);
  };
}

/** A registry API request answered without hono: the same request id, authentication, errors and log line as app.ts's middleware. */
export function registryListener(deps: AppDeps, parts: AppParts): (incoming: IncomingMessage, outgoing: ServerResponse) => void {
  const { requestIds, requestLog, clientCheck, registry } = parts;
  return (incoming, outgoing) => {
    const started = performance.now();
    const state: RequestState = { kind: 'other' };
    const requestId = requestIds.of(incoming);
    const request: RegistryRequest = { incoming, outgoing, state, requestId, identity: undefined, baseHeaders: { 'x-request-id': requestId } };
    // One listener per response: the line is written once the response is done, sent whole or cut short. `on`,
    // not `once`: a response closes once, and once's wrapper was a bind per request.
    outgoing.on('close', () =>
      requestLog.record(incoming.method ?? '', incoming.url ?? '', outgoing.statusCode, state, requestId, started, outgoing.writableFinished),
    );
    if (!clientCheck) return answer(registry, request, deps);
    clientCheck.identify(incoming, outgoing).then(
      (identity: Identity) => {
        state.identity = identity.name;
        answer(registry, { ...request, identity }, deps);
      },
      (err: unknown) => {
        nameRefusedRequest(state, incoming.url ?? '/', deps.router);
        answerError(outgoing, err, request.baseHeaders, requestId, state, deps);
      },
    );
  };
}

/** Runs the handler: a warm hit is answered before it returns; an error, thrown or rejected, is answered once. */
function answer(registry: AppParts['registry'], request: RegistryRequest, deps: AppDeps): void {
  const fail = (err: unknown): void => answerError(request.outgoing, err, request.baseHeaders, request.requestId, request.state, deps);
  try {
    const pending = registry(request);
    if (pending) pending.catch(fail);
  } catch (err) {
    fail(err);
  }
}
