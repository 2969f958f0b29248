// "May this be served?": the one judgement the pull path, `tender check` and the admission endpoints share.
//
// A policy screens what is asked for before anything is looked up (sanctioned-only mode refuses an
// unlisted reference without asking upstream), may judge a manifest once it is resolved and verified
// (signature policies, issue 13, decide on the digest actually served), and learns from what it let
// through (the children and blobs of a sanctioned or signed manifest may follow). The router's
// allow/deny lists run before the core and client scopes in the HTTP layer; both are routing, not policy.
import { OciError } from '../oci/errors.js';
import type { DenialReason, Route } from './ports.js';

export type Verdict = { readonly allowed: true } | { readonly allowed: false; readonly reason: DenialReason; readonly message: string };

export const allowed: Verdict = { allowed: true };

/** `PullThrough.judge`'s answer: a refusal, or admitted with the digest a pull would be served (a tag resolved as a pull resolves it). */
export type Judgement = Exclude<Verdict, { allowed: true }> | { readonly allowed: true; readonly digest: string };

/** A manifest about to be served: resolved, verified against its digest. */
export interface ServedManifest {
  readonly digest: string;
  readonly mediaType: string;
  /** Absent for a HEAD answered without a body. */
  readonly body: Buffer | undefined;
  /** The tag it was asked for by, when it was (signature policies serve `.sig` tags as evidence). */
  readonly tag?: string | undefined;
}

/** What is in the cache, for policies that learn from it at start. */
export interface CachedImages {
  /** Every digest `reference` reaches through cached manifests (itself, manifests, blobs), without asking upstream. */
  digests(route: Route, reference: string): Promise<readonly string[]>;
}

export interface ServePolicy {
  /** Before any lookup: may `reference` (a tag, or the digest of a manifest or blob) be asked for through `route`? Cheap and synchronous: it runs on every request. */
  screen(route: Route, reference: string): Verdict;
  /** After resolution, before the answer: may this manifest be served through `route`? Optional; may take time (a signature check). */
  judge?(route: Route, manifest: ServedManifest): Promise<Verdict>;
  /**
   * `judge` answered from memory, with no await, or undefined when it cannot be (the request then takes the
   * async path, which judges). A judging policy without it sends every manifest the async way.
   */
  judgeNow?(route: Route, manifest: ServedManifest): Verdict | undefined;
  /** `admitBlob` answered from memory, or undefined (the async path admits); as `judgeNow`. */
  admitBlobNow?(route: Route, digest: string): Verdict | undefined;
  /** Before a blob is served: may it be? Optional, for policies that must look a blob up (signatures: a verified manifest references it). */
  admitBlob?(route: Route, digest: string): Promise<Verdict>;
  /** A manifest was served through `route`: what it references may be asked for next. Never throws. */
  served?(route: Route, manifest: ServedManifest): void;
  /** At start, before any request: learns from what is cached already. */
  prime?(cache: CachedImages): Promise<void>;
}

export class ServePolicies {
  private readonly judges: readonly ServePolicy[];
  private readonly blobJudges: readonly ServePolicy[];

  constructor(private readonly policies: readonly ServePolicy[]) {
    this.judges = policies.filter((p) => p.judge !== undefined);
    this.blobJudges = policies.filter((p) => p.admitBlob !== undefined);
  }

  /** The first refusal of any policy's screen, else allowed. */
  screen(route: Route, reference: string): Verdict {
    for (const policy of this.policies) {
      const verdict = policy.screen(route, reference);
      if (!verdict.allowed) return verdict;
    }
    return allowed;
  }

  /** Throws DENIED (with the reason as a metric label) unless every policy's screen allows `reference`. */
  enforceScreen(route: Route, reference: string): void {
    refuseUnless(route, this.screen(route, reference));
  }

  /** Whether any policy judges resolved manifests (when none does, the pull path skips enforceJudgement). */
  get judging(): boolean {
    return this.judges.length > 0;
  }

  /** Throws DENIED unless every judging policy allows the manifest. */
  async enforceJudgement(route: Route, manifest: ServedManifest): Promise<void> {
    for (const policy of this.judges) refuseUnless(route, await policy.judge!(route, manifest));
  }

  /**
   * The blob path's check: every screen (synchronous, throws DENIED), then the policies that look blobs up
   * (signatures). Undefined when none does, so a blob hit awaits nothing more than a resolved value.
   */
  screenBlob(route: Route, digest: string): Promise<void> | undefined {
    this.enforceScreen(route, digest);
    if (this.blobJudges.length === 0) return undefined;
    return (async () => {
      for (const policy of this.blobJudges) refuseUnless(route, await policy.admitBlob!(route, digest));
    })();
  }

  /**
   * Whether every policy allows serving `manifest` (asked for by `reference`, by `tag` when it was) without an await; false
   * when any refuses or cannot say from memory: the async path then decides, and refuses with its error.
   */
  allowNow(route: Route, reference: string, manifest: ServedManifest, tag: string | undefined): boolean {
    if (!this.screen(route, reference).allowed) return false;
    if (this.judges.length === 0) return true;
    const judged = tag === undefined ? manifest : { ...manifest, tag };
    for (const policy of this.judges) if (policy.judgeNow?.(route, judged)?.allowed !== true) return false;
    return true;
  }

  /** As `allowNow`, for a blob: `screenBlob`'s rules without an await. */
  admitBlobNow(route: Route, digest: string): boolean {
    if (!this.screen(route, digest).allowed) return false;
    for (const policy of this.blobJudges) if (policy.admitBlobNow?.(route, digest)?.allowed !== true) return false;
    return true;
  }

  served(route: Route, manifest: ServedManifest): void {
    for (const policy of this.policies) policy.served?.(route, manifest);
  }

  async prime(cache: CachedImages): Promise<void> {
    for (const policy of this.policies) await policy.prime?.(cache);
  }
}

function refuseUnless(route: Route, verdict: Verdict): void {
  if (verdict.allowed) return;
  throw new OciError('DENIED', verdict.message, { detail: { reason: verdict.reason, upstream: route.upstream.name } });
}
