// A pull event in the reference registry's notification format, so listeners written for distribution work as is.
//
// Field names and presence follow distribution's notifications/event.go (Event, RequestRecord, ActorRecord,
// SourceRecord; the target embeds a distribution.Descriptor) and docs/content/about/notifications.md, whose
// manifest pull example this mirrors. Go's `omitempty` decides presence there: request.id, request.method and
// request.useragent are always sent (empty string when unknown); actor is `{}` for an anonymous pull; target.url,
// target.tag, request.addr and request.host are left out when empty. `length` repeats `size` (deprecated there
// since 2.1 but still set, and older listeners read it).
//
// target.repository is `<upstream>/<repository>` (`docker.io/library/nginx`): tender fronts many upstreams, so the
// bare name would be ambiguous, and this is the name a path-prefix client (CRI-O, podman) uses on tender, so
// target.url is `<baseUrl>/v2/<target.repository>/manifests/<digest>`. The format has no field for the cache
// result; it is in the JSON-lines file.
import type { PullEvent } from '../cache/pull-events.js';
import { clipText, maxShortText, maxUserAgent } from './clip-text.js';

/** The envelope's media type, sent as the POST's Content-Type. */
export const notificationMediaType = 'application/vnd.docker.distribution.events.v2+json';

export interface NotificationEvent {
  readonly id: string;
  /** RFC 3339 (Go's time.Time JSON form). */
  readonly timestamp: string;
  readonly action: 'pull';
  readonly target: {
    readonly mediaType: string;
    readonly digest: string;
    readonly size: number;
    readonly length: number;
    readonly repository: string;
    readonly url?: string;
    readonly tag?: string;
  };
  readonly request: { readonly id: string; readonly addr?: string; readonly host?: string; readonly method: string; readonly useragent: string };
  readonly actor: { readonly name?: string };
  readonly source: { readonly addr: string; readonly instanceID: string };
}

export interface NotificationEnvelope {
  readonly events: readonly NotificationEvent[];
}

/** Who sends: this tender's host:port and an id that changes with every start (as distribution's instanceID). */
export interface NotificationSource {
  readonly addr: string;
  readonly instanceID: string;
  /** The URL clients reach tender by (`https://mirror.example:5000`); with it, target.url links to the manifest. */
  readonly baseUrl?: string;
}

export function notificationEvent(event: PullEvent, source: NotificationSource): NotificationEvent {
  const repository = `${event.upstream}/${event.repository}`;
  const base = source.baseUrl?.replace(/\/+$/, '');
  return {
    id: event.id,
    timestamp: new Date(event.time).toISOString(),
    action: 'pull',
    target: {
      mediaType: event.mediaType,
      digest: event.digest,
      size: event.size,
      length: event.size,
      repository,
      ...(base ? { url: `${base}/v2/${repository}/manifests/${event.digest}` } : {}),
      ...(event.tag ? { tag: event.tag } : {}),
    },
    request: {
      id: clipText(event.requestId, maxShortText),
      ...(event.clientAddress ? { addr: clipText(event.clientAddress, maxShortText) } : {}),
      ...(event.host ? { host: clipText(event.host, maxShortText) } : {}),
      method: event.method,
      useragent: clipText(event.userAgent ?? '', maxUserAgent),
    },
    actor: event.identity ? { name: clipText(event.identity, maxShortText) } : {},
    source: { addr: source.addr, instanceID: source.instanceID },
  };
}
