// The classic cosign format: a `sha256-<hex>.sig` manifest whose layers are signed simple-signing payloads.
//
// The payload is the containers/image "simple signing" JSON (containers-signature.5.md, as cosign writes
// it through sigstore/sigstore pkg/signature/payload):
//   {"critical":{"identity":{"docker-reference":"<registry>/<repo>"},
//                "image":{"docker-manifest-digest":"sha256:<hex>"},
//                "type":"cosign container image signature"},
//    "optional":null | {…-a annotations…}}
// and the layer annotation dev.cosignproject.cosign/signature is the base64 signature over exactly those
// bytes (cosign pkg/cosign/verify.go verifyOCISignature → VerifySignature(payload)).
import { createHash } from 'node:crypto';
import { maxManifestBytes } from '../oci/media-types.js';
import { clip, decodeBase64, isDigestString, isObject, isSha256Digest, isSize, parseJson, stringEntries } from './bounded-input.js';
import { verifyWithKeys } from './key-signature.js';
import type { TrustedKey } from './public-key.js';
import { failed, type FailureReason, type SignatureCheck } from './signature-check.js';
import { cosignSignatureType, signatureAnnotations, signatureLimits, signatureMediaTypes } from './signature-formats.js';

export interface SimpleSigningLayer {
  readonly digest: string;
  readonly size: number;
  /** The base64 signature annotation, when present. */
  readonly signature: string | undefined;
  /** Every other string annotation: certificate, chain, Rekor bundle, RFC 3161 timestamp (keyless signing adds these). */
  readonly annotations: Readonly<Record<string, string>>;
  /** Set when the layer cannot count, so its payload need not be fetched. */
  readonly problem?: { readonly reason: FailureReason; readonly detail: string };
}

export type SignatureLayers =
  | { readonly ok: true; readonly layers: readonly SimpleSigningLayer[] }
  | { readonly ok: false; readonly reason: 'too-large' | 'malformed'; readonly detail: string };

export interface SimpleSigningPayload {
  readonly type: string;
  readonly digest: string;
  readonly dockerReference: string | undefined;
  readonly optional: Readonly<Record<string, unknown>> | undefined;
}

/**
 * The signature layers of a `.sig` manifest (or of a cosign `artifact.sig` referrer): layers of the
 * simple-signing media type, in manifest order. Other layers are not signatures and are left out.
 */
export function simpleSigningLayers(manifest: Buffer): SignatureLayers {
  const parsed = parseJson(manifest, maxManifestBytes);
  if (!parsed.ok) return { ok: false, reason: parsed.tooLarge ? 'too-large' : 'malformed', detail: `signature manifest: ${parsed.problem}` };
  const layers = isObject(parsed.value) ? parsed.value.layers : undefined;
  if (!Array.isArray(layers)) return { ok: false, reason: 'malformed', detail: 'signature manifest has no layers array' };
  if (layers.length > signatureLimits.signatureLayers) {
    return { ok: false, reason: 'too-large', detail: `signature manifest has ${layers.length} layers, more than ${signatureLimits.signatureLayers}` };
  }
  const out: SimpleSigningLayer[] = [];
  for (const layer of layers) {
    if (!isObject(layer) || layer.mediaType !== signatureMediaTypes.simpleSigning) continue;
    const { [signatureAnnotations.signature]: signature, ...annotations } = stringEntries(layer.annotations);
    const digest = typeof layer.digest === 'string' ? layer.digest : '';
    const size = isSize(layer.size) ? layer.size : -1;
    out.push({ digest, size, signature, annotations, ...layerProblem(digest, size, signature) });
  }
  return { ok: true, layers: out };
}

function layerProblem(digest: string, size: number, signature: string | undefined): Pick<SimpleSigningLayer, 'problem'> {
  if (!isSha256Digest(digest)) return { problem: { reason: 'malformed', detail: 'signature layer has no valid sha256 digest' } };
  if (size < 0) return { problem: { reason: 'malformed', detail: `signature layer ${digest} has no valid size` } };
  if (size > signatureLimits.payloadBytes) {
    return { problem: { reason: 'too-large', detail: `signature layer ${digest} is ${size} bytes, more than ${signatureLimits.payloadBytes}` } };
  }
  if (signature === undefined)
    return { problem: { reason: 'malformed', detail: `signature layer ${digest} has no ${signatureAnnotations.signature} annotation` } };
  return {};
}

