// deploy/admission checked with the real kubectl: both kustomizations render, the webhook configuration passes the
// Kubernetes OpenAPI schema and points at the tender Service of deploy/base, its rules name exactly the kinds tender
// judges, and the API server files for ImagePolicyWebhook hold values the plugin accepts.
//
// `kubectl apply --dry-run=client` cannot run here: even client-side dry runs ask an API server for discovery
// (REST mapping) and, with validation on, for its OpenAPI schema; no cluster is available offline. The schema check
// is done instead with kubernetes-models, generated from the Kubernetes OpenAPI definitions.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ValidatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { judgedKinds } from '../../src/http/admission-review.js';
import { defaultAdmissionDeadlineMs } from '../../src/http/admission-routes.js';
import { defaultAdmissionSettings } from '../../src/http/admission-settings.js';
import { describeWithBinaries } from '../helpers/binaries.js';
import { createCa, type Certificate } from '../helpers/certs.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..');
const deploy = join(root, 'deploy');

type Doc = Record<string, any>; // rendered Kubernetes objects

async function kustomize(dir: string): Promise<Doc[]> {
  const { stdout } = await run('kubectl', ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
}

const ofKind = (docs: Doc[], kind: string) => docs.filter((d) => d.kind === kind);

describeWithBinaries(['kubectl', 'openssl'], 'deploy/admission', () => {
  let dir: string;
  let ca: Certificate;
  let service: Doc;

  beforeAll(async () => {
    // A copy, so a ca.crt is never written into the repository.
    dir = await mkdtemp(join(tmpdir(), 'tender-admission-deploy-'));
    await cp(join(deploy, 'admission'), join(dir, 'admission'), { recursive: true });
    ca = await createCa(dir, 'tender admission test CA');
    service = ofKind(await kustomize(join(deploy, 'base')), 'Service').find((s) => s.metadata.name === 'tender')!;
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** What both variants must hold of the webhooks; caBundle aside. */
  function checkWebhooks(config: Doc): void {
    // The API server decodes caBundle ([]byte) with Go's base64 decoder, which skips the line breaks kustomize
    // writes into long base64 values; the schema's "byte" format does not, hence the join.
    const forSchema = structuredClone(config);
    for (const w of forSchema.webhooks) if (w.clientConfig.caBundle) w.clientConfig.caBundle = w.clientConfig.caBundle.replace(/\s/g, '');
    expect(() => new ValidatingWebhookConfiguration(forSchema).validate()).not.toThrow();

    const byName = Object.fromEntries(config.webhooks.map((w: Doc) => [w.name.split('.')[0], w]));
    expect(Object.keys(byName).sort()).toEqual(['pods', 'workloads']);
    // The Pod webhook binds and fails closed; the workload webhook only answers early and fails open.
    expect(byName.pods.failurePolicy).toBe('Fail');
    expect(byName.workloads.failurePolicy).toBe('Ignore');
    for (const w of config.webhooks) {
      expect(w.sideEffects).toBe('None');
      expect(w.admissionReviewVersions).toEqual(['v1']);
      expect(w.matchPolicy).toBe('Equivalent');
      // tender decides within its deadline, before the API server gives up on it.
      // The endpoint's backstop is a second past the judgement's deadline.
      expect(w.timeoutSeconds * 1000).toBeGreaterThan(defaultAdmissionDeadlineMs + 1000);
      expect(w.clientConfig.service).toEqual({ namespace: service.metadata.namespace, name: 'tender', path: '/admission/validate', port: 5000 });
      expect(service.spec.ports.map((p: Doc) => p.port)).toContain(w.clientConfig.service.port);
      // kube-system and tender's own namespace never wait for tender.
      expect(w.namespaceSelector.matchExpressions).toEqual([
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', service.metadata.namespace] },
      ]);
      for (const exempt of defaultAdmissionSettings.exemptNamespaces) expect(w.namespaceSelector.matchExpressions[0].values).toContain(exempt);
    }
    // The rules name exactly what tender judges: Pods (ephemeral containers included) and each workload kind.
    const ruled = config.webhooks.flatMap((w: Doc) =>
      w.rules.flatMap((r: Doc) => {
        expect(r.operations).toEqual(['CREATE', 'UPDATE']);
        expect(r.scope).toBe('Namespaced');
        return r.apiGroups.flatMap((g: string) => r.apiVersions.flatMap((v: string) => r.resources.map((res: string) => `${g}/${v}/${res}`)));
      }),
    );
    const judged = judgedKinds.map((k) => `${k.group}/${k.version}/${k.resource}`);
    expect(ruled.sort()).toEqual([...judged, '/v1/pods/ephemeralcontainers'].sort());
    expect(byName.pods.rules.flatMap((r: Doc) => r.resources)).toEqual(['pods', 'pods/ephemeralcontainers']);
  }

  it('does not build without ca.crt, so no webhook without a caBundle is applied', async () => {
    await expect(kustomize(join(dir, 'admission'))).rejects.toThrow(/ca\.crt/);
  });

  it('with ca.crt: one ValidatingWebhookConfiguration whose every webhook trusts that CA', async () => {
    await cp(ca.cert, join(dir, 'admission', 'ca.crt'));
    const docs = await kustomize(join(dir, 'admission'));
    // The Secret that carried the certificate is local-config: not applied.
    expect(docs.map((d) => d.kind)).toEqual(['ValidatingWebhookConfiguration']);
    const config = docs[0]!;
    checkWebhooks(config);
    for (const w of config.webhooks) expect(Buffer.from(w.clientConfig.caBundle, 'base64').toString()).toBe(ca.certPem);
  });

  it('with cert-manager: the CA injector fills caBundle from the Certificate it issues for the Service', async () => {
    const docs = await kustomize(join(dir, 'admission', 'cert-manager'));
    const config = ofKind(docs, 'ValidatingWebhookConfiguration')[0]!;
    checkWebhooks(config);
    for (const w of config.webhooks) expect(w.clientConfig.caBundle).toBeUndefined();
    const [namespace, name] = config.metadata.annotations['cert-manager.io/inject-ca-from'].split('/');
    const certificates = ofKind(docs, 'Certificate');
    const serving = certificates.find((c) => c.metadata.name === name && c.metadata.namespace === namespace)!;
    expect(serving.spec.dnsNames).toContain(`tender.${service.metadata.namespace}.svc`);
    expect(serving.spec.usages).toContain('server auth');
    // The chain resolves: serving certificate ← CA Issuer ← CA certificate ← self-signed Issuer.
    const issuers = ofKind(docs, 'Issuer');
    const caIssuer = issuers.find((i) => i.metadata.name === serving.spec.issuerRef.name)!;
    const caCertificate = certificates.find((c) => c.spec.secretName === caIssuer.spec.ca.secretName)!;
    expect(caCertificate.spec.isCA).toBe(true);
    expect(issuers.find((i) => i.metadata.name === caCertificate.spec.issuerRef.name)!.spec).toEqual({ selfSigned: {} });
    for (const d of [...certificates, ...issuers]) expect(d.metadata.namespace).toBe(service.metadata.namespace);
  });

  it('the ImagePolicyWebhook configuration fails closed, with TTLs and backoff the plugin accepts', async () => {
    const config = parse(await readFile(join(deploy, 'admission', 'apiserver', 'admission-configuration.yaml'), 'utf8'));
    expect(config).toMatchObject({ apiVersion: 'apiserver.config.k8s.io/v1', kind: 'AdmissionConfiguration' });
    expect(config.plugins.map((p: Doc) => p.name)).toEqual(['ImagePolicyWebhook', 'ValidatingAdmissionWebhook']);
    const policy = config.plugins[0].configuration.imagePolicy;
    expect(Object.keys(policy).sort()).toEqual(['allowTTL', 'defaultAllow', 'denyTTL', 'kubeConfigFile', 'retryBackoff']);
    expect(policy.defaultAllow).toBe(false);
    // The plugin's own bounds (plugin/pkg/admission/imagepolicy/config.go): TTLs in seconds, more than 1 and at
    // most 30 minutes; backoff in milliseconds, at most 5 minutes.
    for (const ttl of [policy.allowTTL, policy.denyTTL]) {
      expect(Number.isInteger(ttl) && ttl > 1 && ttl <= 1800, String(ttl)).toBe(true);
    }
    expect(Number.isInteger(policy.retryBackoff) && policy.retryBackoff > 0 && policy.retryBackoff <= 300_000).toBe(true);
    expect(basename(policy.kubeConfigFile)).toBe('imagepolicy-kubeconfig.yaml');
  });

  it('the ImagePolicyWebhook kubeconfig reaches tender over TLS, as kubectl reads it', async () => {
    const file = join(deploy, 'admission', 'apiserver', 'imagepolicy-kubeconfig.yaml');
    // --minify keeps what current-context selects, and fails if it selects nothing.
    const { stdout } = await run('kubectl', ['config', 'view', '--kubeconfig', file, '--minify', '-o', 'json']);
    const kubeconfig = JSON.parse(stdout);
    const cluster = kubeconfig.clusters[0].cluster;
    const server = new URL(cluster.server);
    expect(server.protocol).toBe('https:');
    expect(server.pathname).toBe('/admission/imagepolicy');
    expect(service.spec.ports.map((p: Doc) => p.port)).toContain(Number(server.port));
    const serviceName = `tender.${service.metadata.namespace}.svc`;
    expect(cluster['tls-server-name']).toBe(serviceName);
    expect(cluster['certificate-authority']).toMatch(/^\//);
    const certificate = ofKind(await kustomize(join(deploy, 'admission', 'cert-manager')), 'Certificate').find((c) => c.metadata.name === 'tender-tls')!;
    expect(certificate.spec.dnsNames).toContain(cluster['tls-server-name']);
    expect(Object.keys(kubeconfig.users[0].user).sort()).toEqual(['client-certificate', 'client-key']);
  });
  it('the validating webhook presents the same client certificate, under the name the API server looks it up by', async () => {
    const config = parse(await readFile(join(deploy, 'admission', 'apiserver', 'admission-configuration.yaml'), 'utf8'));
    const webhook = config.plugins.find((p: Doc) => p.name === 'ValidatingAdmissionWebhook').configuration;
    expect(webhook).toMatchObject({ apiVersion: 'apiserver.config.k8s.io/v1', kind: 'WebhookAdmissionConfiguration' });
    expect(basename(webhook.kubeConfigFile)).toBe('webhook-kubeconfig.yaml');
    const users = parse(await readFile(join(deploy, 'admission', 'apiserver', 'webhook-kubeconfig.yaml'), 'utf8')).users;
    const rendered = ofKind(await kustomize(join(dir, 'admission', 'cert-manager')), 'ValidatingWebhookConfiguration')[0]!;
    const { name, namespace, port } = rendered.webhooks[0].clientConfig.service;
    // A Service on a port other than 443 is looked up as <service>.<namespace>.svc:<port>.
    expect(users.map((u: Doc) => u.name)).toEqual([`${name}.${namespace}.svc:${port}`]);
    const imagepolicy = parse(await readFile(join(deploy, 'admission', 'apiserver', 'imagepolicy-kubeconfig.yaml'), 'utf8'));
    expect(users[0].user).toEqual(imagepolicy.users[0].user);
  });
});
