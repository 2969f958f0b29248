// "May this image run?": the one judgement behind the admission endpoints and `tender check`. An image string is
// read as the node reads it, routed as the node's pull through tender would be, and judged by the core's own
// serve policies (PullThrough.judge), so a Pod is refused at admission exactly when its pull would be refused.
import { isDigest } from '../oci/digest.js';
import { describeError, isOciError, type OciErrorCode } from '../oci/errors.js';
import { parseContainerImage, type ContainerImage } from '../oci/container-image.js';
import type { Route, Router } from './ports.js';
import { untilAborted } from './race-timeout.js';
import type { Judgement } from './serve-policy.js';

export interface ImageAdmissionOptions {
  /**
   * tender's own host names as images name them (`tender.example:5000`, port included): an image on one of them
   * names its upstream the way a request path does (`tender.example:5000/ghcr.io/org/app`, or the default upstream
   * for `tender.example:5000/nginx`).
   */
  readonly mirrorHosts: readonly string[];
  /** Refuse references without a digest (`app:1.2`), whatever the cache says of the tag. */
  readonly requireDigest: boolean;
  /** How long one judgement may take before it is undecided. */
  readonly deadlineMs: number;
  /**
   * The verdict for an image that cannot be judged in time, or at all (upstream down and nothing cached,
   * rate-limited): `signatures.onError` where a signature policy sets it, else `deny`.
   */
  readonly onUndecided: 'allow' | 'deny';
}

/** The one verdict, with what the image was taken to mean. */
export interface ImageJudgement {
  readonly verdict: 'allow' | 'deny' | 'warn';
  /** Shown to users: what was checked and what failed (or, when admitted, what a pull would be served). */
  readonly reason: string;
  /** The image as parsed (registry/repository and tag or digest), when it parses. */
  readonly image?: ContainerImage;
  /** The upstream and repository a pull goes to, when it routes. */
  readonly upstream?: string;
  readonly repository?: string;
  /** The digest a pull would be served, when it resolved. */
  readonly digest?: string;
  /** Set when no decision could be made (the verdict is then `onUndecided`'s). */
  readonly undecided?: true;
}

/**
 * The signature policy's answer on a digest, as far as admission reads it (issue 13's
 * `PullThrough.signatureVerdict`): `allowed` whether the digest would be served, `verdict` why, `reason` one
 * sentence. It resolves for refusals and signature outages (by `signatures.onError`, at `signal` at the latest).
 */
export interface SignatureAnswer {
  readonly allowed: boolean;
  readonly verdict: string;
  readonly reason: string;
}

/** What this judgement needs of the core: its routing, its "would this be served?", and its signature policy if any. */
export interface AdmissionCore {
  readonly router: Router;
  judge(route: Route, reference: string): Promise<Judgement>;
  signatures?(route: Route, digest: string, signal: AbortSignal): Promise<SignatureAnswer>;
}

// A pull cannot be answered now (upstream down, slow, rate-limited) or tender failed: nothing is decided.
const undecidedCodes: ReadonlySet<OciErrorCode> = new Set(['UNAVAILABLE', 'TOOMANYREQUESTS', 'UNKNOWN']);

export class ImageAdmission {
  private readonly mirrorHosts: ReadonlySet<string>;

  constructor(
    private readonly core: AdmissionCore,
    private readonly options: ImageAdmissionOptions,
  ) {
    this.mirrorHosts = new Set(options.mirrorHosts.map(asciiLowerCase));
  }

