// Tag policies against registry poisoning: immutable tags keep their first digest, pinned tags one fixed digest.
import { dockerHubName } from '../oci/names.js';
import { repositoryMatcher } from '../oci/repository-pattern.js';

export interface TagPolicyInput {
  /** `tag` or `repository:tag` patterns, `*` and `**` as in repository patterns. */
  readonly immutableTags: readonly string[];
  /** enforce: keep serving the first digest; warn: follow the move, but log and count it. */
  readonly immutableTagsMode: 'enforce' | 'warn';
  /** `repository:tag@digest`. */
  readonly pins: readonly string[];
  /** Freshness by tag pattern, tried in order before the global rules and the global TTL. */
  readonly tagTtls?: readonly TagTtlRule[];
}

/** `pattern` is a `tag` or `repository:tag` pattern; `ttlMs` is Infinity for "never revalidated". */
export interface TagTtlRule {
  readonly pattern: string;
  readonly ttlMs: number;
}

type TagMatcher = (repository: string, tag: string) => boolean;

interface Compiled {
  readonly immutable: TagMatcher;
  readonly ttls: ReadonlyArray<{ readonly matches: TagMatcher; readonly ttlMs: number }>;
  readonly mode: 'enforce' | 'warn';
  readonly pins: ReadonlyMap<string, string>;
}

export class TagPolicies {
  private readonly byUpstream = new Map<string, Compiled>();
  /** The global tagTtls, compiled per upstream (a repository pattern is read with that upstream's naming). */
  private readonly globalTtls = new Map<string, Compiled['ttls']>();

  /** `ttls` are the global freshness rules, tried after an upstream's own. */
  constructor(
    policies: ReadonlyMap<string, TagPolicyInput>,
    private readonly ttls: readonly TagTtlRule[] = [],
  ) {
    for (const [upstream, policy] of policies) {
      const rules = policy.immutableTags.map((pattern) => tagMatcher(upstream, pattern));
      const pins = new Map<string, string>();
      for (const pin of policy.pins) {
        const at = pin.indexOf('@');
        const name = pin.slice(0, at);
        const colon = name.lastIndexOf(':');
        pins.set(`${dockerHubName(upstream, name.slice(0, colon))}${name.slice(colon)}`, pin.slice(at + 1));
      }
      const ttls = (policy.tagTtls ?? []).map((rule) => ({ matches: tagMatcher(upstream, rule.pattern), ttlMs: rule.ttlMs }));
      this.byUpstream.set(upstream, { immutable: (r, t) => rules.some((rule) => rule(r, t)), ttls, mode: policy.immutableTagsMode, pins });
    }
  }

  /** The TTL of the first rule matching this tag (the upstream's own, then the global ones), or undefined: the default applies. */
  ttl(upstream: string, repository: string, tag: string): number | undefined {
    const own = this.byUpstream.get(upstream)?.ttls.find((rule) => rule.matches(repository, tag));
    if (own) return own.ttlMs;
    let global = this.globalTtls.get(upstream);
    if (!global) this.globalTtls.set(upstream, (global = this.ttls.map((rule) => ({ matches: tagMatcher(upstream, rule.pattern), ttlMs: rule.ttlMs }))));
    return global.find((rule) => rule.matches(repository, tag))?.ttlMs;
  }

  /** The digest a tag is pinned to, if any. */
  pinned(upstream: string, repository: string, tag: string): string | undefined {
    return this.byUpstream.get(upstream)?.pins.get(`${repository}:${tag}`);
  }

  /** How a move of this tag upstream is treated, or undefined when the tag may move freely. */
  immutability(upstream: string, repository: string, tag: string): 'enforce' | 'warn' | undefined {
    const policy = this.byUpstream.get(upstream);
    return policy?.immutable(repository, tag) ? policy.mode : undefined;
  }
}

/** `tag` (any repository) or `repository:tag`, `*` and `**` as in repository patterns; Docker Hub's `library/` applied. */
function tagMatcher(upstream: string, pattern: string): TagMatcher {
  const colon = pattern.lastIndexOf(':');
  const repository = repositoryMatcher([colon === -1 ? '**' : dockerHubName(upstream, pattern.slice(0, colon))]);
  const tag = repositoryMatcher([colon === -1 ? pattern : pattern.slice(colon + 1)]);
  return (r, t) => repository(r) && tag(t);
}
