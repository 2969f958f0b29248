// Sigstore bundles as cosign v3 writes them, verified offline with public keys only.
import { createHash, sign } from 'node:crypto';
import { Verifier, toSignedEntity, type TrustMaterial } from '@sigstore/verify';
import { bundleFromJSON } from '@sigstore/bundle';
import { beforeAll, describe, expect, it } from 'vitest';
import { verifySigstoreBundle } from '../../../src/trust/sigstore-bundle.js';
import type { SignatureCheck } from '../../../src/trust/signature-check.js';
import type { TrustedKey } from '../../../src/trust/public-key.js';
import { cosignTypes, preAuthEncoding, sigstoreBundle, signStatement } from '../../helpers/cosign.js';
import { generateSigningKey, keyHint, type KeyType, type SigningKey } from '../../helpers/cosign-keys.js';
import { trusted } from './trusted-key.js';

const manifest = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}');
const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
const otherDigest = `sha256:${createHash('sha256').update('another image').digest('hex')}`;

let key: SigningKey;
let keys: TrustedKey[];

beforeAll(() => {
  key = generateSigningKey();
  keys = [trusted(key)];
});

const verifyBundle = (bundle: Buffer, opts: { keys?: TrustedKey[]; digest?: string } = {}) =>
  verifySigstoreBundle({ bundle, digest: opts.digest ?? digest, keys: opts.keys ?? keys, manifest });

function expectFailure(result: SignatureCheck, reason: string, detail: RegExp): void {
  expect(result.verified).toBe(false);
  if (result.verified) return;
  expect(result.format).toBe('sigstore-bundle');
  expect(result.reason).toBe(reason);
  expect(result.detail).toMatch(detail);
}

function edit(bundle: Buffer, change: (json: Record<string, any>) => void): Buffer {
  const json = JSON.parse(bundle.toString()) as Record<string, any>;
  change(json);
  return Buffer.from(JSON.stringify(json));
}

function statementWith(fields: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify({ ...JSON.parse(signStatement(digest).toString()), ...fields }));
}