  /** Never throws: every outcome is a verdict. `signal` ends the wait early (the caller gave up). */
  async judge(input: string, signal?: AbortSignal): Promise<ImageJudgement> {
    let image: ContainerImage;
    try {
      image = parseContainerImage(input);
    } catch (err) {
      return { verdict: 'deny', reason: describe(err) };
    }
    if (this.options.requireDigest && !isDigest(image.reference)) {
      return { verdict: 'deny', reason: 'a digest is required (admission.requireDigest): name the image as repository@sha256:<hex>', image };
    }
    let route: Route;
    try {
      route = this.route(image);
    } catch (err) {
      const registry = unknownRegistry(err);
      return { verdict: 'deny', reason: registry === undefined ? describe(err) : `registry "${registry}" is not served by this mirror`, image };
    }
    const where = { image, upstream: route.upstream.name, repository: route.repository };
    const name = `${route.upstream.name}/${route.repository}${isDigest(image.reference) ? '@' : ':'}${image.reference}`;
    const deadline = AbortSignal.timeout(this.options.deadlineMs);
    const until = signal ? AbortSignal.any([signal, deadline]) : deadline;
    // The caller's signal may carry a deadline of its own (the admission review's): a timeout is a deadline either way.
    const timedOut = (): boolean => deadline.aborted || (signal?.reason as Error | undefined)?.name === 'TimeoutError';
    const late = (): ImageJudgement =>
      this.undecided(`${name}: ${timedOut() ? `no decision within ${this.options.deadlineMs} ms (admission.deadline)` : 'the caller gave up'}`, where);
    // Nothing is started for a judgement whose time is already up.
    if (until.aborted) return late();
    let judgement: Judgement | undefined;
    try {
      judgement = await untilAborted(this.core.judge(route, image.reference), until);
    } catch (err) {
      if (isOciError(err) && !undecidedCodes.has(err.code)) return { verdict: 'deny', reason: `${name}: ${describe(err)}`, ...where };
      return this.undecided(`${name} could not be judged: ${describe(err)}`, where);
    }
    if (judgement === undefined) return late();
    if (!judgement.allowed) return { verdict: 'deny', reason: judgement.message, ...where };
    const served = `${name}${isDigest(image.reference) ? '' : ` → ${judgement.digest}`}: served by upstream ${route.upstream.name}`;
    const admitted = { ...where, digest: judgement.digest };
    if (!this.core.signatures) return { verdict: 'allow', reason: served, ...admitted };
    // The signature policy's own answer on the digest a pull gets: its reason and its warn mode reach the user.
    let signed: SignatureAnswer | undefined;
    try {
      signed = await untilAborted(this.core.signatures(route, judgement.digest, until), until);
    } catch (err) {
      return this.undecided(`${name} could not be judged: ${describe(err)}`, where);
    }
    if (signed === undefined) return late();
    if (!signed.allowed)
      return { verdict: 'deny', reason: `${name}: ${signed.reason}`, ...admitted, ...(signed.verdict === 'unavailable' ? { undecided: true as const } : {}) };
    // Served, but unverified (warn mode, or signatures that could not be fetched under onError: allow): say so.
    if (signed.verdict === 'warned' || signed.verdict === 'fail-open') return { verdict: 'warn', reason: `${name}: ${signed.reason}`, ...admitted };
    // No policy covers it (or it is exempt): nothing about signatures to say.
    if (signed.verdict === 'unchecked' || signed.verdict === 'exempt') return { verdict: 'allow', reason: served, ...admitted };
    return { verdict: 'allow', reason: `${served}; ${signed.reason}`, ...admitted };
  }

  /** The route a pull of `image` takes: through one of tender's own hosts as a request path, else by its registry. */
  private route(image: ContainerImage): Route {
    const { router } = this.core;
    if (this.mirrorHosts.has(asciiLowerCase(image.registry))) return router.resolve({ ns: undefined, name: image.repository });
    return router.resolve({ ns: image.registry, name: image.repository });
  }

  private undecided(reason: string, where: Pick<ImageJudgement, 'image' | 'upstream' | 'repository'>): ImageJudgement {
    const verdict = this.options.onUndecided;
    const rule = verdict === 'allow' ? 'admitted while undecided (signatures.onError: allow)' : 'refused while undecided';
    return { verdict, reason: `${reason}; ${rule}`, ...where, undecided: true };
  }
}

/** The registry the router found no upstream for, when that is why it refused. */
function unknownRegistry(err: unknown): string | undefined {
  const detail = isOciError(err) ? (err.detail as { reason?: string; registry?: string } | undefined) : undefined;
  return detail?.reason === 'unknown-registry' ? detail.registry : undefined;
}

function describe(err: unknown): string {
  // The OCI code is for logs; users read the message.
  return isOciError(err) ? err.message : describeError(err);
}

function asciiLowerCase(host: string): string {
  return host.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}
