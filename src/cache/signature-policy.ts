// "May this digest be served under the signature policy?": the one decision the manifest path, the blob path,
// `tender check` and the admission endpoints share (issue 13). signature-verdict.ts states the contract.
//
// A manifest of a repository a policy covers is served when one of its signatures verifies with one of the
// policy's keys, when a verified manifest references it (index → platform manifests → config and layers),
// or when it is itself evidence (a signature, attestation, SBOM or referrers index, so that `cosign verify`
// works through the mirror). Verdicts are cached per (policy, key set, digest) in memory and in the
// metadata store (so they survive restarts and replicas share them) and count only while the signature
// they were made from is still in the cache: evicted evidence means the next pull verifies again. A verdict is
// also due again once the tag its signature was found under (the `.sig` tag, or the referrers tag) would be
// revalidated (tagTtl): made again then through the cached paths, which ask upstream, so a signature deleted
// upstream stops counting within tagTtl, while an upstream that is down leaves the stale tag, and the verdict.
import { LRUCache } from 'lru-cache';
import { OciError } from '../oci/errors.js';
import { referencesOf } from '../oci/manifest.js';
import { firstMatch, repositoryMatcher } from '../oci/repository-pattern.js';
import { isEvidenceManifest } from '../trust/evidence.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { CacheReads } from './cache-reads.js';
import type { CacheWrites } from './cache-writes.js';
import type { TrustVerdict } from './inventory-record.js';
import type { SignatureRecords, VerdictRecord } from './metadata-store.js';
import type { Route } from './ports.js';
import { allowed, type ServedManifest, type ServePolicy, type Verdict } from './serve-policy.js';
import { checkSignatures, withDeadline, type EvidenceResult, type EvidenceSource } from './signature-evidence.js';
import { SignatureMemory } from './signature-memory.js';
import { SignatureNow } from './signature-now.js';
import { SignatureReports } from './signature-reports.js';
import type { SignatureVerdict } from './signature-verdict.js';
import { SingleFlight } from './single-flight.js';
import type { TrustedKeys } from './trusted-keys.js';

export interface SignaturePolicyOptions {
  readonly onError: 'deny' | 'allow';
  readonly exempt: readonly string[];
  /** In order: the first whose patterns match `upstream/repository` applies. */
  readonly policies: ReadonlyArray<{ readonly name: string; readonly repositories: readonly string[]; readonly mode: 'enforce' | 'warn' }>;
  /** How long finding and checking the signatures of one digest may take before onError decides. */
  readonly deadlineMs: number;
}

export interface SignaturePolicyParts {
  readonly keys: TrustedKeys;
  readonly records: SignatureRecords;
  readonly source: EvidenceSource;
  /** Whether a digest is in the cache now (a verdict's evidence must be). */
  readonly isCached: (digest: string) => boolean;
  readonly reads: CacheReads;
  readonly writes: CacheWrites;
  /** Whether a verdict on `digest` stands without being made again: the freshness of the tag its signature was found under. */
  readonly verdictFresh: (route: Route, digest: string, record: VerdictRecord) => boolean;
  /** The core's clock (the tags'): a verdict's time, compared with the same clock as the tags' records. */
  readonly clock: () => number;
  /**
   * Told of each verdict made now (a verification, a refusal, the platform manifests a verified index admits),
   * never of one reused from the verdict cache: the inventory's trust part, written at most once per fresh check.
   */
  readonly onVerdict?: (digest: string, verdict: TrustVerdict) => void;
}

export interface DecideOptions {
  /** The caller's deadline (admission's); the verdict follows onError when it fires first. */
  readonly signal?: AbortSignal | undefined;
  /** The manifest's bytes, when the caller has them (else they are read through the cache). */
  readonly manifest?: Buffer | undefined;
  /** The tag the manifest was asked for by. */
  readonly tag?: string | undefined;
}

type Policy = SignaturePolicyOptions['policies'][number];

