// Which token realms may receive an upstream's credentials: the upstream names the realm, but the name can be forged.

export interface RealmPolicy {
  /** The upstream's URL, as configured. */
  readonly upstreamUrl: string;
  /** Plain HTTP or unverified TLS to the upstream. */
  readonly insecure: boolean;
  /** Hosts (`auth.docker.io`, `auth.example:8443`) or origins (`https://auth.example`) the operator trusts as realms. */
  readonly tokenRealms: readonly string[];
}

/**
 * Why credentials must not go to this realm, or undefined when they may. A realm named by an upstream
 * reached over verified TLS is the upstream's own word (GitLab names its main host for a registry on
 * another); a realm named over plain HTTP or unverified TLS may have been rewritten by anyone on the
 * path, so only the upstream's own host or a listed one is trusted then; and credentials never cross
 * the network in clear text unless the operator marked the upstream insecure.
 */
export function realmRefusal(realm: URL, policy: RealmPolicy): string | undefined {
  const upstream = new URL(policy.upstreamUrl);
  if (realm.protocol !== 'https:' && realm.protocol !== 'http:') return `the realm's scheme ${realm.protocol} is not http(s)`;
  if (realm.username || realm.password) return 'the realm URL carries user information';
  const ownHost = realm.hostname === upstream.hostname;
  const listed = policy.tokenRealms.some((entry) => matchesRealm(entry, realm));
  if (realm.protocol === 'http:') {
    if (!policy.insecure) return 'the realm is plain http and the upstream is not marked insecure';
    if (ownHost || listed) return undefined;
    return `the realm is plain http on another host than the upstream (${upstream.hostname}) and not listed in tokenRealms`;
  }
  if (ownHost || listed) return undefined;
  if (upstream.protocol === 'https:' && !policy.insecure) return undefined;
  return `the realm is on another host than the upstream (${upstream.hostname}), named over ${upstream.protocol === 'http:' ? 'plain http' : 'unverified TLS'}, and not listed in tokenRealms`;
}

/** An entry with a scheme matches that origin exactly; a bare host (optionally with port) matches https realms on it. */
export function matchesRealm(entry: string, realm: URL): boolean {
  const value = entry.trim().toLowerCase();
  if (value.includes('://')) {
    try {
      return new URL(value).origin === realm.origin;
    } catch {
      return false;
    }
  }
  if (realm.protocol !== 'https:') return false;
  return value.includes(':') ? value === realm.host : value === realm.hostname;
}
