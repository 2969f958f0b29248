// Digest vocabulary: parsing, validation and hashing names (OCI image-spec "Digests").
import { OciError } from './errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface Digest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
  /** `algorithm:hex`, the canonical string form. */
  readonly value: string;
}

const hexLength: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const digestPattern = /^(sha256|sha512):([a-f0-9]+)$/;

/** Parses a digest string; throws DIGEST_INVALID for anything the registry must not touch. */
export function parseDigest(input: string): Digest {
  const match = digestPattern.exec(input);
  if (!match) throw new OciError('DIGEST_INVALID', `invalid digest "${truncate(input)}": expected sha256:<64 hex> or sha512:<128 hex>`);
  const algorithm = match[1] as DigestAlgorithm;
  const hex = match[2] as string;
  if (hex.length !== hexLength[algorithm]) {
    throw new OciError('DIGEST_INVALID', `invalid digest "${truncate(input)}": ${algorithm} takes ${hexLength[algorithm]} hex characters`);
  }
  return { algorithm, hex, value: input };
}

export function isDigest(input: string): boolean {
  return input.startsWith('sha256:') || input.startsWith('sha512:');
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}
