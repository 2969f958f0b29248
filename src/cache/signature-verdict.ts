// The signature policy's answer for one digest: what the pull path enforces, and what `tender check` and admission print.
//
// The contract (issue 13 for the core, issue 14 for its callers):
//
//   PullThrough.signatureVerdict(route, reference, { signal? }) → Promise<SignatureVerdict>
//     `reference` is a tag or a digest; a tag is resolved as a pull resolves it (cached record, TTL,
//     revalidation), then the digest it names is judged. The other serve policies (sanctioned-only) are
//     not part of this answer: PullThrough.judge gives those.
//   SignaturePolicy.decide(route, digest, { signal?, manifest?, tag? }) → Promise<SignatureVerdict>
//     the one decision, by digest, that the manifest path (by tag and by digest), the blob path and
//     the above call.
//
// Both resolve, they do not throw for a refusal or an outage of the signatures: `allowed` says whether the
// digest would be served, `verdict` why. When `signal` aborts before the signatures are found, the
// verdict follows `signatures.onError` (`fail-open` or `unavailable`) at once; it never waits past it.
// Errors of the image itself (the tag does not exist, the upstream is down and the manifest is not
// cached) are thrown as OciErrors, as for a pull.
import type { FailureReason } from '../trust/signature-check.js';
import type { SignatureFormat } from '../trust/signature-formats.js';

/**
 * Why a digest is (or is not) served; a closed set, used as the `verdict` metric label:
 * - `verified`: one of its signatures verifies with one of the policy's keys (its own, or cached from before);
 * - `admitted`: a platform manifest or blob that a verified manifest references (a verified index admits
 *   its platform manifests, a verified manifest its config and layers);
 * - `evidence`: a signature, attestation or SBOM (`.sig`/`.att`/`.sbom` tags, referrer manifests, the
 *   referrers tag index, their blobs): served without a signature of its own so `cosign verify` works;
 * - `refused`: enforce mode, and no signature verifies (403 DENIED);
 * - `warned`: warn mode, and no signature verifies (served, logged, counted);
 * - `fail-open`: the signatures could not be fetched or read and `onError: allow` (served);
 * - `unavailable`: the signatures could not be fetched or read and `onError: deny` (503 UNAVAILABLE);
 * - `exempt`: the repository matches `signatures.exempt`;
 * - `unchecked`: no policy covers the repository (or no `signatures:` section).
 */
export type SignatureVerdictKind = 'verified' | 'admitted' | 'evidence' | 'refused' | 'warned' | 'fail-open' | 'unavailable' | 'exempt' | 'unchecked';

/** Verdict kinds that are counted in tender_signature_verdicts_total (the others have no policy to name). */
export const countedVerdicts = ['verified', 'admitted', 'evidence', 'refused', 'warned', 'fail-open', 'unavailable'] as const;

/**
 * Why no signature counts, when none does; a closed set:
 * - `no-signature`: neither a `.sig` tag nor a signature referrer exists for the digest;
 * - `unverified`: signatures exist, none verifies with any of the policy's keys (wrong key, tampered bytes);
 * - `digest-mismatch`: a validly signed document names another digest;
 * - `malformed`: signatures exist but none can be read as one (bad JSON, too large, not an image signature);
 * - `fetch-failed`: the signatures could not be fetched or read (upstream down and nothing cached, timeout).
 */
export type RefusalReason = 'no-signature' | 'unverified' | 'digest-mismatch' | 'malformed' | 'fetch-failed';

/** One signature looked at. */
export interface SignatureFound {
  readonly format: SignatureFormat;
  /** Where it was found: `tag sha256-<hex>.sig` or `referrer sha256:<digest>`. */
  readonly source: string;
  /** The digest of the manifest that carries it (the `.sig` manifest, or the referrer manifest). */
  readonly manifest: string;
  readonly verified: boolean;
  /** The key that verified it: sha256 of its DER SubjectPublicKeyInfo, hex (as `TrustedKey.id`). */
  readonly keyId?: string;
  /** Why it does not count (when not verified), and the detail for logs and `tender check`. */
  readonly reason?: FailureReason;
  readonly detail?: string;
}

export interface SignatureVerdict {
  /** The digest judged (a tag is resolved first). */
  readonly digest: string;
  /** Whether the digest is served under the signature policy. */
  readonly allowed: boolean;
  readonly verdict: SignatureVerdictKind;
  /** The policy that applies (its configured name), absent for `exempt` and `unchecked`. */
  readonly policy?: string;
  readonly mode?: 'enforce' | 'warn';
  /** One sentence for users and logs: what was checked and what failed, or which key verified. */
  readonly reason: string;
  /** Set when no signature counts (refused, warned, fail-open, unavailable). */
  readonly refusal?: RefusalReason;
  /** Every signature looked at, in the order they were checked (empty when the verdict came from the cache or a parent). */
  readonly signatures: readonly SignatureFound[];
  /** The ids of the policy's keys at the time of the decision. */
  readonly keyIds: readonly string[];
  /** The key that verified (`verified`), or that verified the parent (`admitted`). */
  readonly keyId?: string;
  /** For `admitted`: the verified manifest that references this digest. */
  readonly parent?: string;
  /** The verdict came from the verdict cache (no signature was fetched or checked now). */
  readonly cached: boolean;
}