describe('verifySigstoreBundle: DSSE envelope with an in-toto statement', () => {
  it('verifies the bundle cosign sign --new-bundle-format writes', () => {
    expect(verifyBundle(sigstoreBundle(key, signStatement(digest)))).toEqual({ verified: true, format: 'sigstore-bundle', keyId: keys[0]!.id, digest });
  });

  it.each<KeyType>(['ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'ed25519', 'rsa-2048'])('verifies a bundle signed with a %s key', (type) => {
    const signer = generateSigningKey(type);
    const result = verifyBundle(sigstoreBundle(signer, signStatement(digest)), { keys: [trusted(signer)] });
    expect(result.verified && result.keyId).toBe(trusted(signer).id);
  });

  it('finds the key whatever the hint says: the hint is not authenticated', () => {
    const bundle = edit(sigstoreBundle(key, signStatement(digest)), (b) => (b.verificationMaterial.publicKey.hint = keyHint(generateSigningKey())));
    const result = verifyBundle(bundle, { keys: [trusted(generateSigningKey()), keys[0]!] });
    expect(result.verified && result.keyId).toBe(keys[0]!.id);
  });

  it('verifies a keyless-style bundle (certificate, Rekor entry) with the configured key alone, offline', () => {
    const bundle = edit(sigstoreBundle(key, signStatement(digest)), (b) => {
      b.verificationMaterial = {
        certificate: { rawBytes: Buffer.from('not checked: trust is the key').toString('base64') },
        tlogEntries: [
          {
            logIndex: '1',
            logId: { keyId: Buffer.alloc(32, 1).toString('base64') },
            kindVersion: { kind: 'dsse', version: '0.0.1' },
            integratedTime: '1700000000',
            inclusionProof: {
              logIndex: '1',
              rootHash: Buffer.alloc(32).toString('base64'),
              treeSize: '2',
              hashes: [],
              checkpoint: { envelope: 'rekor.sigstore.dev - 1\n2\nAAAA\n' },
            },
            canonicalizedBody: Buffer.from('{}').toString('base64'),
          },
        ],
      };
    });
    expect(verifyBundle(bundle).verified).toBe(true);
  });

  it('refuses a bundle signed with another key', () => {
    expectFailure(verifyBundle(sigstoreBundle(generateSigningKey(), signStatement(digest))), 'unverified', /does not verify with any of 1 key$/);
  });

  it('refuses a tampered statement (payload changed after signing)', () => {
    const signed = signStatement(digest);
    const tampered = Buffer.from(signed.toString().replace('"predicate":{}', '"predicate":{"x":1}'));
    expectFailure(verifyBundle(sigstoreBundle(key, tampered, signed)), 'unverified', /does not verify/);
  });

  it('refuses a tampered signature', () => {
    const bundle = edit(sigstoreBundle(key, signStatement(digest)), (b) => {
      const sig = Buffer.from(b.dsseEnvelope.signatures[0].sig, 'base64');
      sig[8]! ^= 0xff;
      b.dsseEnvelope.signatures[0].sig = sig.toString('base64');
    });
    expectFailure(verifyBundle(bundle), 'unverified', /does not verify/);
  });

  it('refuses a validly signed statement whose subject is another digest', () => {
    expectFailure(verifyBundle(sigstoreBundle(key, signStatement(otherDigest))), 'digest-mismatch', new RegExp(`names ${otherDigest}, not ${digest}`));
  });

  it('accepts the digest as any one of several subjects', () => {
    const statement = statementWith({ subject: [{ digest: { sha256: otherDigest.slice(7) } }, { digest: { sha256: digest.slice(7) } }] });
    expect(verifyBundle(sigstoreBundle(key, statement)).verified).toBe(true);
  });

  it('refuses an attestation: another predicateType is not a signature', () => {
    const statement = statementWith({ predicateType: 'https://slsa.dev/provenance/v1' });
    expectFailure(verifyBundle(sigstoreBundle(key, statement)), 'wrong-type', /attestation \(predicateType "https:\/\/slsa.dev\/provenance\/v1"\)/);
  });

  it('refuses a statement that is not an in-toto Statement', () => {
    expectFailure(verifyBundle(sigstoreBundle(key, statementWith({ _type: 'https://example.com/Other' }))), 'wrong-type', /not an in-toto Statement/);
    expectFailure(verifyBundle(sigstoreBundle(key, statementWith({ subject: [] }))), 'malformed', /no subject/);
    expectFailure(verifyBundle(sigstoreBundle(key, Buffer.from('not json')), { keys }), 'malformed', /in-toto statement: not JSON/);
  });

  it('refuses an envelope whose payloadType is not in-toto, even when signed', () => {
    const statement = signStatement(digest);
    const bundle = edit(sigstoreBundle(key, statement), (b) => {
      b.dsseEnvelope.payloadType = 'application/json';
      b.dsseEnvelope.signatures[0].sig = sign('sha256', preAuthEncoding('application/json', statement), key.privateKey).toString('base64');
    });
    expectFailure(verifyBundle(bundle), 'wrong-type', /payloadType is "application\/json"/);
  });

  it('refuses a truncated bundle', () => {
    const bundle = sigstoreBundle(key, signStatement(digest));
    expectFailure(verifyBundle(bundle.subarray(0, bundle.length - 20)), 'malformed', /not JSON/);
  });

  it('refuses a bundle missing what the format requires, naming the fields', () => {
    const bundle = edit(sigstoreBundle(key, signStatement(digest)), (b) => {
      delete b.verificationMaterial;
      b.dsseEnvelope.signatures = [];
    });
    expectFailure(
      verifyBundle(bundle),
      'malformed',
      /verificationMaterial.*content.dsseEnvelope.signatures|content.dsseEnvelope.signatures.*verificationMaterial/,
    );
  });

  it('refuses bundle versions cosign does not read from a registry', () => {
    const bundle = edit(sigstoreBundle(key, signStatement(digest)), (b) => (b.mediaType = 'application/vnd.dev.sigstore.bundle.v0.2+json'));
    expectFailure(verifyBundle(bundle), 'wrong-type', /not Sigstore bundle v0.3/);
  });

  it('refuses JSON of the wrong shape without throwing', () => {
    for (const text of ['[]', 'null', '"bundle"', '{"mediaType":7,"dsseEnvelope":{"payload":5}}', '{"dsseEnvelope":{"signatures":"x"}}']) {
      const result = verifyBundle(Buffer.from(text));
      expect(result.verified === false && result.reason, text).toMatch(/malformed|wrong-type/);
    }
  });

  it('refuses a bundle over the cap without parsing it', () => {
    expectFailure(verifyBundle(Buffer.alloc(4 * 1024 * 1024, 0x20)), 'too-large', /more than 1048576/);
  });

  it('refuses bytes that are not the referrer layer they were fetched by', () => {
    const bundle = sigstoreBundle(key, signStatement(digest));
    const layer = { digest: otherDigest, size: bundle.length, mediaType: cosignTypes.bundle };
    expectFailure(verifySigstoreBundle({ bundle, digest, keys, layer }), 'malformed', /are not the layer/);
  });

  it('refuses to check against something that is not a digest', () => {
    expectFailure(verifyBundle(sigstoreBundle(key, signStatement(digest)), { digest: 'sha256:1234' }), 'malformed', /not an image digest/);
  });
});

