// Public keys as operators hand them over: the PEM "PUBLIC KEY" that `cosign generate-key-pair` writes as cosign.pub.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';

/**
 * The key types cosign signs with (pkg/cosign/keys.go SupportedKeyDetails, plus Ed25519, which
 * `cosign import-key-pair` accepts). RSA below 2048 bits and other curves are refused, as cosign does.
 */
export type KeyAlgorithm = 'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | 'ed25519' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096';

export interface TrustedKey {
  /** sha256 of the DER SubjectPublicKeyInfo, hex: the key's name in logs and verdict cache keys. */
  readonly id: string;
  /** base64 of the same sha256: what cosign writes as a bundle's verificationMaterial.publicKey.hint (internal/key/svkeypair.go). */
  readonly hint: string;
  readonly algorithm: KeyAlgorithm;
  /** The DER SubjectPublicKeyInfo, re-encoded by OpenSSL so the id does not depend on how the PEM was written. */
  readonly spki: Buffer;
  readonly keyObject: KeyObject;
}

export type KeyLoad = { readonly ok: true; readonly key: TrustedKey } | { readonly ok: false; readonly problem: string };

/** A PEM public key is under 1 KiB (RSA-4096: ~800 bytes); anything far larger is not one. */
const maxPemChars = 64 * 1024;

const pemBlock = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const curves: Readonly<Record<string, KeyAlgorithm>> = { prime256v1: 'ecdsa-p256', secp384r1: 'ecdsa-p384', secp521r1: 'ecdsa-p521' };
const rsaSizes: ReadonlySet<number> = new Set([2048, 3072, 4096]);

/**
 * Reads one PEM "PUBLIC KEY" (SubjectPublicKeyInfo, RFC 7468 §13), or says what the text is instead.
 * Text around the block is ignored (Go's pem.Decode, which cosign uses, does the same); a second block
 * is refused so that a key file means exactly one key.
 */
export function parsePublicKey(text: string): KeyLoad {
  if (text.length > maxPemChars) return refuse(`${text.length} characters: too large to be a PEM public key`);
  const blocks = [...text.matchAll(pemBlock)];
  if (blocks.length === 0) return refuse('no PEM block found: expected "-----BEGIN PUBLIC KEY-----" as cosign generate-key-pair writes in cosign.pub');
  if (blocks.length > 1) return refuse(`${blocks.length} PEM blocks: a key file holds exactly one public key`);
  const [, label = '', body = '', endLabel] = blocks[0]!;
  if (endLabel !== label) return refuse(`PEM block "${label}" ends with "${endLabel}"`);
  if (label.includes('PRIVATE KEY')) return refuse(`this is a private key (${label}): give the public key (cosign.pub), never the private one`);
  if (label === 'CERTIFICATE') return refuse('this is a certificate: give its public key (openssl x509 -pubkey -noout -in cert.pem)');
  if (label === 'RSA PUBLIC KEY') return refuse('this is a PKCS#1 RSA key: convert it to a PUBLIC KEY (openssl rsa -RSAPublicKey_in -pubout)');
  if (label !== 'PUBLIC KEY') return refuse(`PEM block "${label}" is not a PUBLIC KEY`);

  const base64 = body.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) return refuse('the PEM body is not base64');
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: Buffer.from(base64, 'base64'), format: 'der', type: 'spki' });
  } catch (err) {
    return refuse(`not a valid SubjectPublicKeyInfo (${err instanceof Error ? err.message : String(err)})`);
  }

  const algorithm = algorithmOf(keyObject);
  if (typeof algorithm !== 'string') return refuse(algorithm.problem);
  const spki = keyObject.export({ type: 'spki', format: 'der' });
  const hash = createHash('sha256').update(spki).digest();
  return { ok: true, key: { id: hash.toString('hex'), hint: hash.toString('base64'), algorithm, spki, keyObject } };
}

function algorithmOf(key: KeyObject): KeyAlgorithm | { problem: string } {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = details.namedCurve ?? 'unknown';
      return curves[curve] ?? { problem: `unsupported curve ${curve}: cosign signs with P-256, P-384 or P-521` };
    }
    case 'ed25519':
      return 'ed25519';
    case 'rsa': {
      const bits = details.modulusLength ?? 0;
      return rsaSizes.has(bits) ? (`rsa-${bits}` as KeyAlgorithm) : { problem: `unsupported RSA key size ${bits}: cosign signs with 2048, 3072 or 4096 bits` };
    }
    default:
      return { problem: `unsupported key type ${key.asymmetricKeyType ?? 'unknown'}: cosign signs with ECDSA (P-256/P-384/P-521), Ed25519 or RSA` };
  }
}

function refuse(problem: string): KeyLoad {
  return { ok: false, problem };
}
