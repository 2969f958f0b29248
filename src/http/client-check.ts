// Client authentication as an HTTP answer, shared by the plain registry listener and hono's middleware (ops
// endpoints that are protected): a valid identity, or 401 with a Basic challenge, or 429 when throttled.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Router } from '../cache/ports.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { OciError } from '../oci/errors.js';
import { apiVersionValue, registryHeaders } from '../oci/registry-headers.js';
import { parseRegistryPath } from '../oci/registry-path.js';
import type { ClientAuth, Identity } from './client-auth.js';
import type { RequestState } from './request-state.js';

/** Throttled logins are logged at most this often (with the number refused since the last line). */
const throttleLogIntervalMs = 60_000;

export class ClientCheck {
  private readonly throttleLog = { at: Number.NEGATIVE_INFINITY, refused: 0 };

  constructor(
    private readonly auth: ClientAuth,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** The identity behind the request's credentials; throws UNAUTHORIZED (401) or TOOMANYREQUESTS (429). */
  async identify(incoming: IncomingMessage, outgoing: ServerResponse): Promise<Identity> {
    const address = incoming.socket.remoteAddress ?? 'unknown';
    // A client that leaves while its password check waits for a thread takes the check out of the queue.
    const left = new AbortController();
    const onClose = (): void => left.abort();
    outgoing.once('close', onClose);
    let outcome;
    try {
      outcome = await this.auth.authenticate(incoming.headers.authorization, address, left.signal);
    } finally {
      outgoing.off('close', onClose);
    }
    if (outcome.kind === 'identity') return outcome.identity;
    if (outcome.kind === 'throttled') {
      this.metrics.authThrottled.inc({ scope: outcome.scope });
      const throttleLog = this.throttleLog;
      throttleLog.refused += 1;
      const now = Date.now();
      if (now - throttleLog.at >= throttleLogIntervalMs) {
        this.log.warn({ scope: outcome.scope, address, refused: throttleLog.refused }, 'login attempts throttled (refused without a password check)');
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
    if (outcome.kind === 'wrong') this.metrics.authFailures.inc();
    // docker login looks for the API version header on this 401 to know it talks to a registry.
    throw new OciError('UNAUTHORIZED', outcome.kind === 'wrong' ? 'wrong credentials' : 'authentication required', {
      headers: { 'www-authenticate': this.auth.challenge, [registryHeaders.apiVersion]: apiVersionValue },
    });
  }
}

/**
 * For the log line of a registry request refused before the registry handler ran: the kind and repository
 * its path (`url`, the raw request target) names. Parsed for the log only; an unparsable path leaves kind "other".
 */
export function nameRefusedRequest(state: RequestState, url: string, router: Router): void {
  const queryAt = url.indexOf('?');
  try {
    const path = parseRegistryPath(queryAt === -1 ? url : url.slice(0, queryAt));
    if (!path) return;
    state.kind = path.kind;
    if (path.kind === 'base') return;
    const ns = new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1)).get('ns') ?? undefined;
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
