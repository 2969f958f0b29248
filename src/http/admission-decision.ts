// One admission decision for a parsed review: every image judged once, then exemption, break-glass and warn mode applied.
import pLimit from 'p-limit';
import { isDigest } from '../oci/digest.js';
import { describeError } from '../oci/errors.js';
import { parseImageReference } from '../oci/image-reference.js';
import { untilAborted } from '../cache/race-timeout.js';
import { hasBreakGlass, isExemptNamespace, type AdmissionSettings } from './admission-settings.js';
import type { AdmissionEndpoint, ImageJudge, ImageVerdict } from './image-judge.js';

export type ContainerKind = 'container' | 'initContainer' | 'ephemeralContainer';

/** One container's image, and where it came from (ImageReview names no containers). */
export interface ImageUse {
  readonly image: string;
  readonly kind: ContainerKind;
  readonly container?: string | undefined;
}

/** What both review formats come down to. */
export interface ReviewSubject {
  readonly endpoint: AdmissionEndpoint;
  /** The object's kind (`Pod`, `Deployment`...); ImageReview is always about a Pod. */
  readonly kind: string;
  readonly namespace: string | undefined;
  /** The object's name, or its generateName followed by `*` when the server has not named it yet. */
  readonly name: string | undefined;
  /** The Pod's (or the Pod template's) annotations: where break-glass is read. */
  readonly annotations: Readonly<Record<string, string>>;
  /** Images to judge, in the order the Pod runs them: init containers, containers, ephemeral containers. */
  readonly images: readonly ImageUse[];
}

/** Closed set, used as a metric label: one per distinct image of a review. */
export type AdmissionVerdict = 'allow' | 'deny' | 'warn' | 'exempt' | 'break-glass';

export interface ImageDecision {
  readonly image: string;
  readonly uses: readonly ImageUse[];
  readonly verdict: AdmissionVerdict;
  readonly reason: string;
}

export interface AdmissionDecision {
  readonly allowed: boolean;
  /** One per distinct image, in the order of first use. */
  readonly images: readonly ImageDecision[];
  /** When refused: names the first refused image and why (status.message / status.reason). */
  readonly refusal?: string;
  /** Shown by kubectl (AdmissionReview only). */
  readonly warnings: readonly string[];
  /** Prefix-less keys: the API server prefixes them with the webhook or plugin name. */
  readonly auditAnnotations: Readonly<Record<string, string>>;
}

export interface DecideOptions {
  readonly judge: ImageJudge;
  readonly settings: AdmissionSettings;
  /** The request's own signal: aborted when the API server hangs up. */
  readonly signal: AbortSignal;
  /**
   * Time for the whole review's judgements: the judge's signal fires then, and a judgement answers for itself
   * (its undecided verdict). Keep it under the webhook's timeoutSeconds so tender answers before the API server gives up.
   */
  readonly deadlineMs: number;
  /** How long after the deadline a judgement still has to answer before the review refuses it anyway (default 1 s). */
  readonly graceMs?: number;
  /** Judgements in flight at once for one review. */
  readonly concurrency: number;
}

// kubectl prints warnings as they come; the API type asks for at most 256 characters each, and few of them.
const maxWarningLength = 256;
const maxWarnings = 16;
// Audit annotation values end up in every audit backend; one review must not flood them.
const maxAuditValueLength = 2048;
// A judgement's reason is shown to users; one that quotes a long upstream error is cut.
const maxReasonLength = 1024;
const knownVerdicts: ReadonlySet<string> = new Set(['allow', 'deny', 'warn']);

export function describeUse(use: ImageUse): string {
  if (use.container === undefined) return '';
  const what = use.kind === 'initContainer' ? 'init container' : use.kind === 'ephemeralContainer' ? 'ephemeral container' : 'container';
  return `${what} ${quote(use.container, 253)}`;
}

/** `image "nginx:1.27" (container "web", init container "setup")`: how messages name an image. */
export function describeImage(decision: Pick<ImageDecision, 'image' | 'uses'>): string {
  const where = decision.uses.map(describeUse).filter((s) => s !== '');
  return `image ${quote(decision.image, 512)}${where.length > 0 ? ` (${where.join(', ')})` : ''}`;
}