/** Reads a simple-signing payload; the caller has checked its signature (its content means nothing before). */
export function parseSimpleSigningPayload(payload: Buffer): { ok: true; payload: SimpleSigningPayload } | { ok: false; tooLarge: boolean; detail: string } {
  const parsed = parseJson(payload, signatureLimits.payloadBytes);
  if (!parsed.ok) return { ok: false, tooLarge: parsed.tooLarge, detail: `simple-signing payload: ${parsed.problem}` };
  const critical = isObject(parsed.value) ? parsed.value.critical : undefined;
  if (!isObject(critical)) return { ok: false, tooLarge: false, detail: 'simple-signing payload has no "critical" object' };
  const image = critical.image;
  const digest = isObject(image) ? image['docker-manifest-digest'] : undefined;
  if (typeof critical.type !== 'string' || typeof digest !== 'string') {
    return { ok: false, tooLarge: false, detail: 'simple-signing payload lacks critical.type or critical.image.docker-manifest-digest' };
  }
  const identity = critical.identity;
  const reference = isObject(identity) ? identity['docker-reference'] : undefined;
  const optional = isObject(parsed.value) ? parsed.value.optional : undefined;
  return {
    ok: true,
    payload: {
      type: critical.type,
      digest,
      dockerReference: typeof reference === 'string' ? reference : undefined,
      optional: isObject(optional) ? optional : undefined,
    },
  };
}

/**
 * Checks one classic signature of the image `digest`: the payload bytes are the layer's, the signature
 * verifies over them with one of `keys`, the payload is a cosign image signature and names `digest`.
 * The signature is checked before the payload is believed, so a forged payload reads as `unverified`.
 * `docker-reference` is not compared: a mirror serves the image under other names than it was signed
 * under, and cosign's own claim check (pkg/cosign/verifiers.go SimpleClaimVerifier) compares only the digest.
 */
export function verifySimpleSigning(input: { layer: SimpleSigningLayer; payload: Buffer; digest: string; keys: readonly TrustedKey[] }): SignatureCheck {
  const { layer, payload, digest, keys } = input;
  const fail = (reason: FailureReason, detail: string) => failed('simple-signing', reason, detail);
  if (!isDigestString(digest)) return fail('malformed', `"${clip(String(digest))}" is not an image digest`);
  if (layer.problem) return fail(layer.problem.reason, layer.problem.detail);
  if (payload.length > signatureLimits.payloadBytes) return fail('too-large', `payload is ${payload.length} bytes, more than ${signatureLimits.payloadBytes}`);
  const payloadDigest = `sha256:${createHash('sha256').update(payload).digest('hex')}`;
  if (payload.length !== layer.size || payloadDigest !== layer.digest) {
    return fail('malformed', `payload bytes (${payloadDigest}, ${payload.length} bytes) are not the layer ${layer.digest} (${layer.size} bytes)`);
  }
  const signature = decodeBase64(layer.signature ?? '', signatureLimits.signatureChars);
  if (!signature.ok) return fail(signature.tooLarge ? 'too-large' : 'malformed', `signature annotation: ${signature.problem}`);
  const key = verifyWithKeys(keys, payload, signature.value);
  if (!key) return fail('unverified', `signature does not verify with any of ${keys.length} key${keys.length === 1 ? '' : 's'}`);
  const parsed = parseSimpleSigningPayload(payload);
  if (!parsed.ok) return fail(parsed.tooLarge ? 'too-large' : 'malformed', parsed.detail);
  if (parsed.payload.type !== cosignSignatureType) {
    return fail('wrong-type', `payload critical.type is "${clip(parsed.payload.type)}", not "${cosignSignatureType}"`);
  }
  if (parsed.payload.digest !== digest) return fail('digest-mismatch', `payload names ${clip(parsed.payload.digest)}, not ${digest}`);
  return { verified: true, format: 'simple-signing', keyId: key.id, digest };
}
