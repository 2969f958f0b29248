// The signature policy as the core's facade builds and asks it: kept out of pull-through.ts, which only wires it in.
import { isDigest, parseDigest } from '../oci/digest.js';
import { attachmentTag, referrersTag } from '../trust/cosign-tags.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { CacheReads } from './cache-reads.js';
import type { CacheWrites } from './cache-writes.js';
import type { TrustVerdict } from './inventory-record.js';
import { CoreEvidence, type EvidenceParts } from './evidence-source.js';
import type { SignatureRecords, VerdictRecord } from './metadata-store.js';
import type { Route } from './ports.js';
import { SignaturePolicy, type SignaturePolicyOptions } from './signature-policy.js';
import type { SignatureVerdict } from './signature-verdict.js';
import type { TrustedKeys } from './trusted-keys.js';

export { attachmentLookup, findAttachments, type FoundAttachments } from './attachments.js';
export type { SignaturePolicy, SignaturePolicyOptions, SignatureVerdict, TrustedKeys };

export interface CoreSignatureParts extends EvidenceParts {
  readonly keys: TrustedKeys | undefined;
  readonly records: SignatureRecords;
  readonly reads: CacheReads;
  readonly writes: CacheWrites;
  readonly onVerdict?: (digest: string, verdict: TrustVerdict) => void;
}

/** The signature policy over the core's own cached paths, or undefined when no `signatures:` is configured. */
export function buildSignaturePolicy(
  parts: CoreSignatureParts,
  options: SignaturePolicyOptions | undefined,
  metrics: Metrics,
  log: Logger,
): SignaturePolicy | undefined {
  if (!options) return undefined;
  if (!parts.keys) throw new Error('signature policies need the TrustedKeys port');
  const isCached = (digest: string): boolean => parts.stored.size(parseDigest(digest)) !== undefined;
  const source = new CoreEvidence(parts);
  // A classic signature is found under the `.sig` tag, a bundle under the referrers (tag or API list, cached with the
  // tags' TTL): a verdict stands as long as that tag's record would.
  const verdictFresh = (route: Route, digest: string, record: VerdictRecord): boolean =>
    parts.tags.fresh(route, record.format === 'simple-signing' ? attachmentTag(digest, 'sig') : referrersTag(digest), { checkedAt: record.at });
  const policyParts = {
    keys: parts.keys,
    records: parts.records,
    source,
    isCached,
    reads: parts.reads,
    writes: parts.writes,
    verdictFresh,
    clock: parts.tags.clock,
    ...(parts.onVerdict ? { onVerdict: parts.onVerdict } : {}),
  };
  return new SignaturePolicy(options, policyParts, metrics, log);
}

/** The verdict on a resolved manifest: the policy's decision, or `unchecked` when no `signatures:` is configured at all. */
export function verdictOf(
  policy: SignaturePolicy | undefined,
  route: Route,
  reference: string,
  manifest: { readonly digest: string; readonly body: Buffer | undefined },
  signal: AbortSignal | undefined,
): Promise<SignatureVerdict> {
  const tag = isDigest(reference) ? undefined : reference;
  if (policy) return policy.decide(route, manifest.digest, { manifest: manifest.body, tag, signal });
  const reason = `no signature policy covers ${route.upstream.name}/${route.repository}`;
  return Promise.resolve({ digest: manifest.digest, allowed: true, verdict: 'unchecked', reason, signatures: [], keyIds: [], cached: false });
}
