// How the upstream client dials: TLS material and address families, as undici's connect options (which
// undici passes on to net.connect / tls.connect).
import type { LookupFunction } from 'node:net';
import type { buildConnector } from 'undici';
import type { UpstreamConfig } from '../config/upstreams.js';

/** What may change while tender runs (a rotated Secret): the CA bundle and the client identity. */
export interface TlsMaterial {
  readonly ca: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
}

/** For tests: a resolver that answers both families for one name, whatever the machine's hosts file says. */
export interface NetworkOverrides {
  readonly lookup?: LookupFunction;
}

/**
 * Address families: `ipv4` and `ipv6` resolve and dial that family only. `auto` is Node's Happy Eyeballs
 * (autoSelectFamily), with the attempt timeout the operator set: Node's own 250 ms gives up on every address
 * of a host further away than that (nodejs/node#54359), so tender's default is 1 s.
 */
export function familyOptions(config: Pick<UpstreamConfig, 'addressFamily' | 'addressAttemptTimeoutMs'>): Record<string, unknown> {
  if (config.addressFamily === 'ipv4') return { family: 4, autoSelectFamily: false };
  if (config.addressFamily === 'ipv6') return { family: 6, autoSelectFamily: false };
  return { autoSelectFamily: true, autoSelectFamilyAttemptTimeout: config.addressAttemptTimeoutMs };
}

/** The upstream's own connections: its trust roots and client identity, its address families. */
export function upstreamConnect(config: UpstreamConfig, material: TlsMaterial, overrides: NetworkOverrides = {}): buildConnector.BuildOptions {
  return {
    timeout: config.connectTimeoutMs,
    ...familyOptions(config),
    ...(overrides.lookup ? { lookup: overrides.lookup } : {}),
    ...(material.ca !== undefined ? { ca: material.ca } : {}),
    ...(config.insecure ? { rejectUnauthorized: false } : {}),
    // Mutual TLS: presented only when the server asks (CertificateRequest). The token realm shares these
    // connections, as it shares the credentials; redirect targets (foreignConnect) never carry the identity.
    ...(material.cert !== undefined ? { cert: material.cert } : {}),
    ...(material.key !== undefined ? { key: material.key } : {}),
  } as buildConnector.BuildOptions;
}

/** Redirect targets (blob CDNs) are other hosts: default trust roots, never the identity; the same address families. */
export function foreignConnect(config: UpstreamConfig, overrides: NetworkOverrides = {}): buildConnector.BuildOptions {
  return {
    timeout: config.connectTimeoutMs,
    ...familyOptions(config),
    ...(overrides.lookup ? { lookup: overrides.lookup } : {}),
  } as buildConnector.BuildOptions;
}