export async function decideAdmission(subject: ReviewSubject, options: DecideOptions): Promise<AdmissionDecision> {
  const { settings } = options;
  const distinct = groupByImage(subject.images);

  if (isExemptNamespace(settings, subject.namespace)) {
    const reason = `namespace "${subject.namespace}" is exempt (admission.exemptNamespaces)`;
    return {
      allowed: true,
      images: distinct.map(({ image, uses }) => ({ image, uses, verdict: 'exempt', reason })),
      warnings: [],
      auditAnnotations: { exempt: reason },
    };
  }

  const verdicts = await judgeAll(
    distinct.map((d) => d.image),
    subject,
    options,
  );
  const judged = distinct.map(({ image, uses }, i) => ({ image, uses, ...verdicts[i]! }));
  const refused = judged.filter((d) => d.verdict === 'deny');
  const warned = judged.filter((d) => d.verdict === 'warn');
  const audit: Record<string, string> = {};

  if (hasBreakGlass(settings, subject.annotations)) {
    audit['break-glass'] = clip(
      `admitted by the annotation ${settings.breakGlassAnnotation}` +
        (refused.length > 0 ? `; would refuse: ${listReasons(refused)}` : '; no image would have been refused'),
      maxAuditValueLength,
    );
    if (warned.length > 0) audit.warned = clip(listReasons(warned), maxAuditValueLength);
    const images = judged.map((d): ImageDecision => (d.verdict === 'deny' ? { ...d, verdict: 'break-glass' } : d));
    return { allowed: true, images, warnings: warnings(images), auditAnnotations: audit };
  }

  if (refused.length > 0 && settings.mode === 'enforce') {
    const first = refused[0]!;
    const more = refused.length > 1 ? `; ${refused.length - 1} more image${refused.length > 2 ? 's' : ''} refused` : '';
    audit.refused = clip(listReasons(refused), maxAuditValueLength);
    if (warned.length > 0) audit.warned = clip(listReasons(warned), maxAuditValueLength);
    return {
      allowed: false,
      images: judged,
      refusal: `${describeImage(first)} refused: ${first.reason}${more}`,
      warnings: warnings(judged),
      auditAnnotations: audit,
    };
  }

  // Warn mode admits what would be refused, and says so.
  const images = judged.map((d): ImageDecision => (d.verdict === 'deny' ? { ...d, verdict: 'warn', reason: `would be refused: ${d.reason}` } : d));
  const warnedNow = images.filter((d) => d.verdict === 'warn');
  if (warnedNow.length > 0) audit.warned = clip(listReasons(warnedNow), maxAuditValueLength);
  return { allowed: true, images, warnings: warnings(images), auditAnnotations: audit };
}

function groupByImage(uses: readonly ImageUse[]): Array<{ image: string; uses: ImageUse[] }> {
  const byImage = new Map<string, ImageUse[]>();
  for (const use of uses) {
    const list = byImage.get(use.image);
    if (list) list.push(use);
    else byImage.set(use.image, [use]);
  }
  return [...byImage].map(([image, list]) => ({ image, uses: list }));
}

async function judgeAll(images: readonly string[], subject: ReviewSubject, options: DecideOptions): Promise<ImageVerdict[]> {
  // One deadline for the review, whichever image waits for a judgement slot: the judgements are told when it
  // passes, and the review stops waiting for them a grace period later.
  const decideBy = AbortSignal.timeout(options.deadlineMs);
  const deadline = AbortSignal.timeout(options.deadlineMs + (options.graceMs ?? 1_000));
  const signal = AbortSignal.any([options.signal, deadline]);
  const limit = pLimit(options.concurrency);
  const context = { endpoint: subject.endpoint, namespace: subject.namespace, signal: AbortSignal.any([options.signal, decideBy]) };
  return Promise.all(
    images.map((image) =>
      limit(async (): Promise<ImageVerdict> => {
        if (options.settings.requireDigest) {
          const missing = digestMissing(image);
          if (missing) return { verdict: 'deny', reason: missing };
        }
        // Past the deadline the judgement is still asked: it answers at once, by its own rule for the undecided.
        if (options.signal.aborted) return unanswered(decideBy, options.deadlineMs);
        try {
          const verdict = await untilAborted(options.judge(image, context), signal);
          if (verdict === undefined) return unanswered(decideBy, options.deadlineMs);
          if (!knownVerdicts.has(verdict.verdict)) return { verdict: 'deny', reason: `judgement gave no verdict (${String(verdict.verdict).slice(0, 20)})` };
          return { verdict: verdict.verdict, reason: clip(String(verdict.reason), maxReasonLength) };
        } catch (err) {
          // A judgement that gave up when told the deadline passed did not fail: it had no time.
          if (context.signal.aborted) return unanswered(decideBy, options.deadlineMs);
          return { verdict: 'deny', reason: clip(`judgement failed: ${describeError(err)}`, maxReasonLength) };
        }
      }),
    ),
  );
}

function digestMissing(image: string): string | undefined {
  let reference: string;
  try {
    reference = parseImageReference(image).reference;
  } catch (err) {
    return `not a valid image reference: ${describeError(err)}`;
  }
  return isDigest(reference) ? undefined : 'a digest is required (admission.requireDigest): name the image as repository@sha256:<hex>';
}

function unanswered(deadline: AbortSignal, deadlineMs: number): ImageVerdict {
  return { verdict: 'deny', reason: deadline.aborted ? `no decision within ${deadlineMs} ms` : 'the review was abandoned by its caller' };
}

function listReasons(decisions: readonly ImageDecision[]): string {
  return decisions.map((d) => `${clip(printable(d.image), 512)}: ${d.reason}`).join('; ');
}

function warnings(decisions: readonly ImageDecision[]): string[] {
  const warned = decisions.filter((d) => d.verdict === 'warn' || d.verdict === 'break-glass');
  const lines = warned.slice(0, maxWarnings).map((d) => {
    const why = d.verdict === 'break-glass' ? `admitted by break-glass, would be refused: ${d.reason}` : d.reason;
    return clip(`tender: ${describeImage(d)}: ${why}`, maxWarningLength);
  });
  if (warned.length > maxWarnings) lines.push(`tender: ${warned.length - maxWarnings} more warnings in the audit log`);
  return lines;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * Review strings are shown by kubectl and written to audit logs: quoted as JSON strings, so a name with a quote,
 * a newline or a terminal escape in it cannot forge another line or message.
 */
function quote(text: string, max: number): string {
  return JSON.stringify(clip(text, max));
}

function printable(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}
