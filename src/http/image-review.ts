// ImagePolicyWebhook's ImageReview (imagepolicy.k8s.io/v1alpha1): parsed into a ReviewSubject, answered with a status.
import { z } from 'zod';
import type { AdmissionDecision, ReviewSubject } from './admission-decision.js';
import { ReviewInputError } from './admission-body.js';
import { firstIssue, imageString, maxImagesPerReview, namespaceName, stringMap } from './review-schema.js';

export const imageReviewApiVersion = 'imagepolicy.k8s.io/v1alpha1';

/**
 * The fields tender reads (k8s.io/api imagepolicy/v1alpha1 types.go); others are ignored. The API server builds the
 * spec from the Pod: every container's image (init and, since the CVE-2023-2727 fix, ephemeral ones too, with no
 * names or kinds), the Pod annotations matching `*.image-policy.k8s.io/*`, and the namespace.
 */
const imageReviewSchema = z.object({
  apiVersion: z.literal(imageReviewApiVersion, { error: `apiVersion must be ${imageReviewApiVersion}` }),
  kind: z.literal('ImageReview', { error: 'kind must be ImageReview' }),
  spec: z.object({
    containers: z
      // `image` is omitempty in the API type: a container without one names nothing to pull.
      .array(z.object({ image: imageString.optional() }))
      .max(maxImagesPerReview, { error: `more than ${maxImagesPerReview} containers` })
      .nullish(),
    annotations: stringMap.nullish(),
    namespace: namespaceName.nullish(),
  }),
});

export function parseImageReview(body: unknown): ReviewSubject {
  const parsed = imageReviewSchema.safeParse(body);
  if (!parsed.success) throw new ReviewInputError(400, `not an ImageReview: ${firstIssue(parsed.error)}`);
  const { spec } = parsed.data;
  const images = (spec.containers ?? []).flatMap((c) => (c.image ? [{ image: c.image, kind: 'container' as const }] : []));
  return {
    endpoint: 'imagepolicy',
    kind: 'Pod',
    namespace: spec.namespace ?? undefined,
    name: undefined,
    annotations: spec.annotations ?? {},
    images,
  };
}

/**
 * The answer the API server decodes into the review (status.allowed, status.reason, status.auditAnnotations). The
 * plugin caches it for allowTTL or denyTTL, keyed by the whole spec, and records the audit annotations under
 * `imagepolicywebhook.image-policy.k8s.io/<key>`.
 */
export function imageReviewResponse(decision: AdmissionDecision): Record<string, unknown> {
  const status: Record<string, unknown> = { allowed: decision.allowed };
  // Reason "should be empty unless Allowed is false". ImageReview has no warnings: warn mode leaves its
  // trace in the audit annotations only.
  if (!decision.allowed && decision.refusal) status.reason = decision.refusal;
  if (Object.keys(decision.auditAnnotations).length > 0) status.auditAnnotations = decision.auditAnnotations;
  return { apiVersion: imageReviewApiVersion, kind: 'ImageReview', status };
}
