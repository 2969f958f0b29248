// Maps containerd's ?ns=, a /v2/<host>/... path prefix, or the default to a configured upstream — never to any other host.
import type { DenialReason, Route, RouteRequest, Router, Upstream } from '../cache/ports.js';
import { OciError } from '../oci/errors.js';
import { assertRepository, dockerHubName, looksLikeHost } from '../oci/names.js';
import { firstMatch } from '../oci/repository-pattern.js';

export interface RoutedUpstream {
  readonly upstream: Upstream;
  readonly aliases: readonly string[];
  /** Repository patterns served; empty means all. */
  readonly allow?: readonly string[];
  /** Repository patterns refused even when allowed. */
  readonly deny?: readonly string[];
}

interface Entry {
  readonly upstream: Upstream;
  readonly allowed: ((repository: string) => string | undefined) | undefined;
  readonly denied: (repository: string) => string | undefined;
}

export class UpstreamRouter implements Router {
  private readonly byKey = new Map<string, Entry>();

  constructor(
    upstreams: ReadonlyArray<RoutedUpstream>,
    private readonly defaultUpstream: string,
  ) {
    for (const { upstream, aliases, allow = [], deny = [] } of upstreams) {
      const named = (patterns: readonly string[]) => patterns.map((p) => dockerHubName(upstream.name, p));
      const entry = { upstream, allowed: allow.length > 0 ? firstMatch(named(allow)) : undefined, denied: firstMatch(named(deny)) };
      for (const key of [upstream.name, ...aliases]) this.byKey.set(asciiLowerCase(key), entry);
    }
  }

  resolve(request: RouteRequest): Route {
    if (request.ns !== undefined) {
      const upstream = this.lookup(request.ns, 'ns');
      return this.route(upstream, request.name);
    }
    const slash = request.name.indexOf('/');
    const first = slash === -1 ? request.name : request.name.slice(0, slash);
    if (slash !== -1 && looksLikeHost(first)) {
      const upstream = this.lookup(first, 'path prefix');
      return this.route(upstream, request.name.slice(slash + 1));
    }
    return this.route(this.lookup(this.defaultUpstream, 'default upstream'), request.name);
  }

  private lookup(key: string, via: string): Entry {
    // Host names are ASCII (IDNs travel as punycode): anything else is refused before any case folding,
    // because String#toLowerCase folds Unicode too, and "doc\u212Aer.io" (Kelvin sign) lower-cases to docker.io.
    const entry = isAsciiHost(key) ? this.byKey.get(asciiLowerCase(key)) : undefined;
    if (!entry) {
      throw new OciError('DENIED', `registry "${clip(key)}" (from ${via}) is not an upstream of this mirror`, {
        detail: { reason: 'unknown-registry' satisfies DenialReason, registry: clip(key) },
      });
    }
    return entry;
  }

  /** Names the repository on its upstream, then applies the upstream's deny and allow lists. */
  private route(entry: Entry, name: string): Route {
    const { upstream } = entry;
    // Validated after Docker Hub's library/ is added: the limits apply to the name upstream sees.
    const repository = assertRepository(dockerHubName(upstream.name, name));
    const deniedBy = entry.denied(repository);
    if (deniedBy !== undefined) {
      throw new OciError('DENIED', `repository ${repository} on ${upstream.name} is refused by deny rule "${deniedBy}"`, {
        detail: { reason: 'deny-rule' satisfies DenialReason, upstream: upstream.name, rule: deniedBy },
      });
    }
    if (entry.allowed && entry.allowed(repository) === undefined) {
      throw new OciError('DENIED', `repository ${repository} is not in the allow list of ${upstream.name}`, {
        detail: { reason: 'not-allowed' satisfies DenialReason, upstream: upstream.name },
      });
    }
    return { upstream, repository };
  }
}

function isAsciiHost(key: string): boolean {
  return /^[\x21-\x7e]+$/.test(key);
}

/** Case folding of A-Z only. */
function asciiLowerCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

function clip(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}
