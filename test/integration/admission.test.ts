// Admission end to end: a real tender over TLS, a real distribution upstream, the stored review fixtures posted as
// the API server posts them (with its client certificate or token), and tender's answers compared with the stored
// responses; the same judgement through `tender check`.
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { createCa, createClientCertificate, createServerCertificate, type Certificate } from '../helpers/certs.js';
import { describeRun, runTender } from '../helpers/cli.js';
import { signClassic } from '../helpers/cosign.js';
import { generateSigningKey } from '../helpers/cosign-keys.js';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { MediaTypes, pushImage, type PushedImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';
import { fixture } from '../unit/http/admission-harness.js';

type Json = Record<string, any>; // reviews and their answers, read freely

const validate = '/admission/validate';
const imagepolicy = '/admission/imagepolicy';
// The made-up digests of the fixtures, replaced by those of images pushed for real.
const fixtureDigests = {
  shipper: 'sha256:5e0c4f5f8f9e0b1d6a2c3b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081',
  report: 'sha256:0d4c2b1a9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817060f5e',
};
const apiServerToken = 'admission-token-for-the-api-server';
const mirrorHost = 'tender.test:5000';

interface Answer {
  readonly status: number;
  readonly body: Json;
  readonly headers: Record<string, unknown>;
}

describeWithBinaries(['docker-registry', 'openssl'], 'admission (ImagePolicyWebhook and validating webhook) against a real upstream', () => {
  let work: string;
  let registry: RegistryHandle;
  let slow: FaultUpstream;
  let tender: TenderHandle;
  let ca: Certificate;
  let server: Certificate;
  let apiServer: Agent;
  let anonymous: Agent;
  let stranger: Agent;
  let pushed: Record<'nginx' | 'shipper' | 'report' | 'app' | 'pinned', PushedImage>;
  let settings: (extra: Json) => Json;
  const transcript = process.env.TENDER_ADMISSION_TRANSCRIPT;

  /** A fixture request with the fixtures' digests replaced by real ones. */
  const review = (path: string): Json =>
    JSON.parse(
      JSON.stringify(fixture(path)).replaceAll(fixtureDigests.shipper, pushed.shipper.digest).replaceAll(fixtureDigests.report, pushed.report.digest),
    ) as Json;
  const imageReview = (images: string[], extra: Json = {}): Json => ({
    apiVersion: 'imagepolicy.k8s.io/v1alpha1',
    kind: 'ImageReview',
    spec: { containers: images.map((image) => ({ image })), namespace: 'team-a', ...extra },
  });

  async function post(url: string, path: string, body: unknown, options: { agent?: Agent; headers?: Record<string, string> } = {}): Promise<Answer> {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const res = await request(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...options.headers },
      body: text,
      dispatcher: options.agent ?? apiServer,
    });
    const raw = await res.body.text();
    return { status: res.statusCode, body: raw ? (JSON.parse(raw) as Json) : {}, headers: res.headers };
  }

  /** Writes beside and renames over, certificate first, as cert-manager's Secret update reaches a mounted volume. */
  async function installPair(pair: Certificate): Promise<void> {
    for (const [name, content] of [
      ['tls.crt', pair.certPem],
      ['tls.key', pair.keyPem],
    ] as const) {
      await writeFile(join(work, 'serving', `${name}.tmp`), content);
      await rename(join(work, 'serving', `${name}.tmp`), join(work, 'serving', name));
    }
  }

  /** A request head written on a TLS socket, and everything the server sends until it closes. */
  function rawPost(port: number, path: string, headers: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ca: ca.certPem }, () => {
        socket.write(`POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n${headers}\r\n\r\n`);
      });
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
    });
  }

  const decisions = (handle: TenderHandle, image: string) => handle.logs.filter((l) => l.msg === 'admission decision' && l.image === image);
  const lastDecision = (handle: TenderHandle, image: string) => decisions(handle, image).at(-1);
  const count = async (handle: TenderHandle, endpoint: string, verdict: string) =>
    (await handle.metrics.admissionDecisions.get()).values.find((v) => v.labels.endpoint === endpoint && v.labels.verdict === verdict)?.value ?? 0;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'tender-admission-'));
    for (const dir of ['pki', 'api-ca', 'stranger-ca', 'serving']) await mkdir(join(work, dir));
    ca = await createCa(join(work, 'pki'), 'tender serving CA');
    server = await createServerCertificate(ca, join(work, 'pki'), { commonName: 'tender' });
    await installPair(server);
    const apiCa = await createCa(join(work, 'api-ca'), 'API server client CA');
    const apiClient = await createClientCertificate(apiCa, join(work, 'api-ca'), { commonName: 'kube-apiserver' });
    const strangerCa = await createCa(join(work, 'stranger-ca'), 'someone else');
    const strangerClient = await createClientCertificate(strangerCa, join(work, 'stranger-ca'), { commonName: 'kube-apiserver' });
    apiServer = new Agent({ connect: { ca: ca.certPem, cert: apiClient.certPem, key: apiClient.keyPem } });
    anonymous = new Agent({ connect: { ca: ca.certPem } });
    stranger = new Agent({ connect: { ca: ca.certPem, cert: strangerClient.certPem, key: strangerClient.keyPem } });

    registry = await startRegistry();
    const image = (repository: string, tag: string | undefined) => pushImage(registry, repository, tag, { layerSizes: [500], seed: `${repository}:${tag}` });
    pushed = {
      nginx: await image('library/nginx', '1.27'),
      shipper: await image('platform/log-shipper', undefined),
      report: await image('platform/report', undefined),
      app: await image('org/app', '2.4.1'),
      pinned: await image('org/pinned', '1.0'),
    };
    for (const [repository, tag] of [
      ['library/nginx', '1.28'],
      ['library/busybox', '1.36'],
      ['org/migrate', '2.4.1'],
      ['org/unsigned', '1.0'],
      ['prometheus/node-exporter', 'v1.8.2'],
    ] as const) {
      await image(repository, tag);
    }
    slow = await startFaultUpstream();
    slow.setFault(slow.addManifest('slow/app', '1', Buffer.from('{}'), MediaTypes.ociManifest), 'hang');
    slow.setFault('slow/app:1', 'hang');

    const upstream = (extra: Json = {}) => ({ url: registry.url, insecure: true, retries: 1, ...extra });
    settings = (extra) => ({
      upstreams: {
        // Docker Hub's allowlist admits nginx only: busybox is a denied repository.
        'docker.io': upstream({ allow: ['nginx'] }),
        'ghcr.io': upstream({ immutableTags: ['org/pinned:*'] }),
        'registry.corp.example': upstream(),
        'quay.io': upstream(),
        'slow.example': { url: slow.url, insecure: true, retries: 0 },
      },
      tls: { cert: join(work, 'serving', 'tls.crt'), key: join(work, 'serving', 'tls.key') },
      ...extra,
    });
    tender = await startTender({
      upstreams: { 'docker.io': registry.url },
      settings: settings({
        admission: {
          mirrorHosts: [mirrorHost],
          deadline: '2s',
          clientCa: apiCa.cert,
          tokens: [{ name: 'apiserver', token: apiServerToken }],
        },
      }),
    });
  });

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
    await slow?.stop();
    await Promise.all([apiServer, anonymous, stranger].map((a) => a?.close()));
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('answers the API server only, by its client certificate or its token, over TLS; registry clients need neither', async () => {
    const body = imageReview(['nginx:1.27']);
    // Each more than once, on fresh connections: a resumed TLS session is not a verified certificate.
    for (const [agent, headers, reason] of [
      [anonymous, {}, 'authentication required: a client certificate from admission.clientCa or a bearer token'],
      [stranger, {}, 'the client certificate was not accepted'],
      [anonymous, { authorization: 'Bearer not-the-token' }, 'the bearer token is not one of admission.tokens'],
    ] as const) {
      for (let attempt = 0; attempt < 3; attempt++) {
        const refused = await post(tender.url, imagepolicy, body, { agent, headers: { ...headers, connection: 'close' } });
        expect(refused.status, `${reason} (attempt ${attempt + 1})`).toBe(401);
        expect(refused.body).toMatchObject({ kind: 'Status', status: 'Failure', code: 401, reason: 'Unauthorized', message: expect.stringContaining(reason) });
      }
    }
    const byToken = await post(tender.url, imagepolicy, body, { agent: anonymous, headers: { authorization: `Bearer ${apiServerToken}` } });
    expect(byToken).toMatchObject({ status: 200, body: { status: { allowed: true } } });
    expect(lastDecision(tender, 'nginx:1.27')).toMatchObject({ caller: 'token:apiserver' });
    const byCertificate = await post(tender.url, imagepolicy, body);
    expect(byCertificate).toMatchObject({ status: 200, body: { status: { allowed: true } } });
    expect(lastDecision(tender, 'nginx:1.27')).toMatchObject({ caller: 'certificate:kube-apiserver' });

    const v2 = await request(`${tender.url}/v2/library/nginx/manifests/1.27?ns=docker.io`, {
      dispatcher: anonymous,
      headers: { accept: MediaTypes.ociManifest },
    });
    await v2.body.dump();
    expect(v2.statusCode).toBe(200);
  });

  // Every stored AdmissionReview whose answer does not hang on a signature policy (pod-create-by-controller's does).
  it.each([
    'pod-create',
    'pod-create-refused',
    'pod-create-break-glass',
    'pod-create-exempt',
    'pod-ephemeralcontainers',
    'deployment-create',
    'deployment-update',
    'statefulset-create',
    'daemonset-create',
    'replicaset-create',
    'job-create',
    'cronjob-create',
  ])('validate/%s: answers the stored response', async (name) => {
    const request = review(`validate/${name}.request.json`);
    const answer = await post(tender.url, validate, request);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual(fixture(`validate/${name}.response.json`));
    if (transcript && (name === 'pod-create' || name === 'pod-create-refused')) {
      await writeFile(join(transcript, `validate-${name}.json`), JSON.stringify({ request, response: answer.body }, null, 2));
    }
  });

  it.each(['allowed', 'refused', 'break-glass', 'exempt', 'ephemeral'])('imagepolicy/%s: answers the stored response', async (name) => {
    const request = review(`imagepolicy/${name}.request.json`);
    const answer = await post(tender.url, imagepolicy, request);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual(fixture(`imagepolicy/${name}.response.json`));
    if (transcript && (name === 'allowed' || name === 'refused')) {
      await writeFile(join(transcript, `imagepolicy-${name}.json`), JSON.stringify({ request, response: answer.body }, null, 2));
    }
  });

  it('logs and counts every decision: who asked, for which object, image, verdict and reason', async () => {
    await post(tender.url, validate, review('validate/pod-create-refused.request.json'));
    expect(lastDecision(tender, 'busybox:1.36')).toMatchObject({
      endpoint: 'validate',
      kind: 'Pod',
      namespace: 'team-a',
      name: 'shop',
      user: 'alice@corp.example',
      caller: 'certificate:kube-apiserver',
      verdict: 'deny',
      reason: 'repository library/busybox is not in the allow list of docker.io',
      containers: ['init container "wait-for-db"'],
    });
    // The short name is judged as Docker Hub's official image, by the digest a pull gets.
    expect(lastDecision(tender, 'nginx:1.27')).toMatchObject({
      verdict: 'allow',
      reason: `docker.io/library/nginx:1.27 → ${pushed.nginx.digest}: served by upstream docker.io`,
    });
    expect(await count(tender, 'validate', 'deny')).toBeGreaterThan(0);
    expect(await count(tender, 'validate', 'break-glass')).toBeGreaterThan(0);
    expect(await count(tender, 'imagepolicy', 'exempt')).toBeGreaterThan(0);
    const metrics = await tender.metrics.registry.metrics();
    expect(metrics).toMatch(/^tender_admission_decisions_total\{endpoint="imagepolicy",verdict="warn"\} 0$/m);
  });

  it.each([
    ['upstream name', 'ghcr.io/org/app:2.4.1', 'ghcr.io/org/app:2.4.1', 'app'],
    ['mirror host and registry prefix', `${mirrorHost}/ghcr.io/org/app:2.4.1`, 'ghcr.io/org/app:2.4.1', 'app'],
    ['mirror host and the default upstream', `${mirrorHost}/nginx:1.27`, 'docker.io/library/nginx:1.27', 'nginx'],
    ['Docker Hub short name', 'nginx:1.27', 'docker.io/library/nginx:1.27', 'nginx'],
    ['Docker Hub by its alias-free full name', 'docker.io/library/nginx:1.27', 'docker.io/library/nginx:1.27', 'nginx'],
  ] as const)('admits an image named through the %s', async (_form, image, judgedAs, which) => {
    const answer = await post(tender.url, imagepolicy, imageReview([image]));
    expect(answer.body).toEqual({ apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', status: { allowed: true } });
    expect(lastDecision(tender, image)).toMatchObject({
      verdict: 'allow',
      reason: `${judgedAs} → ${pushed[which].digest}: served by upstream ${judgedAs.split('/')[0]}`,
    });
  });

  it.each([
    ['a registry tender does not serve', 'gcr.io/distroless/static:nonroot', 'registry "gcr.io" is not served by this mirror'],
    ['a look-alike of Docker Hub', 'docker.io.evil.example/library/nginx:1.27', 'registry "docker.io.evil.example" is not served by this mirror'],
    [
      'a look-alike behind the mirror host',
      `${mirrorHost}/docker.io.evil.example/library/nginx:1.27`,
      'registry "docker.io.evil.example" is not served by this mirror',
    ],
    ['a denied repository', 'busybox:1.36', 'repository library/busybox is not in the allow list of docker.io'],
    ['a tag upstream does not have', 'ghcr.io/org/app:9.9', 'ghcr.io/org/app:9.9: '],
    ['a reference the node cannot parse', 'docker.io/Library/nginx:1.27', 'is not a valid image reference'],
  ] as const)('refuses %s', async (_what, image, reason) => {
    const answer = await post(tender.url, imagepolicy, imageReview([image]));
    expect(answer.body.status).toMatchObject({ allowed: false, reason: expect.stringContaining(`image ${JSON.stringify(image)} refused: `) });
    expect(answer.body.status.reason).toContain(reason);
  });

  it('judges a tag that moved upstream under immutability by the digest tender keeps serving', async () => {
    const image = 'ghcr.io/org/pinned:1.0';
    await post(tender.url, imagepolicy, imageReview([image]));
    const moved = await pushImage(registry, 'org/pinned', '1.0', { layerSizes: [500], seed: 'moved' });
    expect(moved.digest).not.toBe(pushed.pinned.digest);
    tender.advance(60 * 60_000);
    const answer = await post(tender.url, imagepolicy, imageReview([image]));
    expect(answer.body.status).toEqual({ allowed: true });
    expect(lastDecision(tender, image)).toMatchObject({ verdict: 'allow', reason: expect.stringContaining(`→ ${pushed.pinned.digest}`) });
  });

  it('refuses malformed and oversized reviews with a 4xx Status, never a 5xx', async () => {
    const cases: Array<[string, string, Record<string, string>, number]> = [
      [validate, '{"apiVersion":', {}, 400],
      [validate, JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: {} }), {}, 400],
      [imagepolicy, JSON.stringify({ apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', spec: { containers: 'nginx' } }), {}, 400],
      [imagepolicy, JSON.stringify(imageReview(Array.from({ length: 300 }, (_, i) => `app${i}:1`))), {}, 400],
      [validate, JSON.stringify(review('validate/pod-create.request.json')), { 'content-type': 'text/plain' }, 415],
    ];
    for (const [path, body, headers, status] of cases) {
      const answer = await post(tender.url, path, body, { headers });
      expect(answer.status, `${path} ${body.slice(0, 60)}`).toBe(status);
      expect(answer.body).toMatchObject({ kind: 'Status', status: 'Failure', code: status });
    }
    // Declared over the limit: refused from the head, before a byte of the body is read. Sent by hand, so the
    // answer is read whole before the server closes the connection it will not read the body from.
    const oversized = await rawPost(
      tender.port,
      validate,
      `content-type: application/json\r\ncontent-length: ${9 * 1024 * 1024}\r\nauthorization: Bearer ${apiServerToken}`,
    );
    expect(oversized).toMatch(/^HTTP\/1\.1 413 /);
    expect(JSON.parse(oversized.slice(oversized.indexOf('\r\n\r\n') + 4))).toMatchObject({ kind: 'Status', code: 413 });
    const get = await request(`${tender.url}${validate}`, { dispatcher: apiServer });
    await get.body.dump();
    expect(get.statusCode).toBe(405);
  });

  it('tender check gives the same verdicts from the command line, beside the serving tender', async () => {
    const config = join(work, 'check.yaml');
    const { tls: _tls, ...plain } = settings({ cacheDir: tender.cacheDir, includeDefaultUpstreams: false, admission: { mirrorHosts: [mirrorHost] } });
    await writeFile(config, JSON.stringify(plain));
    const admitted = ['tender', 'check', '--config', config, 'nginx:1.27', `${mirrorHost}/ghcr.io/org/app:2.4.1`];
    const ok = await runTender(admitted.slice(1));
    expect(ok.code, describeRun(admitted.slice(1), ok)).toBe(0);
    expect(ok.stdout).toContain(`ALLOW "nginx:1.27": docker.io/library/nginx:1.27 → ${pushed.nginx.digest}: served by upstream docker.io`);
    const args = ['check', '--config', config, '--json', 'ghcr.io/org/pinned:1.0', 'docker.io.evil.example/library/nginx:1.27'];
    const refused = await runTender(args);
    expect(refused.code, describeRun(args, refused)).toBe(1);
    expect(JSON.parse(refused.stdout)).toEqual({
      admitted: false,
      images: [
        {
          image: 'ghcr.io/org/pinned:1.0',
          verdict: 'allow',
          reason: `ghcr.io/org/pinned:1.0 → ${pushed.pinned.digest}: served by upstream ghcr.io`,
          canonical: 'ghcr.io/org/pinned:1.0',
          upstream: 'ghcr.io',
          repository: 'org/pinned',
          digest: pushed.pinned.digest,
        },
        {
          image: 'docker.io.evil.example/library/nginx:1.27',
          verdict: 'deny',
          reason: 'registry "docker.io.evil.example" is not served by this mirror',
          canonical: 'docker.io.evil.example/library/nginx:1.27',
        },
      ],
    });
  });

  it('an upstream that does not answer: the image is refused at admission.deadline, before the API server gives up', async () => {
    const answer = await post(tender.url, imagepolicy, imageReview(['slow.example/slow/app:1']));
    expect(answer.status).toBe(200);
    expect(answer.body.status).toMatchObject({ allowed: false });
    expect(answer.body.status.reason).toContain('slow.example/slow/app:1: no decision within 2000 ms (admission.deadline); refused while undecided');
  });

  describe('with a second tender', () => {
    let other: TenderHandle | undefined;
    afterAll(async () => other?.stop());

    it('sanctioned-only admits the listed images only', async () => {
      other = await startTender({
        upstreams: { 'docker.io': registry.url },
        settings: settings({ sanctioned: { images: ['docker.io/library/nginx:1.27'] }, admission: {} }),
      });
      expect((await post(other.url, imagepolicy, imageReview(['nginx:1.27']), { agent: anonymous })).body.status).toEqual({ allowed: true });
      const refused = await post(other.url, imagepolicy, imageReview(['ghcr.io/org/app:2.4.1']), { agent: anonymous });
      expect(refused.body.status.reason).toBe('image "ghcr.io/org/app:2.4.1" refused: ghcr.io/org/app:2.4.1 is not in the sanctioned image list');
      await other.stop();
      other = undefined;
    });

    it("under an enforce signature policy: a signed image is admitted, an unsigned one refused with the policy's reason", async () => {
      const signer = generateSigningKey();
      const keyFile = join(work, 'cosign.pub');
      await writeFile(keyFile, signer.publicKeyPem);
      await signClassic(registry, 'org/app', pushed.app.digest, signer);
      other = await startTender({
        upstreams: { 'docker.io': registry.url },
        settings: settings({ signatures: { policies: [{ name: 'platform', repositories: ['ghcr.io/org/**'], keys: [keyFile] }] }, admission: {} }),
      });
      const signed = await post(other.url, imagepolicy, imageReview(['ghcr.io/org/app:2.4.1']), { agent: anonymous });
      expect(signed.body.status).toEqual({ allowed: true });
      expect(lastDecision(other, 'ghcr.io/org/app:2.4.1')).toMatchObject({ verdict: 'allow', reason: expect.stringContaining(`→ ${pushed.app.digest}`) });
      const unsigned = await post(other.url, validate, review('validate/pod-create.request.json'), { agent: anonymous });
      expect(unsigned.body.response).toMatchObject({
        allowed: false,
        status: { code: 403, message: expect.stringMatching(/^image "ghcr\.io\/org\/migrate:2\.4\.1" \(init container "setup"\) refused: /) },
      });
      // Docker Hub is not under the policy: nginx is still admitted.
      expect(lastDecision(other, 'nginx:1.27')).toMatchObject({ verdict: 'allow' });
      if (transcript) await writeFile(join(transcript, 'validate-unsigned.json'), JSON.stringify({ response: unsigned.body }, null, 2));
      await other.stop();
      other = undefined;
    });

    it('warn mode admits what it would refuse, telling the user and the audit log', async () => {
      other = await startTender({ upstreams: { 'docker.io': registry.url }, settings: settings({ admission: { mode: 'warn' } }) });
      const answer = await post(other.url, validate, review('validate/pod-create-refused.request.json'), { agent: anonymous });
      expect(answer.body).toEqual(fixture('validate/pod-create-refused.warn-mode.response.json'));
      const policy = await post(other.url, imagepolicy, review('imagepolicy/refused.request.json'), { agent: anonymous });
      expect(policy.body).toEqual(fixture('imagepolicy/refused.warn-mode.response.json'));
      expect(await count(other, 'validate', 'warn')).toBe(2);
      await other.stop();
      other = undefined;
    });
  });

  it('keeps asking for client certificates from admission.clientCa after the serving certificate is renewed', async () => {
    const renewed = await createServerCertificate(ca, join(work, 'pki'), { commonName: 'tender-renewed' });
    await installPair(renewed);
    const deadline = Date.now() + 30_000;
    while (!tender.logs.some((l) => l.msg === 'serving certificate loaded' && l.fingerprint === renewed.fingerprint)) {
      if (Date.now() > deadline) throw new Error('the renewed certificate was not loaded within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const body = imageReview(['nginx:1.27']);
    const accepted = await post(tender.url, imagepolicy, body, { headers: { connection: 'close' } });
    expect(accepted).toMatchObject({ status: 200, body: { status: { allowed: true } } });
    expect(lastDecision(tender, 'nginx:1.27')).toMatchObject({ caller: 'certificate:kube-apiserver' });
    expect((await post(tender.url, imagepolicy, body, { agent: stranger, headers: { connection: 'close' } })).status).toBe(401);
  });

  // Last: it stops the upstream.
  it('with the upstream stopped: a cached image is still judged as it would be served, an uncached one is refused', async () => {
    await registry.stop({ keepRootDir: false });
    tender.advance(60 * 60_000);
    const cached = await post(tender.url, imagepolicy, imageReview(['nginx:1.27']));
    expect(cached.body.status).toEqual({ allowed: true });
    const uncached = await post(tender.url, imagepolicy, imageReview(['ghcr.io/org/migrate:9.9']));
    expect(uncached.body.status).toMatchObject({ allowed: false });
    expect(uncached.body.status.reason).toContain('ghcr.io/org/migrate:9.9 could not be judged');
    expect(uncached.body.status.reason).toContain('refused while undecided');
  });
});
