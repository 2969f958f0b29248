// Classic cosign signatures: listing the layers of a .sig manifest and checking each against the keys and the image digest.
import { createHash, sign } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseSimpleSigningPayload, simpleSigningLayers, verifySimpleSigning, type SimpleSigningLayer } from '../../../src/trust/simple-signing.js';
import type { SignatureCheck } from '../../../src/trust/signature-check.js';
import type { TrustedKey } from '../../../src/trust/public-key.js';
import { cosignTypes, signatureImage, signatureLayer, simpleSigningPayload } from '../../helpers/cosign.js';
import { generateSigningKey, type KeyType, type SigningKey } from '../../helpers/cosign-keys.js';
import { trusted } from './trusted-key.js';

const sha = (text: string | Buffer) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const digest = sha('the image manifest');
const otherDigest = sha('another image manifest');

let key: SigningKey;
let keys: TrustedKey[];

beforeAll(() => {
  key = generateSigningKey();
  keys = [trusted(key)];
});

/** The one listed layer of a signature image made from `layers`. */
function listed(layers: Parameters<typeof signatureImage>[0]): SimpleSigningLayer[] {
  const result = simpleSigningLayers(signatureImage(layers).manifest);
  if (!result.ok) throw new Error(result.detail);
  return [...result.layers];
}

function check(signer: SigningKey, opts: { names?: string; payload?: Buffer; keys?: TrustedKey[] } = {}): SignatureCheck {
  const payload = opts.payload ?? simpleSigningPayload('registry.example/app', opts.names ?? digest);
  const [layer] = listed([signatureLayer(signer, payload)]);
  return verifySimpleSigning({ layer: layer!, payload, digest, keys: opts.keys ?? keys });
}

function expectFailure(result: SignatureCheck, reason: string, detail: RegExp): void {
  expect(result.verified).toBe(false);
  if (result.verified) return;
  expect(result.format).toBe('simple-signing');
  expect(result.reason).toBe(reason);
  expect(result.detail).toMatch(detail);
}

describe('simpleSigningLayers', () => {
  it('lists the signature layers in order with their signature and the other annotations keyless signing adds', () => {
    const one = signatureLayer(key, simpleSigningPayload('r/app', digest));
    const two = signatureLayer(key, simpleSigningPayload('r/app', otherDigest), {
      'dev.sigstore.cosign/certificate': '-----BEGIN CERTIFICATE-----…',
      'dev.sigstore.cosign/chain': '-----BEGIN CERTIFICATE-----…',
      'dev.sigstore.cosign/bundle': '{"SignedEntryTimestamp":"…"}',
    });
    const layers = listed([one, two]);
    expect(layers.map((l) => l.digest)).toEqual([one.payload.digest, two.payload.digest]);
    expect(layers[0]!.signature).toBe(one.annotations[cosignTypes.signatureAnnotation]);
    expect(layers[0]!.annotations).toEqual({});
    expect(Object.keys(layers[1]!.annotations).sort()).toEqual(['dev.sigstore.cosign/bundle', 'dev.sigstore.cosign/certificate', 'dev.sigstore.cosign/chain']);
    expect(layers.every((l) => l.problem === undefined)).toBe(true);
  });

  it('leaves out layers that are not simple-signing payloads', () => {
    const manifest = JSON.parse(signatureImage([signatureLayer(key, simpleSigningPayload('r/app', digest))]).manifest.toString());
    manifest.layers.unshift({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: 3, digest: sha('abc') });
    const result = simpleSigningLayers(Buffer.from(JSON.stringify(manifest)));
    expect(result.ok && result.layers.length).toBe(1);
  });

  it('marks layers that cannot count, so their payloads need not be fetched', () => {
    const manifest = Buffer.from(
      JSON.stringify({
        layers: [
          { mediaType: cosignTypes.simpleSigning, size: 10, digest: sha('a') },
          { mediaType: cosignTypes.simpleSigning, size: 10, digest: 'sha256:short', annotations: { [cosignTypes.signatureAnnotation]: 'AAAA' } },
          { mediaType: cosignTypes.simpleSigning, size: 4 * 1024 * 1024, digest: sha('b'), annotations: { [cosignTypes.signatureAnnotation]: 'AAAA' } },
          { mediaType: cosignTypes.simpleSigning, size: -1, digest: sha('c'), annotations: { [cosignTypes.signatureAnnotation]: 'AAAA' } },
        ],
      }),
    );
    const result = simpleSigningLayers(manifest);
    if (!result.ok) throw new Error(result.detail);
    expect(result.layers.map((l) => l.problem?.reason)).toEqual(['malformed', 'malformed', 'too-large', 'malformed']);
    expect(result.layers[0]!.problem?.detail).toMatch(/no dev.cosignproject.cosign\/signature annotation/);
    // The 4 MiB layer is refused by its descriptor; its (absent) payload is never looked at.
    expectFailure(verifySimpleSigning({ layer: result.layers[2]!, payload: Buffer.alloc(0), digest, keys }), 'too-large', /4194304 bytes/);
  });

  it.each([
    ['not JSON', Buffer.from('{"layers": ['), 'malformed', /not JSON/],
    ['JSON without layers', Buffer.from('{"schemaVersion":2}'), 'malformed', /no layers array/],
    ['layers that are not an array', Buffer.from('{"layers":{"0":{}}}'), 'malformed', /no layers array/],
    ['a manifest over 4 MiB', Buffer.alloc(4 * 1024 * 1024 + 1, 0x20), 'too-large', /cap/],
  ])('refuses %s', (_name, manifest, reason, detail) => {
    const result = simpleSigningLayers(manifest);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reason).toBe(reason);
      expect(result.detail).toMatch(detail);
    }
  });

  it('refuses more layers than cosign itself reads (1000)', () => {
    const layer = { mediaType: cosignTypes.simpleSigning, size: 1, digest: sha('x'), annotations: { [cosignTypes.signatureAnnotation]: 'AAAA' } };
    const result = simpleSigningLayers(Buffer.from(JSON.stringify({ layers: Array.from({ length: 1001 }, () => layer) })));
    expect(result.ok === false && result.reason).toBe('too-large');
  });
});