/** A refusal is remembered this long: a refused image retried by kubelet does not ask upstream again each time. */
const refusalMemoryMs = 10_000;

export class SignaturePolicy implements ServePolicy {
  private readonly exempt: (repository: string) => boolean;
  private readonly matchers: ReadonlyArray<{ policy: Policy; matches: (repository: string) => string | undefined }>;
  private readonly flights = new SingleFlight<EvidenceResult>();
  private readonly memory: SignatureMemory;
  private readonly now: SignatureNow;
  private readonly refusals = new LRUCache<string, EvidenceResult>({ max: 10_000, ttl: refusalMemoryMs });
  /** Admitted manifests whose references were learned, and under which root: a warm pull parses nothing. */
  private readonly learnedFrom = new LRUCache<string, string>({ max: 50_000 });
  private readonly reports: SignatureReports;
  private readonly covered = new LRUCache<string, { exempt: boolean; policy: Policy | undefined }>({ max: 10_000 });

  constructor(
    private readonly options: SignaturePolicyOptions,
    private readonly parts: SignaturePolicyParts,
    metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.memory = new SignatureMemory(parts);
    this.reports = new SignatureReports(metrics, log);
    const learnedRoot = (repository: string, digest: string): string | undefined => this.learnedFrom.get(`${repository}@${digest}`);
    const count = (policy: string, verdict: 'verified' | 'admitted' | 'evidence'): void => metrics.signatureVerdicts.inc({ policy, verdict });
    this.now = new SignatureNow({ memory: this.memory, keys: parts.keys, verdictFresh: parts.verdictFresh, learnedRoot, count });
    this.reports.initialize(options.policies.map((p) => p.name));
    this.exempt = repositoryMatcher(options.exempt);
    this.matchers = options.policies.map((policy) => ({ policy, matches: firstMatch(policy.repositories) }));
  }

  /** The policy that covers `route`, if any (exempt repositories have none). */
  policyFor(route: Route): Policy | undefined {
    return this.coverage(`${route.upstream.name}/${route.repository}`).policy;
  }

  /** Exempt, covered by a policy, or neither: memoized per repository, as every manifest and blob request asks. */
  private coverage(repository: string): { exempt: boolean; policy: Policy | undefined } {
    let found = this.covered.get(repository);
    if (!found) {
      const exempt = this.exempt(repository);
      found = { exempt, policy: exempt ? undefined : this.matchers.find((m) => m.matches(repository) !== undefined)?.policy };
      this.covered.set(repository, found);
    }
    return found;
  }

