// Builds the one pull event of a client's manifest request, from the core's answer and the client the HTTP layer named.
import { randomUUID } from 'node:crypto';
import type { ManifestAnswer } from './manifests.js';
import type { Route } from './ports.js';
import type { PullCacheResult, PullClient, PullEvent } from './pull-events.js';

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

/** An answer's result as the event formats name it: an answer is never denied or an error (those throw). */
function pullResult(result: ManifestAnswer['result']): PullCacheResult {
  return result === 'hit' || result === 'miss' || result === 'joined' || result === 'stale' ? result : 'miss';
}
