// Finding the signatures of one digest and checking them against a key set: both formats cosign writes.
//
// Classic: the `sha256-<hex>.sig` tag in the same repository (cosign pkg/oci/remote/remote.go
// SignatureTag), its simple-signing layers each a payload blob. Bundles: the referrers of the digest
// (the upstream's referrers API, else the `sha256-<hex>` referrers tag index), each Sigstore bundle
// referrer holding one bundle layer. Everything is fetched through the core's own cached paths, so the
// second check of the same evidence costs no upstream request and works offline.
import { isOciError, describeError } from '../oci/errors.js';
import type { TrustedKey } from '../trust/public-key.js';
import { attachmentTag } from '../trust/cosign-tags.js';
import { referrerBundleLayer, signatureCandidates } from '../trust/referrers.js';
import type { SignatureCheck } from '../trust/signature-check.js';
import type { SignatureFormat } from '../trust/signature-formats.js';
import { verifySigstoreBundle } from '../trust/sigstore-bundle.js';
import { simpleSigningLayers, verifySimpleSigning } from '../trust/simple-signing.js';
import type { Route } from './ports.js';
import type { RefusalReason, SignatureFound } from './signature-verdict.js';

/** Where evidence comes from: the core's cached paths (evidence-source.ts). Each throws an OciError on an outage. */
export interface EvidenceSource {
  /** A manifest by tag, as a pull resolves it (cached record, TTL); undefined when upstream has no such tag. */
  manifestByTag(route: Route, tag: string): Promise<{ digest: string; body: Buffer } | undefined>;
  /** A manifest by digest, cached or fetched and verified; undefined when upstream has none. */
  manifestByDigest(route: Route, digest: string): Promise<Buffer | undefined>;
  /** A blob of `size` bytes (small: capped by the formats), cached or fetched and verified; undefined when upstream has none. */
  smallBlob(route: Route, digest: string, size: number): Promise<Buffer | undefined>;
  /** The referrers index of `digest` (API answer or referrers tag index); undefined when there is none. */
  referrers(route: Route, digest: string): Promise<Buffer | undefined>;
}

export interface EvidenceResult {
  readonly signatures: readonly SignatureFound[];
  /** The first signature that verified, and the digests it was made from (they must stay cached for the verdict to count). */
  readonly verified?: { readonly keyId: string; readonly format: SignatureFormat; readonly evidence: readonly string[] };
  /** Why none counts, when none does. */
  readonly refusal?: { readonly reason: RefusalReason; readonly detail: string };
}

/** Signatures checked for one digest at most: each costs a blob fetch and a verification. */
const maxChecks = 64;

const absent = (err: unknown): boolean => isOciError(err) && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN' || err.code === 'BLOB_UNKNOWN');

