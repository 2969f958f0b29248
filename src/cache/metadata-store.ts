// The MetadataStore port: tag records, manifest records and visibility links (embedded files, or Redis shared by replicas).
//
// Split by user: tags.ts reads and writes TagRecords, manifests.ts ManifestRecords, visibility.ts
// VisibilityLinks; each part is handed only its slice. Reads throw when the store cannot answer (EIO, a
// broken Redis reply); the core degrades (cache-reads.ts), it never turns that into a 500.
// The listings' slice (tags lists and referrers) is in listing-records.ts.
import type { ListingRecords } from './listing-records.js';

/** What a tag pointed to when tender last asked upstream. */
export interface TagRecord {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  /** Epoch ms of the last upstream confirmation. */
  readonly checkedAt: number;
}

/** What tender stored a digest as: only content with a record is ever served as a manifest. */
export interface ManifestInfo {
  readonly mediaType: string;
  readonly size: number;
}

export interface TagRecords {
  /** The record, undefined when there is none; throws when the store cannot be read. */
  getTag(upstream: string, repository: string, tag: string): Promise<TagRecord | undefined>;
  /** Replaces the record; throws when the store refuses the write. */
  setTag(upstream: string, repository: string, tag: string, record: TagRecord): Promise<void>;
  /** Removes the record (absent is fine); throws when the store refuses the write. */
  deleteTag(upstream: string, repository: string, tag: string): Promise<void>;
  /** Every tag record (for exporting what is cached); the iteration throws when the store cannot be read. */
  listTags(): AsyncIterable<{ upstream: string; repository: string; tag: string; record: TagRecord }>;
}

export interface ManifestRecords {
  /** The record, undefined when there is none; throws when the store cannot be read. */
  getManifest(digest: string): Promise<ManifestInfo | undefined>;
  /** Records `digest` as a manifest; throws when the store refuses the write. */
  setManifest(digest: string, info: ManifestInfo): Promise<void>;
  /** Forgets the record (its content was evicted; absent is fine); throws when the store refuses the write. */
  deleteManifest(digest: string): Promise<void>;
}

/** Which (upstream, repository) is known to hold a digest, or that a public upstream does (see visibility.ts). */
export interface VisibilityLinks {
  /** Whether the link is recorded; throws when the store cannot be read. */
  hasLink(link: string): Promise<boolean>;
  /** Records the link (`<scope>@<digest>`); throws when the store refuses the write. */
  addLink(link: string): Promise<void>;
  /** Forgets every link of `digest` (its content was evicted); throws when the store refuses the write. */
  removeLinks(digest: string): Promise<void>;
  /** Forgets one link; throws when the store refuses the write. */
  removeLink(link: string): Promise<void>;
  /**
   * Every link this store can list: the embedded store's; none from a shared one (Redis), whose links also
   * serve other replicas' caches. For the sweep of links left by evictions before links were listed per digest.
   */
  listLinks(): AsyncIterable<string>;
}

/** A digest verified under a signature policy's key set (signature-policy.ts): kept while its evidence is cached. */
export interface VerdictRecord {
  readonly keyId: string;
  readonly format: 'simple-signing' | 'sigstore-bundle';
  /** The signature manifest and blob the verdict was made from: gone from the cache, the verdict no longer counts. */
  readonly evidence: readonly string[];
  /** Epoch ms of the verification. */
  readonly at: number;
}

/** Why a digest of a policy repository may be served without a signature of its own. */
export type AdmissionRecord =
  /** Referenced by a verified manifest (`root`): counts while root's verdict does. */
  | { readonly kind: 'admitted'; readonly root: string; readonly policy: string }
  /** A blob of a signature, attestation or SBOM. */
  | { readonly kind: 'evidence'; readonly policy: string };

/** Signature verdicts and admissions (signature-policy.ts), shared by replicas through Redis. */
export interface SignatureRecords {
  /** The verdict under `key` (policy, key set fingerprint, digest), undefined when none; throws when the store cannot be read. */
  getVerdict(key: string): Promise<VerdictRecord | undefined>;
  /** Records a verdict; throws when the store refuses the write. */
  setVerdict(key: string, record: VerdictRecord): Promise<void>;
  /** The admission of `key` (upstream/repository@digest), undefined when none; throws when the store cannot be read. */
  getAdmission(key: string): Promise<AdmissionRecord | undefined>;
  /** Records an admission; throws when the store refuses the write. */
  setAdmission(key: string, record: AdmissionRecord): Promise<void>;
}

export interface MetadataStore extends TagRecords, ManifestRecords, VisibilityLinks, ListingRecords, SignatureRecords {
  /** Writes a probe record; throws when this replica's own store takes no writes (readiness). */
  probe(): Promise<void>;
  /** Releases files and connections; never throws. */
  close(): Promise<void>;
}