describe('verifySimpleSigning', () => {
  it('verifies a signature made with a trusted key over a payload naming the digest', () => {
    expect(check(key)).toEqual({ verified: true, format: 'simple-signing', keyId: keys[0]!.id, digest });
  });

  it.each<KeyType>(['ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'ed25519', 'rsa-2048'])('verifies a %s signature made as cosign makes it', (type) => {
    const signer = generateSigningKey(type);
    const result = check(signer, { keys: [trusted(signer)] });
    expect(result.verified && result.keyId).toBe(trusted(signer).id);
  });

  it('verifies the variants older cosign wrote: P-384 with SHA-256, pure Ed25519', () => {
    const payload = simpleSigningPayload('registry.example/app', digest);
    for (const [type, sigOf] of [
      ['ecdsa-p384', (k: SigningKey) => sign('sha256', payload, k.privateKey)],
      ['ed25519', (k: SigningKey) => sign(null, payload, k.privateKey)],
    ] as const) {
      const signer = generateSigningKey(type);
      const [layer] = listed([
        { payload: signatureLayer(signer, payload).payload, annotations: { [cosignTypes.signatureAnnotation]: sigOf(signer).toString('base64') } },
      ]);
      expect(verifySimpleSigning({ layer: layer!, payload, digest, keys: [trusted(signer)] }).verified).toBe(true);
    }
  });

  it('names the key that verified among several', () => {
    const others = [generateSigningKey(), generateSigningKey('ed25519')].map(trusted);
    const result = check(key, { keys: [...others, keys[0]!] });
    expect(result.verified && result.keyId).toBe(keys[0]!.id);
  });

  it('refuses a signature made with another key', () => {
    expectFailure(check(generateSigningKey()), 'unverified', /does not verify with any of 1 key$/);
  });

  it('refuses when no key is configured', () => {
    expectFailure(check(key, { keys: [] }), 'unverified', /any of 0 keys/);
  });

  it('refuses a payload that names another digest, though validly signed', () => {
    expectFailure(check(key, { names: otherDigest }), 'digest-mismatch', new RegExp(`names ${otherDigest}, not ${digest}`));
  });

  it('refuses a payload whose critical.type is not a cosign image signature', () => {
    const payload = Buffer.from(
      JSON.stringify({
        critical: { identity: { 'docker-reference': 'r/app' }, image: { 'docker-manifest-digest': digest }, type: 'atomic container signature' },
      }),
    );
    expectFailure(check(key, { payload }), 'wrong-type', /"atomic container signature", not "cosign container image signature"/);
  });

  it('refuses a tampered payload: bytes that are not the layer the manifest names', () => {
    const signed = simpleSigningPayload('registry.example/app', digest);
    const [layer] = listed([signatureLayer(key, signed)]);
    const tampered = Buffer.from(signed.toString().replace(digest, otherDigest));
    expectFailure(verifySimpleSigning({ layer: layer!, payload: tampered, digest, keys }), 'malformed', /are not the layer/);
  });

  it('refuses a tampered payload whose layer was re-described to match: the signature no longer verifies', () => {
    const good = signatureLayer(key, simpleSigningPayload('registry.example/app', otherDigest));
    const forged = simpleSigningPayload('registry.example/app', digest);
    const [layer] = listed([{ ...good, payload: { ...good.payload, bytes: forged, digest: sha(forged), size: forged.length } }]);
    expectFailure(verifySimpleSigning({ layer: layer!, payload: forged, digest, keys }), 'unverified', /does not verify/);
  });

  it('refuses a tampered signature annotation', () => {
    const payload = simpleSigningPayload('registry.example/app', digest);
    const good = signatureLayer(key, payload);
    const bytes = Buffer.from(good.annotations[cosignTypes.signatureAnnotation]!, 'base64');
    bytes[10]! ^= 0xff;
    const [layer] = listed([{ ...good, annotations: { [cosignTypes.signatureAnnotation]: bytes.toString('base64') } }]);
    expectFailure(verifySimpleSigning({ layer: layer!, payload, digest, keys }), 'unverified', /does not verify/);
  });

  it.each([
    ['not base64', 'MEUCIQ*not base64*', 'malformed', /not standard padded base64/],
    ['unpadded base64', 'AAA', 'malformed', /not standard padded base64/],
    ['an oversized signature', 'A'.repeat(8192), 'too-large', /more than 4096/],
  ])('refuses a signature annotation that is %s', (_name, signature, reason, detail) => {
    const payload = simpleSigningPayload('registry.example/app', digest);
    const [layer] = listed([{ ...signatureLayer(key, payload), annotations: { [cosignTypes.signatureAnnotation]: signature } }]);
    expectFailure(verifySimpleSigning({ layer: layer!, payload, digest, keys }), reason, detail);
  });

  it.each([
    ['not JSON', Buffer.from('{"critical": '), /not JSON/],
    ['JSON without critical', Buffer.from('{"optional":{}}'), /no "critical" object/],
    ['critical without the image digest', Buffer.from('{"critical":{"type":"cosign container image signature","image":{}}}'), /lacks/],
  ])('refuses a validly signed payload that is %s', (_name, payload, detail) => {
    expectFailure(check(key, { payload }), 'malformed', detail);
  });

  it('refuses to check against something that is not a digest', () => {
    const payload = simpleSigningPayload('registry.example/app', digest);
    const [layer] = listed([signatureLayer(key, payload)]);
    expectFailure(verifySimpleSigning({ layer: layer!, payload, digest: 'latest', keys }), 'malformed', /not an image digest/);
  });
});

describe('parseSimpleSigningPayload', () => {
  it('reads the digest, type, claimed reference and optional annotations', () => {
    const result = parseSimpleSigningPayload(simpleSigningPayload('ghcr.io/org/app', digest, { team: 'platform' }));
    expect(result).toEqual({
      ok: true,
      payload: { type: 'cosign container image signature', digest, dockerReference: 'ghcr.io/org/app', optional: { team: 'platform' } },
    });
  });

  it('reads "optional": null, as cosign writes without -a, as no annotations', () => {
    const result = parseSimpleSigningPayload(simpleSigningPayload('ghcr.io/org/app', digest));
    expect(result.ok && result.payload.optional).toBeUndefined();
  });
});
