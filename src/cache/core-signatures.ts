// The signature policy as the core's facade builds and asks it: kept out of pull-through.ts, which only wires it in.
import { parseDigest } from '../oci/digest.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { CacheReads } from './cache-reads.js';
import type { CacheWrites } from './cache-writes.js';
import { CoreEvidence, type EvidenceParts } from './evidence-source.js';
import type { SignatureRecords } from './metadata-store.js';
import type { Route } from './ports.js';
import { SignaturePolicy, type SignaturePolicyOptions } from './signature-policy.js';
import type { SignatureVerdict } from './signature-verdict.js';
import type { TrustedKeys } from './trusted-keys.js';

export interface CoreSignatureParts extends EvidenceParts {
  readonly keys: TrustedKeys | undefined;
  readonly records: SignatureRecords;
  readonly reads: CacheReads;
  readonly writes: CacheWrites;
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
  return new SignaturePolicy(options, { keys: parts.keys, records: parts.records, source, isCached, reads: parts.reads, writes: parts.writes }, metrics, log);
}

/** The verdict when no `signatures:` section is configured at all. */
export function uncheckedVerdict(route: Route, digest: string): SignatureVerdict {
  const reason = `no signature policy covers ${route.upstream.name}/${route.repository}`;
  return { digest, allowed: true, verdict: 'unchecked', reason, signatures: [], keyIds: [], cached: false };
}
