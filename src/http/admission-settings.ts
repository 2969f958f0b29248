// The admission settings (`admission:` in the config) and the pure rules over them: exempt namespaces, break-glass.

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

/** The defaults the settings table will use (frozen: shared, never changed). */
export const defaultAdmissionSettings: AdmissionSettings = Object.freeze({
  mode: 'enforce',
  requireDigest: false,
  exemptNamespaces: Object.freeze(['kube-system']),
  mirrorHosts: Object.freeze([]),
  breakGlassAnnotation: 'tender.image-policy.k8s.io/break-glass',
});

/** The value the break-glass annotation must have: `"false"` or a typo must not open the gate. */
export const breakGlassValue = 'true';

// Kubernetes annotation keys: an optional DNS-subdomain prefix and a name of at most 63 characters
// (apimachinery validation.IsQualifiedName).
const annotationName = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `key` cannot serve as the break-glass annotation, or undefined when it can (for the settings table). */
export function breakGlassAnnotationProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  if (slash === -1) return `"${key}" has no prefix: it must look like <prefix>.image-policy.k8s.io/<name>`;
  const prefix = key.slice(0, slash);
  const name = key.slice(slash + 1);
  if (prefix.length > 253 || !dnsSubdomain.test(prefix)) return `"${prefix}" is not a DNS subdomain (an annotation key prefix)`;
  if (!annotationName.test(name)) return `"${name}" is not an annotation name (at most 63 characters: letters, digits, '-', '_', '.')`;
  // The API server's ImagePolicyWebhook keeps only keys containing ".image-policy.k8s.io/".
  if (!key.includes('.image-policy.k8s.io/')) return `"${key}" does not match *.image-policy.k8s.io/*, which the API server forwards to ImagePolicyWebhook`;
  return undefined;
}

export function isExemptNamespace(settings: AdmissionSettings, namespace: string | undefined): boolean {
  return namespace !== undefined && settings.exemptNamespaces.includes(namespace);
}

/** Whether the Pod (or Pod template) annotations carry the break-glass annotation set to "true". */
export function hasBreakGlass(settings: AdmissionSettings, annotations: Readonly<Record<string, string>>): boolean {
  return Object.hasOwn(annotations, settings.breakGlassAnnotation) && annotations[settings.breakGlassAnnotation] === breakGlassValue;
}
