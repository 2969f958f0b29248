// The outcome of checking one signature: verified by which key, or which check failed and why.
import type { SignatureFormat } from './signature-formats.js';

/**
 * Why a signature does not count, from the cheapest check to the most telling one:
 * - `too-large`: over a size cap, not read;
 * - `malformed`: not the format (bad JSON, base64, shape, bytes that do not match their descriptor);
 * - `wrong-type`: well-formed but not an image signature (critical.type, payloadType, an attestation's predicateType);
 * - `unverified`: the signature verifies with none of the keys (wrong key or tampered bytes);
 * - `digest-mismatch`: validly signed, but the signed document names another image digest.
 */
export type FailureReason = 'too-large' | 'malformed' | 'wrong-type' | 'unverified' | 'digest-mismatch';

export type SignatureCheck =
  | { readonly verified: true; readonly format: SignatureFormat; readonly keyId: string; readonly digest: string }
  | { readonly verified: false; readonly format: SignatureFormat; readonly reason: FailureReason; readonly detail: string };

export type CheckFailure = Extract<SignatureCheck, { verified: false }>;

export function failed(format: SignatureFormat, reason: FailureReason, detail: string): CheckFailure {
  return { verified: false, format, reason, detail };
}
