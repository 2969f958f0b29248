// What the signature policy remembers: verdicts per (policy, key set, digest) and admissions per repository and
// digest, in memory in front of the metadata store (so they survive restarts and replicas share them).
// The rules of when a record counts stay in signature-policy.ts; this is where the records are kept.
import { LRUCache } from 'lru-cache';
import { referencesOf } from '../oci/manifest.js';
import type { CacheReads } from './cache-reads.js';
import type { CacheWrites } from './cache-writes.js';
import type { AdmissionRecord, SignatureRecords, VerdictRecord } from './metadata-store.js';
import type { Route } from './ports.js';

export interface SignatureMemoryParts {
  readonly records: SignatureRecords;
  readonly reads: CacheReads;
  readonly writes: CacheWrites;
  /** Whether a blob or manifest is in the cache: a verdict counts only while its evidence is. */
  readonly isCached: (digest: string) => boolean;
}

export class SignatureMemory {
  private readonly verdicts = new LRUCache<string, VerdictRecord>({ max: 50_000 });
  private readonly admissions = new LRUCache<string, AdmissionRecord>({ max: 200_000 });

  constructor(private readonly parts: SignatureMemoryParts) {}

  /** The verdict remembered under `key` in this process, without asking the store. */
  verdictNow(key: string): VerdictRecord | undefined {
    return this.verdicts.get(key);
  }

  /** `verdict` from this process's memory only: undefined when it is not there or no longer counts (`verdict` then forgets it). */
  countingNow(key: string): VerdictRecord | undefined {
    const record = this.verdicts.get(key);
    return record && record.evidence.every((d) => this.parts.isCached(d)) ? record : undefined;
  }

  /** `admission` from this process's memory only. */
  admissionNow(route: Route, digest: string): AdmissionRecord | undefined {
    return this.admissions.get(admissionKey(route, digest));
  }

  /** A remembered verdict that still counts: its evidence is in the cache. */
  async verdict(key: string): Promise<VerdictRecord | undefined> {
    let record = this.verdicts.get(key);
    if (!record) {
      record = await this.parts.reads.attempt('signature', () => this.parts.records.getVerdict(key), undefined, { verdict: key });
      if (record) this.verdicts.set(key, record);
    }
    if (!record) return undefined;
    if (record.evidence.every((d) => this.parts.isCached(d))) return record;
    // The signature left the cache: the verdict must be made again from evidence fetched again.
    this.verdicts.delete(key);
    return undefined;
  }

  async setVerdict(key: string, record: VerdictRecord): Promise<void> {
    this.verdicts.set(key, record);
    await this.parts.writes.attempt('metadata', 'signature verdict', () => this.parts.records.setVerdict(key, record), { verdict: key });
  }

  /** What admits `digest` in the route's repository, if anything was recorded. */
  async admission(route: Route, digest: string): Promise<AdmissionRecord | undefined> {
    const key = admissionKey(route, digest);
    let record = this.admissions.get(key);
    if (!record) {
      record = await this.parts.reads.attempt('signature', () => this.parts.records.getAdmission(key), undefined, { admission: key });
      if (record) this.admissions.set(key, record);
    }
    return record;
  }

  /**
   * What a served manifest references may follow: the platform manifests and blobs of a verified (or admitted)
   * manifest under the same root; only the blobs of evidence. The manifests a referrers index lists are judged
   * on their own (a referrer names its subject), or an image listed there would be served unsigned.
   */
  async learn(route: Route, body: Buffer, record: AdmissionRecord): Promise<void> {
    const refs = referencesOf(body);
    const writes: Array<Promise<boolean>> = [];
    for (const child of record.kind === 'admitted' ? [...refs.manifests, ...refs.blobs] : refs.blobs) {
      const key = admissionKey(route, child.digest);
      const had = this.admissions.get(key);
      if (had && had.kind === record.kind && (had.kind === 'evidence' || (record.kind === 'admitted' && had.root === record.root))) continue;
      this.admissions.set(key, record);
      // Written before the answer: another replica may be asked for the blob next.
      writes.push(this.parts.writes.attempt('metadata', 'signature admission', () => this.parts.records.setAdmission(key, record), { admission: key }));
    }
    await Promise.all(writes);
  }
}

function admissionKey(route: Route, digest: string): string {
  return `${route.upstream.name}/${route.repository}@${digest}`;
}