describe('verifySigstoreBundle: messageSignature over the manifest bytes', () => {
  function messageBundle(signer: SigningKey, signed: Buffer, named: string): Buffer {
    return Buffer.from(
      JSON.stringify({
        mediaType: cosignTypes.bundle,
        verificationMaterial: { publicKey: { hint: keyHint(signer) } },
        messageSignature: {
          messageDigest: { algorithm: 'SHA2_256', digest: Buffer.from(named.slice(7), 'hex').toString('base64') },
          signature: sign('sha256', signed, signer.privateKey).toString('base64'),
        },
      }),
    );
  }

  it('verifies a signature over the manifest whose messageDigest is the image digest', () => {
    expect(verifyBundle(messageBundle(key, manifest, digest)).verified).toBe(true);
  });

  it('refuses another key, other signed bytes and a messageDigest naming another digest', () => {
    expectFailure(verifyBundle(messageBundle(generateSigningKey(), manifest, digest)), 'unverified', /message signature does not verify/);
    expectFailure(verifyBundle(messageBundle(key, Buffer.from('other bytes'), digest)), 'unverified', /message signature does not verify/);
    expectFailure(verifyBundle(messageBundle(key, manifest, otherDigest)), 'digest-mismatch', new RegExp(`messageDigest names ${otherDigest}`));
  });

  it('cannot check a messageSignature without the manifest bytes', () => {
    expectFailure(verifySigstoreBundle({ bundle: messageBundle(key, manifest, digest), digest, keys }), 'malformed', /none were given/);
  });
});

describe('the test helper writes bundles the sigstore project itself accepts', () => {
  // @sigstore/verify, configured for key-only trust, as an independent oracle of the format.
  function sigstoreVerifies(bundle: Buffer, signer: SigningKey): boolean {
    const trust: TrustMaterial = {
      certificateAuthorities: [],
      timestampAuthorities: [],
      tlogs: [],
      ctlogs: [],
      publicKey: (hint) => {
        if (hint !== keyHint(signer)) throw new Error(`unknown key hint ${hint}`);
        return { publicKey: signer.publicKey, validFor: () => true };
      },
    };
    const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
    try {
      verifier.verify(toSignedEntity(bundleFromJSON(JSON.parse(bundle.toString()))));
      return true;
    } catch {
      return false;
    }
  }

  it('accepts the good bundle and rejects the tampered one, as tender does', () => {
    const good = sigstoreBundle(key, signStatement(digest));
    const signed = signStatement(digest);
    const tampered = sigstoreBundle(key, Buffer.from(signed.toString().replace('"predicate":{}', '"predicate":{"x":1}')), signed);
    expect(sigstoreVerifies(good, key)).toBe(true);
    expect(sigstoreVerifies(tampered, key)).toBe(false);
    expect(verifyBundle(good).verified).toBe(true);
    expect(verifyBundle(tampered).verified).toBe(false);
  });
});
