// The validating webhook's AdmissionReview (admission.k8s.io/v1) for Pods and the Pod templates of workloads.
import { z } from 'zod';
import { ReviewInputError } from './admission-body.js';
import type { AdmissionDecision, ImageUse, ReviewSubject } from './admission-decision.js';
import {
  displayName,
  firstIssue,
  maxImagesPerReview,
  namespaceName,
  objectMeta,
  objectName,
  podImages,
  podSpec,
  type ObjectMeta,
  type PodSpec,
} from './review-schema.js';

export const admissionReviewApiVersion = 'admission.k8s.io/v1';

const groupVersionKind = z.object({ group: z.string().max(253), version: z.string().max(63), kind: z.string().max(63) });
const groupVersionResource = z.object({ group: z.string().max(253), version: z.string().max(63), resource: z.string().max(253) });

/** The fields tender reads of k8s.io/api admission/v1 AdmissionRequest; `object`, `oldObject` are read by kind below. */
const admissionReviewSchema = z.object({
  apiVersion: z.literal(admissionReviewApiVersion, { error: `apiVersion must be ${admissionReviewApiVersion} (admissionReviewVersions: [v1])` }),
  kind: z.literal('AdmissionReview', { error: 'kind must be AdmissionReview' }),
  request: z.object({
    // A UID (types.UID); echoed in the response, so bounded.
    uid: z.string().min(1).max(128),
    kind: groupVersionKind,
    resource: groupVersionResource,
    subResource: z.string().max(63).nullish(),
    name: objectName.nullish(),
    namespace: namespaceName.nullish(),
    operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
    userInfo: z.object({ username: z.string().max(1024).nullish() }).nullish(),
    object: z.unknown(),
    oldObject: z.unknown(),
    dryRun: z.boolean().nullish(),
  }),
});

const pod = z.object({ metadata: objectMeta.nullish(), spec: podSpec.nullish() });
const podTemplate = z.object({ metadata: objectMeta.nullish(), spec: podSpec.nullish() }).nullish();
const withTemplate = z.object({ metadata: objectMeta.nullish(), spec: z.object({ template: podTemplate }).nullish() });
const cronJob = z.object({
  metadata: objectMeta.nullish(),
  spec: z.object({ jobTemplate: z.object({ spec: z.object({ template: podTemplate }).nullish() }).nullish() }).nullish(),
});

export interface Reading {
  readonly meta: ObjectMeta | null | undefined;
  /** The Pod's or the Pod template's: where break-glass is read (a controller copies template annotations into its Pods). */
  readonly podMeta: ObjectMeta | null | undefined;
  readonly spec: PodSpec | null | undefined;
}

export interface JudgedKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** The resource the webhook's rules name for it (deploy/admission). */
  readonly resource: string;
  readonly read: (object: unknown) => Reading;
}

/**
 * The kinds tender judges, by group/version/kind as the webhook's rules register them (matchPolicy: Equivalent
 * converts requests made through other versions to these). The Pod rule binds: every controller's Pod is judged
 * when it is created. The workload rules answer early, at `kubectl apply`, instead of in a controller's events.
 */