  /** The decision for one digest (a manifest's; see signature-verdict.ts for the contract). Resolves, never throws for evidence trouble. */
  async decide(route: Route, digest: string, options: DecideOptions = {}): Promise<SignatureVerdict> {
    const repository = `${route.upstream.name}/${route.repository}`;
    const base = { digest, signatures: [], keyIds: [], cached: false } as const;
    const { exempt, policy } = this.coverage(repository);
    if (exempt) return { ...base, allowed: true, verdict: 'exempt', reason: `${repository} is exempt from signature checks` };
    if (!policy) return { ...base, allowed: true, verdict: 'unchecked', reason: `no signature policy covers ${repository}` };
    const keySet = this.parts.keys.keysOf(policy.name);
    const common = { digest, policy: policy.name, mode: policy.mode, keyIds: keySet.keys.map((k) => k.id) };
    const verdictKey = `${policy.name}:${keySet.fingerprint}:${digest}`;

    const known = await this.memory.verdict(verdictKey);
    if (known && this.parts.verdictFresh(route, digest, known)) {
      return {
        ...common,
        allowed: true,
        verdict: 'verified',
        reason: `verified with key ${known.keyId} (${known.format})`,
        signatures: [],
        keyId: known.keyId,
        cached: true,
      };
    }
    const admission = await this.admission(route, digest, policy, keySet.fingerprint);
    if (admission?.kind === 'evidence') {
      return {
        ...common,
        allowed: true,
        verdict: 'evidence',
        reason: 'a signature, attestation or SBOM (evidence is served unsigned)',
        signatures: [],
        cached: true,
      };
    }
    if (admission) {
      // A platform manifest admitted by its index admits its own config and layers under the same root.
      const learnedKey = `${repository}@${digest}`;
      if (this.learnedFrom.get(learnedKey) !== admission.root) {
        const body = options.manifest ?? (await this.parts.source.manifestByDigest(route, digest).catch(() => undefined));
        if (body) await this.memory.learn(route, body, { kind: 'admitted', root: admission.root, policy: policy.name });
        this.learnedFrom.set(learnedKey, admission.root);
      }
      const reason = `referenced by the verified manifest ${admission.root} (key ${admission.keyId})`;
      return { ...common, allowed: true, verdict: 'admitted', reason, signatures: [], keyId: admission.keyId, parent: admission.root, cached: true };
    }
    const body = options.manifest ?? (await this.parts.source.manifestByDigest(route, digest).catch(() => undefined));
    if (body && isEvidenceManifest(body, options.tag)) {
      if (this.learnedFrom.get(`${repository}@${digest}`) !== 'evidence') {
        await this.memory.learn(route, body, { kind: 'evidence', policy: policy.name });
        this.learnedFrom.set(`${repository}@${digest}`, 'evidence');
      }
      return {
        ...common,
        allowed: true,
        verdict: 'evidence',
        reason: 'a signature, attestation or SBOM (evidence is served unsigned)',
        signatures: [],
        cached: false,
      };
    }

    const remembered = this.refusals.get(verdictKey);
    const result = remembered ?? (await this.check(route, digest, keySet, body, verdictKey, options.signal));
    if (result.verified) {
      const record: VerdictRecord = { ...result.verified, at: this.parts.clock() };
      // Recorded when new or due (made again past its tag's TTL); callers that shared the check find it fresh.
      const had = this.memory.verdictNow(verdictKey);
      if (!had || !this.parts.verdictFresh(route, digest, had)) await this.remember(verdictKey, record, route, digest, body, policy.name);
      const reason = `verified with key ${record.keyId} (${record.format})`;
      return { ...common, allowed: true, verdict: 'verified', reason, signatures: result.signatures, keyId: record.keyId, cached: false };
    }
    const refusal = result.refusal!;
    if (refusal.reason !== 'fetch-failed') this.refusals.set(verdictKey, result);
    const failOpen = refusal.reason === 'fetch-failed';
    const verdict = failOpen ? (this.options.onError === 'allow' ? 'fail-open' : 'unavailable') : policy.mode === 'warn' ? 'warned' : 'refused';
    const served = verdict === 'fail-open' || verdict === 'warned';
    // A refusal checked now is a verdict on the image; an outage (fetch-failed) says nothing about it.
    if (!remembered && !failOpen)
      this.parts.onVerdict?.(digest, { policy: policy.name, verified: false, at: Date.now(), detail: `${verdict} (${refusal.reason}): ${refusal.detail}` });
    return {
      ...common,
      allowed: served,
      verdict,
      reason: refusal.detail,
      refusal: refusal.reason,
      signatures: result.signatures,
      cached: remembered !== undefined,
    };
  }

  /** The pull path's judgement of a resolved manifest: 403 for a refusal, 503 when signatures cannot be fetched and onError is deny. */
  async judge(route: Route, manifest: ServedManifest): Promise<Verdict> {
    if (!this.policyFor(route)) return allowed;
    const verdict = await this.decide(route, manifest.digest, { manifest: manifest.body, tag: manifest.tag });
    this.reports.count(verdict);
    this.reports.report(route, verdict);
    if (verdict.verdict === 'unavailable') {
      throw new OciError('UNAVAILABLE', `signature policy "${verdict.policy}": ${verdict.reason}; retry later`, { detail: { policy: verdict.policy } });
    }
    if (verdict.allowed) return allowed;
    return { allowed: false, reason: 'signature', message: refusalMessage(route, verdict) };
  }

