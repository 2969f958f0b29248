// Signing keys for the tests, as cosign makes and uses them: generation, cosign.pub, and the signing schemes per key type.
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ed25519ph } from '@noble/curves/ed25519.js';

export type KeyType = 'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | 'ed25519' | 'rsa-2048';

export interface SigningKey {
  readonly type: KeyType;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** PEM "PUBLIC KEY", as cosign.pub. */
  readonly publicKeyPem: string;
}

const curveOf: Partial<Record<KeyType, string>> = { 'ecdsa-p256': 'P-256', 'ecdsa-p384': 'P-384', 'ecdsa-p521': 'P-521' };

/** A fresh key pair; ECDSA P-256 is what `cosign generate-key-pair` makes. */
export function generateSigningKey(type: KeyType = 'ecdsa-p256'): SigningKey {
  const pair =
    type === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : type === 'rsa-2048'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ec', { namedCurve: curveOf[type]! });
  const publicKeyPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { type, privateKey: pair.privateKey, publicKey: pair.publicKey, publicKeyPem };
}

/** Writes the public key as `<dir>/<name>.pub` and returns the path, as cosign generate-key-pair does. */
export async function writePublicKey(key: SigningKey, dir: string, name = 'cosign'): Promise<string> {
  const path = join(dir, `${name}.pub`);
  await writeFile(path, key.publicKeyPem);
  return path;
}

/**
 * Signs as cosign does with a key file: ECDSA with the curve's hash (sigstore/sigstore algorithm
 * registry), RSA PKCS#1 v1.5 SHA-256; Ed25519 uses Ed25519ph for classic image signatures (cosign ≥ 2.6)
 * and pure Ed25519 for DSSE.
 */
export function signBytes(key: SigningKey, data: Buffer, use: 'classic' | 'dsse'): Buffer {
  switch (key.type) {
    case 'ed25519': {
      if (use === 'dsse') return sign(null, data, key.privateKey);
      const seed = Buffer.from(key.privateKey.export({ format: 'jwk' }).d!, 'base64url');
      return Buffer.from(ed25519ph.sign(data, seed));
    }
    case 'ecdsa-p384':
      return sign('sha384', data, key.privateKey);
    case 'ecdsa-p521':
      return sign('sha512', data, key.privateKey);
    default:
      return sign('sha256', data, key.privateKey);
  }
}

/** base64(sha256(DER SPKI)): the bundle's publicKey.hint. */
export function keyHint(key: SigningKey): string {
  return createHash('sha256')
    .update(key.publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
}
