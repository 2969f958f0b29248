// Builds the one pull event of a client's manifest request, from the core's answer and the client the HTTP layer
// named, and hands it on.
import { randomUUID } from 'node:crypto';
import type { ManifestAnswer } from './manifests.js';
import type { Route } from './ports.js';
import type { PullCacheResult, PullClient, PullEvent, PullEventSink } from './pull-events.js';

export function pullEventOf(route: Route, tag: string | undefined, answer: ManifestAnswer, head: boolean, client: PullClient, time: number): PullEvent {
  return {
    id: randomUUID(),
    time,
    digest: answer.digest,
    mediaType: answer.mediaType,
    size: answer.body?.length ?? answer.size ?? 0,
    ...(tag !== undefined ? { tag } : {}),
    upstream: route.upstream.name,
    repository: route.repository,
    cacheResult: pullResult(answer.result),
    method: head ? 'HEAD' : 'GET',
    clientAddress: client.address,
    ...(client.userAgent !== undefined ? { userAgent: client.userAgent } : {}),
    ...(client.identity !== undefined ? { identity: client.identity } : {}),
    requestId: client.requestId,
    ...(client.host !== undefined ? { host: client.host } : {}),
  };
}

/** Hands the event to the inventory's aggregates and the audit sink; neither is awaited, neither can fail the pull. */
export function announce(event: PullEvent, inventory: { pulled(event: PullEvent): void }, sink: PullEventSink | undefined): void {
  try {
    inventory.pulled(event);
    sink?.emit(event);
  } catch {
    // A listener never fails a pull (see pull-events.ts).
  }
}

/** An answer's result as the event formats name it: an answer is never denied or an error (those throw). */
function pullResult(result: ManifestAnswer['result']): PullCacheResult {
  return result === 'hit' || result === 'miss' || result === 'joined' || result === 'stale' ? result : 'miss';
}