export const judgedKinds: readonly JudgedKind[] = [
  {
    group: '',
    version: 'v1',
    kind: 'Pod',
    resource: 'pods',
    read: (o) => {
      const p = pod.parse(o);
      return { meta: p.metadata, podMeta: p.metadata, spec: p.spec };
    },
  },
  { group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments', read: template },
  { group: 'apps', version: 'v1', kind: 'StatefulSet', resource: 'statefulsets', read: template },
  { group: 'apps', version: 'v1', kind: 'DaemonSet', resource: 'daemonsets', read: template },
  { group: 'apps', version: 'v1', kind: 'ReplicaSet', resource: 'replicasets', read: template },
  { group: 'batch', version: 'v1', kind: 'Job', resource: 'jobs', read: template },
  {
    group: 'batch',
    version: 'v1',
    kind: 'CronJob',
    resource: 'cronjobs',
    read: (o) => {
      const c = cronJob.parse(o);
      const t = c.spec?.jobTemplate?.spec?.template;
      return { meta: c.metadata, podMeta: t?.metadata, spec: t?.spec };
    },
  },
];

const readers = new Map(judgedKinds.map((k) => [`${k.group}/${k.version}/${k.kind}`, k.read]));

function template(o: unknown): Reading {
  const w = withTemplate.parse(o);
  return { meta: w.metadata, podMeta: w.spec?.template?.metadata, spec: w.spec?.template?.spec };
}

export interface ParsedAdmissionReview {
  readonly uid: string;
  readonly subject: ReviewSubject;
  readonly operation: string;
  readonly subResource: string | undefined;
  readonly user: string | undefined;
  readonly dryRun: boolean;
  /** Images left unjudged on UPDATE because the old object already ran them. */
  readonly unchanged: number;
  /** Set when the review is about something tender does not judge (the webhook's rules name more than it should). */
  readonly unjudged?: string;
}

export function parseAdmissionReview(body: unknown): ParsedAdmissionReview {
  const parsed = admissionReviewSchema.safeParse(body);
  if (!parsed.success) throw new ReviewInputError(400, `not an admission.k8s.io/v1 AdmissionReview: ${firstIssue(parsed.error)}`);
  const request = parsed.data.request;
  const { group, version, kind } = request.kind;
  const base = {
    uid: request.uid,
    operation: request.operation,
    subResource: request.subResource || undefined,
    user: request.userInfo?.username ?? undefined,
    dryRun: request.dryRun ?? false,
  };
  const reader = readers.get(`${group}/${version}/${kind}`);
  const emptySubject = {
    endpoint: 'validate',
    kind,
    namespace: request.namespace ?? undefined,
    name: request.name ?? undefined,
    annotations: {},
    images: [],
  } as const;
  if (!reader) return { ...base, subject: emptySubject, unchanged: 0, unjudged: `tender does not judge ${group || 'core'}/${version} ${kind}` };
  // DELETE and CONNECT start nothing: there is no new object to judge.
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return { ...base, subject: { ...emptySubject, kind }, unchanged: 0 };

  const reading = read(reader, request.object, 'request.object');
  let images = podImages(reading.spec);
  if (images.length > maxImagesPerReview) throw new ReviewInputError(400, `request.object names more than ${maxImagesPerReview} container images`);
  let unchanged = 0;
  if (request.operation === 'UPDATE' && request.oldObject) {
    // An update judges only images the old object did not have: a label change on a Pod admitted under last
    // week's policy is not refused, while a new image (kubectl set image, an ephemeral container) is judged.
    const before = new Set(podImages(read(reader, request.oldObject, 'request.oldObject').spec).map((u) => u.image));
    const fresh: ImageUse[] = images.filter((u) => !before.has(u.image));
    unchanged = images.length - fresh.length;
    images = fresh;
  }
  const subject: ReviewSubject = {
    endpoint: 'validate',
    kind,
    namespace: request.namespace ?? reading.meta?.namespace ?? undefined,
    name: displayName(reading.meta, request.name),
    annotations: reading.podMeta?.annotations ?? {},
    images,
  };
  return { ...base, subject, unchanged };
}

function read(reader: (object: unknown) => Reading, object: unknown, where: string): Reading {
  try {
    return reader(object);
  } catch (err) {
    if (err instanceof z.ZodError) throw new ReviewInputError(400, firstIssue(err, where));
    throw err;
  }
}

/** The response the API server expects: same uid, allowed, and on refusal a Status whose message kubectl shows. */
export function admissionReviewResponse(uid: string, decision: AdmissionDecision): Record<string, unknown> {
  const response: Record<string, unknown> = { uid, allowed: decision.allowed };
  // 403 Forbidden: what the API server itself answers for an admission refusal.
  if (!decision.allowed) response.status = { code: 403, message: decision.refusal ?? 'refused' };
  if (decision.warnings.length > 0) response.warnings = decision.warnings;
  if (Object.keys(decision.auditAnnotations).length > 0) response.auditAnnotations = decision.auditAnnotations;
  return { apiVersion: admissionReviewApiVersion, kind: 'AdmissionReview', response };
}
