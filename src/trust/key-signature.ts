// Does one signature verify over some bytes with one of the trusted keys, in any scheme cosign signs with?
import { verify } from 'node:crypto';
import { ed25519ph } from '@noble/curves/ed25519.js';
import type { KeyAlgorithm, TrustedKey } from './public-key.js';

type Scheme = (key: TrustedKey, data: Buffer, signature: Buffer) => boolean;

const withHash =
  (hash: string): Scheme =>
  (key, data, signature) =>
    verify(hash, data, key.keyObject, signature);

const pureEd25519: Scheme = (key, data, signature) => verify(null, data, key.keyObject, signature);

// Node's crypto has no Ed25519ph (RFC 8032 §5.1, prehashed with SHA-512) before OpenSSL 3.2, hence
// @noble/curves; zip215 off keeps RFC 8032's strict encoding rules, as Go's crypto/ed25519 does.
const ed25519Prehashed: Scheme = (key, data, signature) => ed25519ph.verify(signature, data, rawEd25519(key), { zip215: false });

/**
 * The schemes each key type may have signed with, most likely first:
 * - ECDSA: cosign signs with the curve's own hash (sigstore/sigstore algorithm_registry.go: P-384 →
 *   SHA-384, P-521 → SHA-512) but `cosign verify --key` checks with SHA-256 unless told otherwise, and
 *   older cosign signed every curve with SHA-256; signatures are ASN.1 DER, as Go's ecdsa.SignASN1.
 * - Ed25519: classic image signatures from cosign ≥ 2.6 use Ed25519ph (pkg/cosign/keys.go
 *   GetDefaultLoadOptions); bundles (DSSE), sign-blob without a tlog and older cosign use pure Ed25519
 *   (cosign PR #4414). The two schemes are domain-separated (RFC 8032 dom2), so accepting both lets no
 *   signature of one pass as the other.
 * - RSA: PKCS#1 v1.5 with SHA-256 for every size (cosign does not sign with PSS from a key file).
 */
const schemes: Readonly<Record<KeyAlgorithm, readonly Scheme[]>> = {
  'ecdsa-p256': [withHash('sha256')],
  'ecdsa-p384': [withHash('sha384'), withHash('sha256')],
  'ecdsa-p521': [withHash('sha512'), withHash('sha256')],
  ed25519: [pureEd25519, ed25519Prehashed],
  'rsa-2048': [withHash('sha256')],
  'rsa-3072': [withHash('sha256')],
  'rsa-4096': [withHash('sha256')],
};

/**
 * The first key whose schemes accept `signature` over `data`, or undefined. A key whose bundle hint
 * matches is tried first; the hint is unauthenticated, so it only orders the attempts.
 */
export function verifyWithKeys(keys: readonly TrustedKey[], data: Buffer, signature: Buffer, hint?: string): TrustedKey | undefined {
  const ordered = hint ? [...keys.filter((k) => k.hint === hint), ...keys.filter((k) => k.hint !== hint)] : keys;
  for (const key of ordered) {
    for (const scheme of schemes[key.algorithm]) {
      try {
        if (scheme(key, data, signature)) return key;
      } catch {
        // A signature of the wrong length or encoding for this scheme is simply not a match.
      }
    }
  }
  return undefined;
}

/** An Ed25519 SubjectPublicKeyInfo is a fixed 12-byte header followed by the 32-byte key (RFC 8410 §4). */
function rawEd25519(key: TrustedKey): Uint8Array {
  return key.spki.subarray(key.spki.length - 32);
}
