// The JSON-lines audit record: one pull event as one line, flat, so `jq` and log shippers read it without a schema.
//
// Field order is fixed (what, where from, how, who) so lines diff and grep well. Optional fields are left out,
// not null. JSON.stringify escapes every control character, so a hostile user agent cannot break a line in two.
import type { PullEvent } from '../cache/pull-events.js';
import { clipText, maxShortText, maxUserAgent } from './clip-text.js';

export function pullEventLine(event: PullEvent): string {
  const record = {
    time: new Date(event.time).toISOString(),
    id: event.id,
    action: 'pull',
    upstream: event.upstream,
    repository: event.repository,
    tag: event.tag,
    digest: event.digest,
    mediaType: event.mediaType,
    size: event.size,
    cacheResult: event.cacheResult,
    method: event.method,
    clientAddress: clipText(event.clientAddress, maxShortText),
    userAgent: event.userAgent === undefined ? undefined : clipText(event.userAgent, maxUserAgent),
    identity: event.identity === undefined ? undefined : clipText(event.identity, maxShortText),
    requestId: clipText(event.requestId, maxShortText),
    host: event.host === undefined ? undefined : clipText(event.host, maxShortText),
  };
  return `${JSON.stringify(record)}\n`;
}
