// The ListingRecords slice of the MetadataStore port: the last tags list and referrers list tender
// assembled, with where they came from and when, so both are served within their window, stale when
// upstream fails, and for good when the upstream is offline.
import type { ReferrerDescriptor } from '../oci/referrers-index.js';

/** A repository's whole tags list as upstream last gave it (every page), in the order tender serves. */
export interface TagListRecord {
  readonly kind: 'tags';
  readonly tags: readonly string[];
  /** Epoch ms of the last upstream answer. */
  readonly checkedAt: number;
}

/** Where a referrers list came from: the upstream's referrers API, the referrers tag, or neither (empty). */
export type ReferrersSource = 'api' | 'tag' | 'none';

/** The referrers of one subject digest in one repository, unfiltered. */
export interface ReferrersRecord {
  readonly kind: 'referrers';
  readonly source: ReferrersSource;
  readonly manifests: readonly ReferrerDescriptor[];
  /** Epoch ms of the last upstream answer. */
  readonly checkedAt: number;
}

export type ListingRecord = TagListRecord | ReferrersRecord;

export interface ListingRecords {
  /** The record under `key`, undefined when there is none; throws when the store cannot be read. */
  getListing(key: string): Promise<ListingRecord | undefined>;
  /** Replaces the record; throws when the store refuses the write. */
  setListing(key: string, record: ListingRecord): Promise<void>;
  /** Removes the record (absent is fine); throws when the store refuses the write. */
  deleteListing(key: string): Promise<void>;
}
