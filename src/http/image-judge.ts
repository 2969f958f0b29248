// The judgement the admission endpoints are handed: "may this image run?", the same one the pull path and `tender check` use.

/**
 * One image's verdict. `warn`: admit, but tell the user and the audit log why it would otherwise be refused
 * (a signature policy in warn mode, for instance). `reason` is shown to users: say what was checked and what failed,
 * e.g. `registry "docker.io.evil.example" is not served by this mirror`.
 */
export interface ImageVerdict {
  readonly verdict: 'allow' | 'deny' | 'warn';
  readonly reason: string;
}

/** What the judgement may want to know about the request that names the image. */
export interface JudgeContext {
  readonly endpoint: AdmissionEndpoint;
  /** The namespace the Pod runs in, when the review names one. */
  readonly namespace: string | undefined;
  /**
   * Aborted when the answer is no longer wanted (the API server gave up, or the endpoint's own deadline passed).
   * A judgement that cannot decide in time follows `signatures.onError` itself, before this fires.
   */
  readonly signal: AbortSignal;
}

/**
 * Implemented by the core. It is expected to resolve, not throw: a thrown error is treated as a refusal
 * ("judgement failed"), logged, and never turned into a 5xx.
 */
export type ImageJudge = (image: string, context: JudgeContext) => Promise<ImageVerdict>;

/** The two admission endpoints, as metric label and log field. */
export type AdmissionEndpoint = 'imagepolicy' | 'validate';