  /** A repository no signature policy covers is allowed at once; a covered one from memory (signature-now.ts), else the async way. */
  judgeNow(route: Route, manifest: ServedManifest): Verdict | undefined {
    const policy = this.policyFor(route);
    return !policy || this.now.manifest(route, manifest.digest, policy.name) ? allowed : undefined;
  }

  admitBlobNow(route: Route, digest: string): Verdict | undefined {
    const policy = this.policyFor(route);
    return !policy || this.now.blob(route, digest, policy.name) ? allowed : undefined;
  }

  /** Always allowed: what a reference names is only known once it is resolved (judge). */
  screen(): Verdict {
    return allowed;
  }

  /** A blob of a policy repository is served once a verified manifest (or evidence) that references it is known. */
  async admitBlob(route: Route, digest: string): Promise<Verdict> {
    const policy = this.policyFor(route);
    if (!policy) return allowed;
    const keySet = this.parts.keys.keysOf(policy.name);
    if (await this.admission(route, digest, policy, keySet.fingerprint)) return allowed;
    const repository = `${route.upstream.name}/${route.repository}`;
    const message = `signature policy "${policy.name}" refuses ${repository}@${digest}: no verified manifest known to reference this blob (pull the image by its tag or manifest digest first)`;
    if (this.reports.once(`blob:${repository}@${digest}`))
      this.log.warn({ policy: policy.name, upstream: route.upstream.name, repository: route.repository, digest, mode: policy.mode }, message);
    return policy.mode === 'warn' ? allowed : { allowed: false, reason: 'signature', message };
  }

  private async check(route: Route, digest: string, keySet: ReturnType<TrustedKeys['keysOf']>, body: Buffer | undefined, key: string, signal?: AbortSignal) {
    const shared = this.flights.run(key, () => checkSignatures(this.parts.source, route, digest, keySet.keys, body));
    return withDeadline(shared, this.options.deadlineMs, signal);
  }

  private async admission(route: Route, digest: string, policy: Policy, fingerprint: string) {
    const record = await this.memory.admission(route, digest);
    if (!record || record.policy !== policy.name) return undefined;
    if (record.kind === 'evidence') return record;
    const root = await this.memory.verdict(`${policy.name}:${fingerprint}:${record.root}`);
    if (!root) return undefined;
    if (this.parts.verdictFresh(route, record.root, root)) return { ...record, keyId: root.keyId };
    // The root's verdict is due: made again (its signature may be gone upstream) before it admits anything.
    const again = await this.decide(route, record.root);
    return again.verdict === 'verified' && again.keyId ? { ...record, keyId: again.keyId } : undefined;
  }

  /** Records a fresh verdict and what the verified manifest admits; tells the inventory (onVerdict). */
  private async remember(key: string, record: VerdictRecord, route: Route, digest: string, body: Buffer | undefined, policy: string): Promise<void> {
    await this.memory.setVerdict(key, record);
    const told = { policy, verified: true, key: record.keyId, at: record.at };
    this.parts.onVerdict?.(digest, { ...told, detail: record.format });
    const manifest = body ?? (await this.parts.source.manifestByDigest(route, digest).catch(() => undefined));
    if (!manifest) return;
    await this.memory.learn(route, manifest, { kind: 'admitted', root: digest, policy });
    // An index's platform manifests carry no signature of their own: the index's verdict vouches for them.
    for (const child of referencesOf(manifest).manifests) this.parts.onVerdict?.(child.digest, { ...told, detail: `admitted by the verified index ${digest}` });
  }
}

function refusalMessage(route: Route, verdict: SignatureVerdict): string {
  return `signature policy "${verdict.policy}" refuses ${route.upstream.name}/${route.repository}@${verdict.digest}: ${verdict.reason}`;
}
