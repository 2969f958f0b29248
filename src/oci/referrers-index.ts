// The referrers list (distribution-spec v1.1 "Listing Referrers"): an OCI image index whose manifests are
// the descriptors of the manifests that name a subject; read from a hostile upstream, written by tender.
//
// The same document comes from two places: the answer of GET /v2/<name>/referrers/<digest>, and the
// index under the referrers tag schema (`<alg>-<ref>`, "Unavailable Referrers API"), which clients push
// to a registry without the API. Both are read here into checked descriptors and written back as one
// canonical index, so what tender serves never carries an upstream's stray fields or broken entries.
import type { Digest } from './digest.js';
import { isManifestMediaType, mediaTypes } from './media-types.js';

/** One referrer: a manifest or index in the same repository whose `subject` is the digest asked about. */
export interface ReferrerDescriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  /** The referrer's artifactType (or its config's mediaType); omitted for an index without one (spec). */
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export type ReferrersParse =
  { readonly ok: true; readonly manifests: ReferrerDescriptor[]; readonly dropped: number } | { readonly ok: false; readonly problem: string };

const digestPattern = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
/** A bound on one string field of a descriptor (the whole list is bounded in bytes where it is read). */
const maxFieldLength = 64 * 1024;

/**
 * The referrers tag of a subject: `<alg>-<ref>` with `<ref>` cut to 64 characters, so a sha512 subject
 * still gives a valid tag (distribution-spec "Referrers Tag Schema").
 */
export function referrersTag(subject: Digest): string {
  return `${subject.algorithm}-${subject.hex.slice(0, 64)}`;
}

/**
 * The descriptors of an image index body. Entries that are not well-formed descriptors of a manifest
 * (a wrong digest, a negative size, a mediaType that is no manifest type) are dropped and counted: one
 * bad entry from upstream must not hide the others, and must never be served.
 */
export function parseReferrersIndex(body: Buffer): ReferrersParse {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  if (!isObject(parsed)) return { ok: false, problem: 'not a JSON object' };
  if (parsed.schemaVersion !== 2) return { ok: false, problem: 'schemaVersion is not 2' };
  if (parsed.mediaType !== undefined && parsed.mediaType !== mediaTypes.ociIndex) return { ok: false, problem: 'not an OCI image index' };
  // A referrers answer with no referrers may leave the field out; a tag index always has it.
  const entries = parsed.manifests ?? [];
  if (!Array.isArray(entries)) return { ok: false, problem: 'manifests is not an array' };
  const manifests: ReferrerDescriptor[] = [];
  let dropped = 0;
  for (const entry of entries) {
    const descriptor = descriptorOf(entry);
    if (descriptor) manifests.push(descriptor);
    else dropped++;
  }
  return { ok: true, manifests, dropped };
}

/** Only the referrers of `artifactType`, or all of them when no filter is asked for. */
export function filterReferrers(manifests: readonly ReferrerDescriptor[], artifactType: string | undefined): readonly ReferrerDescriptor[] {
  return artifactType === undefined ? manifests : manifests.filter((m) => m.artifactType === artifactType);
}

/** The canonical index tender serves: schemaVersion 2, the OCI index media type, the descriptors in order. */
export function referrersIndexBody(manifests: readonly ReferrerDescriptor[]): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests }), 'utf8');
}

/** Appends the descriptors of `more` not already in `into` (by digest), and returns `into`: pages may overlap. */
export function mergeReferrers(into: ReferrerDescriptor[], seen: Set<string>, more: readonly ReferrerDescriptor[]): ReferrerDescriptor[] {
  for (const descriptor of more) {
    if (seen.has(descriptor.digest)) continue;
    seen.add(descriptor.digest);
    into.push(descriptor);
  }
  return into;
}

function descriptorOf(entry: unknown): ReferrerDescriptor | undefined {
  if (!isObject(entry)) return undefined;
  const { mediaType, digest, size, artifactType, annotations } = entry;
  if (typeof mediaType !== 'string' || !isManifestMediaType(mediaType)) return undefined;
  if (typeof digest !== 'string' || !digestPattern.test(digest)) return undefined;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined;
  if (artifactType !== undefined && !isField(artifactType)) return undefined;
  const kept = annotationsOf(annotations);
  if (kept === null) return undefined;
  return {
    mediaType: mediaType.toLowerCase(),
    digest,
    size,
    ...(artifactType !== undefined && artifactType !== '' ? { artifactType } : {}),
    ...(kept ? { annotations: kept } : {}),
  };
}

/** The annotations as a string map; undefined when there are none, null when they are malformed. */
function annotationsOf(value: unknown): Record<string, string> | undefined | null {
  if (value === undefined) return undefined;
  if (!isObject(value)) return null;
  const kept: Array<[string, string]> = [];
  for (const [key, text] of Object.entries(value)) {
    if (!isField(key) || !isField(text)) return null;
    kept.push([key, text]);
  }
  // fromEntries defines own properties: a "__proto__" key stays a key, it never becomes a prototype.
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
}

function isField(value: unknown): value is string {
  return typeof value === 'string' && value.length <= maxFieldLength;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
