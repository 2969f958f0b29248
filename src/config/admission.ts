// The `admission:` section: the endpoints' settings, the judgement's deadline, and how the API server authenticates.
import { z } from 'zod';
import { readSettingFile } from './read-setting-file.js';
import { structured } from './value-types.js';

export interface AdmissionConfig {
  readonly mode: 'enforce' | 'warn';
  readonly requireDigest: boolean;
  readonly exemptNamespaces: readonly string[];
  readonly mirrorHosts: readonly string[];
  readonly breakGlassAnnotation: string;
  /** Time one review's judgements may take; undecided images then follow signatures.onError (deny until it exists). */
  readonly deadlineMs: number;
  /** PEM CA certificates whose client certificates may call /admission/* (mutual TLS); undefined when none. */
  readonly clientCa: string | undefined;
  /** Bearer tokens the API server may send instead (a kubeconfig's `token` or `tokenFile`). */
  readonly tokens: ReadonlyArray<{ readonly name: string; readonly token: string }>;
}

// Kubernetes names: a namespace is a DNS label; an annotation key an optional DNS-subdomain prefix and a name of
// at most 63 characters (apimachinery validation.IsDNS1123Label, IsQualifiedName).
const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const annotationName = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// A registry host as an image names it: DNS name or IPv4, or bracketed IPv6, and an optional port.
const imageHost = /^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[a-fA-F0-9:]+\])(:[0-9]{1,5})?$/;

export const namespaceList = structured(z.array(z.string().regex(dnsLabel, 'expected namespace names (DNS labels)')), 'list');
export const hostList = structured(z.array(z.string().regex(imageHost, 'expected host or host:port as images name them')), 'list');

/** `admission.tokens`: tokens the API server sends, inline or from a file. */
export const admissionTokens = structured(
  z.array(
    z
      .object({
        name: z.string().min(1),
        token: z.string().min(16, 'tokens need at least 16 characters').optional(),
        tokenFile: z.string().optional(),
      })
      .strict(),
  ),
  'list',
);

/** Why `key` cannot serve as the break-glass annotation, or undefined when it can. */
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

export interface AdmissionValues {
  readonly mode: 'enforce' | 'warn';
  readonly requireDigest: boolean;
  readonly exemptNamespaces: readonly string[];
  readonly mirrorHosts: readonly string[];
  readonly breakGlassAnnotation: string;
  readonly deadlineMs: number;
  readonly clientCa: string | undefined;
  readonly tokens: z.output<typeof admissionTokens.schema> | undefined;
}

// The API server waits at most 30 s for a webhook (timeoutSeconds); tender must answer before it gives up.
const maxDeadlineMs = 29_000;
const minDeadlineMs = 100;

/** The section's config; `tls` and `auth` say whether tender serves HTTPS and whether its clients must authenticate. */
export function buildAdmission(v: AdmissionValues, context: { readonly tls: boolean; readonly auth: boolean }, problems: string[]): AdmissionConfig {
  const glass = breakGlassAnnotationProblem(v.breakGlassAnnotation);
  if (glass) problems.push(`admission.breakGlassAnnotation: ${glass}`);
  if (v.deadlineMs < minDeadlineMs || v.deadlineMs > maxDeadlineMs) {
    problems.push('admission.deadline: expected 100ms to 29s (the API server waits at most 30 s for a webhook; answer before it gives up)');
  }
  let clientCa: string | undefined;
  if (v.clientCa !== undefined) {
    clientCa = readSettingFile(v.clientCa, 'admission.clientCa', problems);
    if (clientCa !== undefined && !clientCa.includes('-----BEGIN CERTIFICATE-----')) {
      problems.push(`admission.clientCa: "${v.clientCa}" holds no PEM certificate`);
    }
    if (!context.tls) problems.push('admission.clientCa: needs tls (client certificates are only sent over HTTPS)');
  }
  const tokens = (v.tokens ?? []).flatMap((entry, i) => {
    const token = entry.token ?? readSettingFile(entry.tokenFile, `admission.tokens.${i}.tokenFile`, problems);
    if (token === undefined) {
      problems.push(`admission.tokens.${i}: set token or tokenFile`);
      return [];
    }
    if (token.length < 16) problems.push(`admission.tokens.${i}: tokens need at least 16 characters`);
    return [{ name: entry.name, token }];
  });
  // A mirror that makes its clients authenticate does not answer admission reviews from anyone.
  if (context.auth && v.clientCa === undefined && tokens.length === 0) {
    problems.push('admission: auth is on, so the API server must authenticate too: set admission.clientCa or admission.tokens');
  }
  return {
    mode: v.mode,
    requireDigest: v.requireDigest,
    exemptNamespaces: v.exemptNamespaces,
    mirrorHosts: v.mirrorHosts,
    breakGlassAnnotation: v.breakGlassAnnotation,
    deadlineMs: v.deadlineMs,
    clientCa,
    tokens,
  };
}
