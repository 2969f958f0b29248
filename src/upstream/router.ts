// Maps containerd's ?ns=, a /v2/<host>/... path prefix, or the default to a configured upstream — never to any other host.
import type { Route, RouteRequest, Router, Upstream } from '../cache/ports.js';
import { OciError } from '../oci/errors.js';
import { assertRepository, looksLikeHost } from '../oci/reference.js';

/** Docker Hub serves one-component names as library/<name>; every client relies on that. */
const dockerHub = 'docker.io';

export class UpstreamRouter implements Router {
  private readonly byKey = new Map<string, Upstream>();

  constructor(
    upstreams: ReadonlyArray<{ upstream: Upstream; aliases: readonly string[] }>,
    private readonly defaultUpstream: string,
  ) {
    for (const { upstream, aliases } of upstreams) {
      for (const key of [upstream.name, ...aliases]) this.byKey.set(key.toLowerCase(), upstream);
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

  private lookup(key: string, via: string): Upstream {
    const upstream = this.byKey.get(key.toLowerCase());
    if (!upstream) {
      throw new OciError('DENIED', `registry "${clip(key)}" (from ${via}) is not an upstream of this mirror`, {
        detail: { registry: clip(key) },
      });
    }
    return upstream;
  }

  private route(upstream: Upstream, name: string): Route {
    const repository = assertRepository(name);
    if (upstream.name === dockerHub && !repository.includes('/')) return { upstream, repository: `library/${repository}` };
    return { upstream, repository };
  }
}

function clip(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}
