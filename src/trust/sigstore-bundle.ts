// The Sigstore bundle format (cosign v3 `--new-bundle-format`), verified offline with public keys only.
//
// What cosign writes (cmd/cosign/cli/sign/sign.go signDigestBundle, cmd/cosign/cli/signcommon/common.go
// NewAttestationBundle, sigstore-go pkg/sign/signer.go Bundle, serialised with protojson):
//   {"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json",
//    "verificationMaterial":{"publicKey":{"hint":"<base64 sha256 of the DER SPKI>"}, …tlogEntries when uploaded…},
//    "dsseEnvelope":{"payload":"<base64 statement>","payloadType":"application/vnd.in-toto+json",
//                    "signatures":[{"sig":"<base64 signature over the DSSE PAE>"}]}}
// with the statement {"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"<hex>"},
// "annotations":{}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}.
//
// Trust is the configured keys alone (an air gap has no Rekor, Fulcio or TUF): transparency-log entries,
// timestamps and certificates in the bundle are neither required nor believed, as with
// `cosign verify --key … --insecure-ignore-tlog`. @sigstore/bundle parses and validates the bundle;
// @sigstore/verify is not used because its signature check (@sigstore/core crypto.verify) always hashes
// with the key type's default, SHA-256, so the SHA-384/SHA-512 signatures cosign makes with P-384/P-521
// keys never verify, and it cannot be told to leave a bundle's Rekor entries unchecked without a Rekor key.
import { createHash } from 'node:crypto';
import { bundleFromJSON, ValidationError, type Bundle } from '@sigstore/bundle';
import { dsse } from '@sigstore/core';
import { clip, isDigestString, isObject, parseJson } from './bounded-input.js';
import { verifyWithKeys } from './key-signature.js';
import type { TrustedKey } from './public-key.js';
import type { BundleLayer } from './referrers.js';
import { failed, type FailureReason, type SignatureCheck } from './signature-check.js';
import { cosignSignPredicateType, inTotoStatementTypes, signatureLimits, signatureMediaTypes } from './signature-formats.js';

export interface BundleInput {
  /** The bundle JSON (the referrer's one layer). */
  readonly bundle: Buffer;
  /** The image digest being verified. */
  readonly digest: string;
  readonly keys: readonly TrustedKey[];
  /** The image manifest bytes: a messageSignature bundle signs these bytes themselves. */
  readonly manifest?: Buffer;
  /** The referrer's layer descriptor the bundle was fetched by: the bytes must be that layer's. */
  readonly layer?: BundleLayer;
}

/** sigstore_common.proto HashAlgorithm.SHA2_256. */
const protoSha256 = 1;
const bundleV03Types: ReadonlySet<string> = new Set([signatureMediaTypes.bundleV03, signatureMediaTypes.bundleV03Legacy]);

const fail = (reason: FailureReason, detail: string) => failed('sigstore-bundle', reason, detail);

/** Checks one bundle against the image digest and the keys; never throws. */
export function verifySigstoreBundle(input: BundleInput): SignatureCheck {
  if (!isDigestString(input.digest)) return fail('malformed', `"${clip(String(input.digest))}" is not an image digest`);
  if (input.bundle.length > signatureLimits.bundleBytes)
    return fail('too-large', `bundle is ${input.bundle.length} bytes, more than ${signatureLimits.bundleBytes}`);
  if (input.layer) {
    const bundleDigest = `sha256:${createHash('sha256').update(input.bundle).digest('hex')}`;
    if (bundleDigest !== input.layer.digest || input.bundle.length !== input.layer.size) {
      return fail(
        'malformed',
        `bundle bytes (${bundleDigest}, ${input.bundle.length} bytes) are not the layer ${input.layer.digest} (${input.layer.size} bytes)`,
      );
    }
  }
  const parsed = parseJson(input.bundle, signatureLimits.bundleBytes);
  if (!parsed.ok) return fail(parsed.tooLarge ? 'too-large' : 'malformed', `bundle: ${parsed.problem}`);
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(parsed.value);
  } catch (err) {
    const fields = err instanceof ValidationError ? `: ${err.fields.join(', ')}` : ` (${err instanceof Error ? err.message : String(err)})`;
    return fail('malformed', `not a valid Sigstore bundle${fields}`);
  }
  // cosign reads nothing older than v0.3 from a registry (pkg/oci/remote/signatures.go Bundle: MinVersion("v0.3")).
  if (!bundleV03Types.has(bundle.mediaType)) return fail('wrong-type', `bundle media type "${clip(bundle.mediaType)}" is not Sigstore bundle v0.3`);

  const content = bundle.content;
  if (content.$case === 'dsseEnvelope') return verifyEnvelope(content.dsseEnvelope, hintOf(bundle), input);
  return verifyMessageSignature(content.messageSignature, hintOf(bundle), input);
}

