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
}

interface Compiled {
  readonly immutable: (repository: string, tag: string) => boolean;
  readonly mode: 'enforce' | 'warn';
  readonly pins: ReadonlyMap<string, string>;
}

export class TagPolicies {
  private readonly byUpstream = new Map<string, Compiled>();

  constructor(policies: ReadonlyMap<string, TagPolicyInput>) {
    for (const [upstream, policy] of policies) {
      const rules = policy.immutableTags.map((pattern) => {
        const colon = pattern.lastIndexOf(':');
        const repository = repositoryMatcher([colon === -1 ? '**' : dockerHubName(upstream, pattern.slice(0, colon))]);
        const tag = repositoryMatcher([colon === -1 ? pattern : pattern.slice(colon + 1)]);
        return (r: string, t: string) => repository(r) && tag(t);
      });
      const pins = new Map<string, string>();
      for (const pin of policy.pins) {
        const at = pin.indexOf('@');
        const name = pin.slice(0, at);
        const colon = name.lastIndexOf(':');
        pins.set(`${dockerHubName(upstream, name.slice(0, colon))}${name.slice(colon)}`, pin.slice(at + 1));
      }
      this.byUpstream.set(upstream, { immutable: (r, t) => rules.some((rule) => rule(r, t)), mode: policy.immutableTagsMode, pins });
    }
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
