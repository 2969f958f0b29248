// The signature policy's decisions from memory, with no await: a warm pull of a signed image is answered in the
// turn it arrived (memory-answers.ts), as an unsigned one is, instead of going the async way on every hit.
//
// Only what the async decision (SignaturePolicy.decide, admission) would allow from the same records answers
// here: a verdict in this process's memory whose evidence is still cached and whose signature's tag is fresh;
// evidence recorded as such; a manifest or blob a fresh verified root admits (a manifest only once its own
// references were learned). Anything else (no record in memory, a verdict due again, a refusal, evidence known
// only from its bytes) is undefined, and the async path decides, counts and logs as it always did.
import type { VerdictRecord } from './metadata-store.js';
import type { Route } from './ports.js';
import type { SignatureMemory } from './signature-memory.js';
import type { TrustedKeys } from './trusted-keys.js';

export interface SignatureNowParts {
  readonly memory: SignatureMemory;
  readonly keys: TrustedKeys;
  readonly verdictFresh: (route: Route, digest: string, record: VerdictRecord) => boolean;
  /** The root an admitted manifest's references were learned under (SignaturePolicy's `learnedFrom`). */
  readonly learnedRoot: (repository: string, digest: string) => string | undefined;
  /** Counts a verdict as the async judgement counts it. */
  readonly count: (policy: string, verdict: 'verified' | 'admitted' | 'evidence') => void;
}

export class SignatureNow {
  constructor(private readonly parts: SignatureNowParts) {}

  /** A manifest's verdict under `policy` from memory: allowed (and counted), or undefined. */
  manifest(route: Route, digest: string, policy: string): boolean | undefined {
    const fingerprint = this.parts.keys.keysOf(policy).fingerprint;
    const known = this.parts.memory.countingNow(`${policy}:${fingerprint}:${digest}`);
    if (known && this.parts.verdictFresh(route, digest, known)) return this.counted(policy, 'verified');
    const admission = this.parts.memory.admissionNow(route, digest);
    if (!admission || admission.policy !== policy) return undefined;
    if (admission.kind === 'evidence') return this.counted(policy, 'evidence');
    if (!this.rootFresh(route, admission.root, policy, fingerprint)) return undefined;
    // Its own references not yet learned under this root: the async path learns them before answering.
    if (this.parts.learnedRoot(`${route.upstream.name}/${route.repository}`, digest) !== admission.root) return undefined;
    return this.counted(policy, 'admitted');
  }

  /** A blob of a covered repository from memory: admitted by evidence or by a fresh verified root, or undefined. */
  blob(route: Route, digest: string, policy: string): boolean | undefined {
    const admission = this.parts.memory.admissionNow(route, digest);
    if (!admission || admission.policy !== policy) return undefined;
    if (admission.kind === 'evidence') return true;
    return this.rootFresh(route, admission.root, policy, this.parts.keys.keysOf(policy).fingerprint) || undefined;
  }

  private rootFresh(route: Route, root: string, policy: string, fingerprint: string): boolean {
    const verdict = this.parts.memory.countingNow(`${policy}:${fingerprint}:${root}`);
    return verdict !== undefined && this.parts.verdictFresh(route, root, verdict);
  }

  private counted(policy: string, verdict: 'verified' | 'admitted' | 'evidence'): true {
    this.parts.count(policy, verdict);
    return true;
  }
}