/** Finds and checks the signatures of `digest`; `image` is its manifest (a messageSignature bundle signs those bytes). Never throws for evidence trouble. */
export async function checkSignatures(
  source: EvidenceSource,
  route: Route,
  digest: string,
  keys: readonly TrustedKey[],
  image: Buffer | undefined,
): Promise<EvidenceResult> {
  const signatures: SignatureFound[] = [];
  const failures: string[] = [];
  /** Runs one fetch; an outage is remembered (the verdict may then follow onError), absence is undefined. */
  const fetch = async <T>(what: string, work: () => Promise<T | undefined>): Promise<T | undefined> => {
    try {
      return await work();
    } catch (err) {
      if (!absent(err)) failures.push(`${what}: ${describeError(err)}`);
      return undefined;
    }
  };
  const record = (check: SignatureCheck, source: string, manifest: string, evidence: readonly string[]): EvidenceResult | undefined => {
    signatures.push(
      check.verified
        ? { format: check.format, source, manifest, verified: true, keyId: check.keyId }
        : { format: check.format, source, manifest, verified: false, reason: check.reason, detail: check.detail },
    );
    return check.verified ? { signatures, verified: { keyId: check.keyId, format: check.format, evidence: [manifest, ...evidence] } } : undefined;
  };

  /** The simple-signing layers of a `.sig` manifest or a cosign `artifact.sig` referrer. */
  const simpleSigning = async (body: Buffer, where: string, manifest: string): Promise<EvidenceResult | undefined> => {
    const layers = simpleSigningLayers(body);
    if (!layers.ok) return record({ verified: false, format: 'simple-signing', reason: layers.reason, detail: layers.detail }, where, manifest, []);
    for (const layer of layers.layers) {
      if (signatures.length >= maxChecks) break;
      const before = failures.length;
      const payload = layer.problem ? Buffer.alloc(0) : await fetch(`payload ${layer.digest}`, () => source.smallBlob(route, layer.digest, layer.size));
      if (payload === undefined) {
        if (failures.length === before)
          record({ verified: false, format: 'simple-signing', reason: 'malformed', detail: `payload ${layer.digest} is missing` }, where, manifest, []);
        continue;
      }
      const done = record(verifySimpleSigning({ layer, payload, digest, keys }), where, manifest, [layer.digest]);
      if (done) return done;
    }
    return undefined;
  };

  const tag = attachmentTag(digest, 'sig');
  const classic = await fetch(`tag ${tag}`, () => source.manifestByTag(route, tag));
  if (classic) {
    const done = await simpleSigning(classic.body, `tag ${tag}`, classic.digest);
    if (done) return done;
  }

  const index = await fetch(`referrers of ${digest}`, () => source.referrers(route, digest));
  if (index) {
    const candidates = signatureCandidates(index);
    if (!candidates.ok) {
      failures.push(`referrers of ${digest}: ${candidates.detail}`);
    } else {
      for (const candidate of candidates.candidates) {
        if (signatures.length >= maxChecks) break;
        const where = `referrer ${candidate.digest}`;
        const body = await fetch(where, () => source.manifestByDigest(route, candidate.digest));
        if (!body) continue;
        if (candidate.format === 'simple-signing') {
          const done = await simpleSigning(body, where, candidate.digest);
          if (done) return done;
          continue;
        }
        const layer = referrerBundleLayer(body, digest);
        if (!layer.ok) {
          record({ verified: false, format: 'sigstore-bundle', reason: layer.reason, detail: layer.detail }, where, candidate.digest, []);
          continue;
        }
        const bundle = await fetch(`bundle ${layer.layer.digest}`, () => source.smallBlob(route, layer.layer.digest, layer.layer.size));
        if (!bundle) continue;
        const check = verifySigstoreBundle({ bundle, digest, keys, layer: layer.layer, ...(image ? { manifest: image } : {}) });
        const done = record(check, where, candidate.digest, [layer.layer.digest]);
        if (done) return done;
      }
    }
  }
  return { signatures, refusal: refusalOf(signatures, failures, tag, keys.length) };
}

/** The one reason a refusal names: an outage first (nothing can be concluded), then the most telling failure. */
function refusalOf(signatures: readonly SignatureFound[], failures: readonly string[], tag: string, keys: number): NonNullable<EvidenceResult['refusal']> {
  if (failures.length > 0) return { reason: 'fetch-failed', detail: `signatures could not be fetched (${failures.slice(0, 3).join('; ')})` };
  if (signatures.length === 0) return { reason: 'no-signature', detail: `no signature found (no tag ${tag}, no signature among the referrers)` };
  const first = (reason: string) => signatures.find((s) => s.reason === reason);
  const mismatch = first('digest-mismatch');
  if (mismatch) return { reason: 'digest-mismatch', detail: `payload names another digest (${mismatch.detail})` };
  if (first('unverified')) {
    const count = signatures.length;
    return {
      reason: 'unverified',
      detail: `signature does not verify with any key (${count} signature${count === 1 ? '' : 's'} found, ${keys} key${keys === 1 ? '' : 's'} trusted)`,
    };
  }
  return { reason: 'malformed', detail: `no readable signature (${signatures[0]!.detail ?? 'malformed'})` };
}

/**
 * The shared check, or a fetch failure when the deadline or the caller's signal comes first (the check goes
 * on for the others waiting on it, and its evidence is cached for the next pull). A plain timer, cleared:
 * AbortSignal.timeout's would outlive every answer.
 */
export async function withDeadline(work: Promise<EvidenceResult>, deadlineMs: number, signal: AbortSignal | undefined): Promise<EvidenceResult> {
  if (signal?.aborted) return timedOut(deadlineMs);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const late = new Promise<EvidenceResult>((resolve) => {
    onAbort = () => resolve(timedOut(deadlineMs));
    timer = setTimeout(onAbort, deadlineMs);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

function timedOut(deadlineMs: number): EvidenceResult {
  return {
    signatures: [],
    refusal: { reason: 'fetch-failed', detail: `signatures could not be fetched: no answer within ${deadlineMs} ms (or the caller's deadline)` },
  };
}