function hintOf(bundle: Bundle): string | undefined {
  const material = bundle.verificationMaterial.content;
  return material?.$case === 'publicKey' ? material.publicKey.hint : undefined;
}

type Envelope = Extract<Bundle['content'], { $case: 'dsseEnvelope' }>['dsseEnvelope'];
type MessageSignature = Extract<Bundle['content'], { $case: 'messageSignature' }>['messageSignature'];

function verifyEnvelope(envelope: Envelope, hint: string | undefined, input: BundleInput): SignatureCheck {
  if (envelope.payloadType !== signatureMediaTypes.inTotoPayload) {
    return fail('wrong-type', `DSSE payloadType is "${clip(envelope.payloadType)}", not "${signatureMediaTypes.inTotoPayload}"`);
  }
  // DSSE signs the pre-authentication encoding, never the payload alone (DSSE protocol.md "Signature Definition").
  const pae = dsse.preAuthEncoding(envelope.payloadType, envelope.payload);
  const key = verifyWithKeys(input.keys, pae, envelope.signatures[0]!.sig, hint);
  if (!key) return fail('unverified', `DSSE signature does not verify with any of ${input.keys.length} key${input.keys.length === 1 ? '' : 's'}`);

  const statement = parseJson(envelope.payload, signatureLimits.bundleBytes);
  if (!statement.ok || !isObject(statement.value)) return fail('malformed', `in-toto statement: ${statement.ok ? 'not an object' : statement.problem}`);
  const { _type: type, predicateType, subject } = statement.value;
  if (typeof type !== 'string' || !inTotoStatementTypes.has(type))
    return fail('wrong-type', `statement _type "${clip(String(type))}" is not an in-toto Statement`);
  if (predicateType !== cosignSignPredicateType) {
    return fail('wrong-type', `an attestation (predicateType "${clip(String(predicateType))}"), not a signature (${cosignSignPredicateType})`);
  }
  if (!Array.isArray(subject) || subject.length === 0) return fail('malformed', 'in-toto statement has no subject');

  const [algorithm, hex] = input.digest.split(':') as [string, string];
  const named = subject.map((s) => (isObject(s) && isObject(s.digest) ? s.digest[algorithm] : undefined));
  if (named.includes(hex)) return { verified: true, format: 'sigstore-bundle', keyId: key.id, digest: input.digest };
  const other = named.find((n): n is string => typeof n === 'string');
  return fail(
    'digest-mismatch',
    `statement subject names ${other === undefined ? `no ${algorithm} digest` : `${algorithm}:${clip(other)}`}, not ${input.digest}`,
  );
}

/**
 * A messageSignature bundle signs the artifact bytes directly (sigstore-go pkg/sign/content.go PlainData);
 * for an image the artifact is its manifest, so the signature is checked over the manifest bytes and
 * the unsigned messageDigest must name the same digest.
 */
function verifyMessageSignature(message: MessageSignature, hint: string | undefined, input: BundleInput): SignatureCheck {
  const { manifest, digest } = input;
  if (!manifest) return fail('malformed', 'a messageSignature bundle signs the manifest bytes, and none were given to check it against');
  const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  if (manifestDigest !== digest) return fail('malformed', `the manifest bytes given are ${manifestDigest}, not ${digest}`);
  const key = verifyWithKeys(input.keys, manifest, message.signature, hint);
  if (!key) return fail('unverified', `message signature does not verify with any of ${input.keys.length} key${input.keys.length === 1 ? '' : 's'}`);
  const messageDigest = message.messageDigest;
  const named = messageDigest?.algorithm === protoSha256 ? `sha256:${Buffer.from(messageDigest.digest).toString('hex')}` : undefined;
  if (named !== digest) return fail('digest-mismatch', `bundle messageDigest names ${named ?? 'no sha256 digest'}, not ${digest}`);
  return { verified: true, format: 'sigstore-bundle', keyId: key.id, digest };
}
