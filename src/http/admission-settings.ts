// The admission settings the endpoints are handed (`admission:` in the config) and the pure rules over them: exempt namespaces, break-glass.
// Which break-glass keys are accepted is checked where the setting is read (config/admission.ts).

export interface AdmissionSettings {
  /** `enforce` refuses what the judgement refuses; `warn` admits it with a warning and an audit annotation. */
  readonly mode: 'enforce' | 'warn';
  /** Refuse references without a digest (`app:1.2`), whatever the judgement says of the tag. */
  readonly requireDigest: boolean;
  /** Namespaces whose Pods are admitted without asking the judgement (kube-system must never wait for tender). */
  readonly exemptNamespaces: readonly string[];
  /** The mirror's own host names, so `tender.example:5000/docker.io/library/nginx` is judged as the image it names. */
  readonly mirrorHosts: readonly string[];
  /**
   * The Pod annotation that admits a Pod whatever its images (recorded in the audit log). The API server forwards
   * only annotations matching `*.image-policy.k8s.io/*` to an ImagePolicyWebhook backend, so the key must match
   * that pattern for the break-glass to reach tender on both endpoints.
   */
  readonly breakGlassAnnotation: string;
}

/** The settings table's defaults (frozen: shared, never changed); test/unit/config checks they agree. */
export const defaultAdmissionSettings: AdmissionSettings = Object.freeze({
  mode: 'enforce',
  requireDigest: false,
  exemptNamespaces: Object.freeze(['kube-system']),
  mirrorHosts: Object.freeze([]),
  breakGlassAnnotation: 'tender.image-policy.k8s.io/break-glass',
});

/** The value the break-glass annotation must have: `"false"` or a typo must not open the gate. */
export const breakGlassValue = 'true';

export function isExemptNamespace(settings: AdmissionSettings, namespace: string | undefined): boolean {
  return namespace !== undefined && settings.exemptNamespaces.includes(namespace);
}

/** Whether the Pod (or Pod template) annotations carry the break-glass annotation set to "true". */
export function hasBreakGlass(settings: AdmissionSettings, annotations: Readonly<Record<string, string>>): boolean {
  return Object.hasOwn(annotations, settings.breakGlassAnnotation) && annotations[settings.breakGlassAnnotation] === breakGlassValue;
}
